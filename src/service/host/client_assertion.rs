//! JWT client authentication (RFC 7523 §2.2) inside `authenticate_client`.

use super::ClientAuthError;
use crate::credentials::Secret;
use crate::service::Registration;
use crate::store::ClientRecord;

impl Registration {
    /// Verifies a client assertion for `record`. Every failure is
    /// `invalid_client`; the reason goes to the log only.
    pub(crate) async fn verify_client_assertion(
        &self,
        record: &ClientRecord,
        assertion: &Secret,
    ) -> Result<(), ClientAuthError> {
        #[cfg(feature = "client-assertion")]
        if let Some(verifier) = &self.config().assertions {
            use crate::client_assertion::AssertionFailure;
            let accepted = self
                .profile_of(record)
                .map(|p| p.token_endpoint_auth_signing_algs())
                .unwrap_or_default();
            let replay = self.store().assertion_replay();
            return match verifier
                .verify(
                    record,
                    &accepted,
                    assertion.secret(),
                    replay,
                    crate::time::now(),
                )
                .await
            {
                Ok(verified) => {
                    if verified.keys_changed {
                        self.config().emit(
                            crate::events::EventKind::KeysChanged,
                            crate::events::Operation::Authenticate,
                            None,
                            Some(record),
                            None,
                        );
                    }
                    Ok(())
                }
                Err(AssertionFailure::Invalid(reason)) => {
                    tracing::info!(client_id = %record.client_id, reason, "client assertion refused");
                    Err(ClientAuthError::InvalidClient)
                }
                Err(AssertionFailure::Store(error)) => Err(ClientAuthError::Store(
                    super::client_auth::store_failed(error, "client assertion replay check"),
                )),
            };
        }
        let _ = (record, assertion);
        tracing::info!(
            client_id = %record.client_id,
            reason = "client assertions are not configured",
            "client assertion refused"
        );
        Err(ClientAuthError::InvalidClient)
    }
}
