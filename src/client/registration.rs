//! The result of a registration, and the handle that manages it (RFC 7592).

use std::ops::Deref;

use http::{Method, StatusCode};
use serde_json::{Map, Value};
use url::Url;

use super::config::{HttpOptions, metadata_object};
use super::error::ClientError;
use super::transport::{Http, Reply, Target};
use crate::credentials::Secret;
use crate::metadata::ClientMetadata;

/// A client information response (RFC 7591 §3.2.1, RFC 7592 §3): the
/// credentials the server issued and the metadata it registered.
///
/// Secrets are [`Secret`]s, so `Debug` prints `[redacted]` for them.
#[derive(Clone, Debug, Default)]
pub struct ClientInformation {
    /// `client_id`: the client identifier.
    pub client_id: String,
    /// `client_id_issued_at`: when the identifier was issued, in seconds since
    /// the Unix epoch.
    pub client_id_issued_at: Option<u64>,
    /// `client_secret`, when the auth method uses one.
    pub client_secret: Option<Secret>,
    /// `client_secret_expires_at`: seconds since the Unix epoch, `0` when the
    /// secret never expires; always present with a `client_secret`.
    pub client_secret_expires_at: Option<u64>,
    /// `registration_client_uri`: where the registration is read, updated and
    /// deleted (RFC 7592).
    pub registration_client_uri: Option<String>,
    /// `registration_access_token`: the bearer token for those calls (RFC 7592).
    pub registration_access_token: Option<Secret>,
    /// Every registered metadata member, as the server returned it.
    pub metadata: ClientMetadata,
}

impl ClientInformation {
    /// Whether the client secret never expires (`client_secret_expires_at` is
    /// `0`, RFC 7591 §3.2.1).
    pub fn client_secret_never_expires(&self) -> bool {
        self.client_secret_expires_at == Some(0)
    }

    /// Reads a client information response body.
    pub(super) fn from_response(body: &[u8]) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidResponse(reason.to_owned());
        let value: Value =
            serde_json::from_slice(body).map_err(|_| invalid("the body is not JSON"))?;
        let Value::Object(mut object) = value else {
            return Err(invalid("the body is not a JSON object"));
        };
        let client_id = match object.remove("client_id") {
            Some(Value::String(id)) if !id.is_empty() => id,
            Some(_) => return Err(invalid("client_id is not a non-empty string")),
            None => return Err(invalid("no client_id (RFC 7591 §3.2.1)")),
        };
        let client_secret = string(&mut object, "client_secret")?.map(Secret::new);
        let client_id_issued_at = seconds(&mut object, "client_id_issued_at")?;
        let client_secret_expires_at = seconds(&mut object, "client_secret_expires_at")?;
        if client_secret.is_some() && client_secret_expires_at.is_none() {
            return Err(invalid(
                "a client_secret without client_secret_expires_at (RFC 7591 §3.2.1)",
            ));
        }
        let registration_access_token =
            string(&mut object, "registration_access_token")?.map(Secret::new);
        let registration_client_uri = string(&mut object, "registration_client_uri")?;
        let metadata = ClientMetadata::from_json_object(object)
            .map_err(|e| ClientError::InvalidResponse(format!("invalid client metadata: {e}")))?;
        Ok(Self {
            client_id,
            client_id_issued_at,
            client_secret,
            client_secret_expires_at,
            registration_client_uri,
            registration_access_token,
            metadata,
        })
    }
}

/// A string member; `null` counts as absent.
fn string(object: &mut Map<String, Value>, name: &str) -> Result<Option<String>, ClientError> {
    match object.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ClientError::InvalidResponse(format!(
            "{name} is not a string"
        ))),
    }
}

/// A time in seconds since the Unix epoch; `null` counts as absent.
fn seconds(object: &mut Map<String, Value>, name: &str) -> Result<Option<u64>, ClientError> {
    match object.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64()),
        Some(_) => Err(ClientError::InvalidResponse(format!(
            "{name} is not a non-negative integer number of seconds"
        ))),
    }
}

/// A registered client: its [`ClientInformation`] (through `Deref`) and the
/// means to read, update and delete the registration (RFC 7592).
///
/// [`update`](Self::update) takes `&mut self` and keeps whatever the server
/// returns: a rotated registration access token, a new client secret. The
/// handle therefore always holds the current token; persist
/// [`information`](Self::information) after every call if the registration must
/// outlive the process, and rebuild the handle with
/// [`from_information`](Self::from_information).
///
/// If an update's answer is lost (timeout, connection reset) after the server
/// rotated the token, the handle still holds the old one, which no longer
/// works: the server's rotation policy decides whether such a client can
/// recover.
#[derive(Clone, Debug)]
pub struct ClientRegistration {
    information: ClientInformation,
    http: Http,
}

impl Deref for ClientRegistration {
    type Target = ClientInformation;

    fn deref(&self) -> &ClientInformation {
        &self.information
    }
}

impl ClientRegistration {
    pub(super) fn new(information: ClientInformation, http: Http) -> Self {
        Self { information, http }
    }

    /// Rebuilds a handle from stored information (at least `client_id`,
    /// `registration_client_uri` and `registration_access_token` for the RFC 7592
    /// calls).
    pub fn from_information(
        information: ClientInformation,
        options: HttpOptions,
    ) -> Result<Self, ClientError> {
        Ok(Self::new(information, Http::new(options)?))
    }

    /// The current client information.
    pub fn information(&self) -> &ClientInformation {
        &self.information
    }

    /// The client information, giving up the handle.
    pub fn into_information(self) -> ClientInformation {
        self.information
    }

    /// The HTTP options this handle uses.
    pub fn http_options(&self) -> &HttpOptions {
        self.http.options()
    }

    /// Reads the registration (RFC 7592 §2.1, `GET` with the registration
    /// access token, `200 OK`) and keeps what the server returns.
    pub async fn read(&mut self) -> Result<(), ClientError> {
        let (url, token) = self.management()?;
        let reply = self.http.send(Method::GET, url, Some(&token), None).await?;
        self.absorb(reply)
    }

    /// Replaces the registered metadata (RFC 7592 §2.2, `PUT`, `200 OK`).
    ///
    /// Sends every member of `metadata` plus `client_id`, and never
    /// `registration_access_token`, `registration_client_uri`,
    /// `client_secret_expires_at` or `client_id_issued_at` (nor `client_secret`).
    /// Afterwards the handle holds what the server returned: the registered
    /// metadata, a rotated registration access token, a new client secret. On
    /// error the handle is unchanged.
    pub async fn update(&mut self, metadata: ClientMetadata) -> Result<(), ClientError> {
        let (url, token) = self.management()?;
        let mut body = metadata_object(&metadata);
        body.insert(
            "client_id".into(),
            Value::String(self.information.client_id.clone()),
        );
        let reply = self
            .http
            .send(Method::PUT, url, Some(&token), Some(body))
            .await?;
        self.absorb(reply)
    }

    /// Deletes the registration (RFC 7592 §2.3, `DELETE`, `204 No Content`).
    /// The registration access token stops working; the handle is kept so that
    /// a failed attempt can be retried.
    pub async fn delete(&self) -> Result<(), ClientError> {
        let (url, token) = self.management()?;
        let reply = self
            .http
            .send(Method::DELETE, url, Some(&token), None)
            .await?;
        reply.expect_status(&[StatusCode::NO_CONTENT])
    }

    fn management(&self) -> Result<(Url, Secret), ClientError> {
        let (Some(uri), Some(token)) = (
            &self.information.registration_client_uri,
            &self.information.registration_access_token,
        ) else {
            return Err(ClientError::ManagementUnavailable);
        };
        let url = self.http.check_url(uri, Target::FromServer)?;
        Ok((url, token.clone()))
    }

    /// Takes in a `200 OK` client information response. Members the server
    /// leaves out keep their values, except a client secret the registered auth
    /// method no longer uses.
    fn absorb(&mut self, reply: Reply) -> Result<(), ClientError> {
        reply.expect_status(&[StatusCode::OK])?;
        let mut next = ClientInformation::from_response(&reply.body)?;
        let current = &self.information;
        if next.client_id != current.client_id {
            return Err(ClientError::InvalidResponse(
                "the response is for another client_id".into(),
            ));
        }
        let still_has_secret = next.client_secret_expires_at.is_some()
            || next.metadata.auth_method().uses_client_secret();
        if next.client_secret.is_none() && still_has_secret {
            next.client_secret = current.client_secret.clone();
            next.client_secret_expires_at = next
                .client_secret_expires_at
                .or(current.client_secret_expires_at);
        }
        next.client_id_issued_at = next.client_id_issued_at.or(current.client_id_issued_at);
        next.registration_access_token = next
            .registration_access_token
            .or_else(|| current.registration_access_token.clone());
        next.registration_client_uri = next
            .registration_client_uri
            .or_else(|| current.registration_client_uri.clone());
        self.information = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<ClientInformation, ClientError> {
        ClientInformation::from_response(value.to_string().as_bytes())
    }

    #[test]
    fn a_client_information_response_is_read_with_its_metadata() {
        let info = parse(json!({
            "client_id": "c1",
            "client_secret": "s3cr3t-value",
            "client_id_issued_at": 1_700_000_000u64,
            "client_secret_expires_at": 0,
            "registration_access_token": "r4t-value",
            "registration_client_uri": "https://a.example/register/c1",
            "client_name": "App",
            "redirect_uris": ["https://app.example/cb"],
        }))
        .unwrap();
        assert_eq!(info.client_id, "c1");
        assert_eq!(
            info.client_secret.as_ref().unwrap().secret(),
            "s3cr3t-value"
        );
        assert!(info.client_secret_never_expires());
        assert_eq!(info.client_id_issued_at, Some(1_700_000_000));
        assert_eq!(info.metadata.client_name.get(), Some("App"));
        assert!(info.metadata.extensions.is_empty());
        let debug = format!("{info:?}");
        assert!(!debug.contains("s3cr3t-value") && !debug.contains("r4t-value"));
    }

    #[test]
    fn rfc7591_3_2_1_a_client_id_is_required() {
        let err = parse(json!({"client_name": "App"})).unwrap_err();
        assert!(
            matches!(&err, ClientError::InvalidResponse(m) if m.contains("client_id")),
            "{err:?}"
        );
    }

    #[test]
    fn rfc7591_3_2_1_a_secret_needs_its_expiry() {
        let err = parse(json!({"client_id": "c1", "client_secret": "s"})).unwrap_err();
        assert!(
            matches!(&err, ClientError::InvalidResponse(m) if m.contains("client_secret_expires_at")),
            "{err:?}"
        );
        // The error never echoes the secret.
        assert!(!err.to_string().contains("\"s\""));
    }

    #[test]
    fn ill_typed_members_and_non_objects_are_invalid() {
        for body in [
            json!(["client_id"]),
            json!({"client_id": 7}),
            json!({"client_id": "c", "client_id_issued_at": "yesterday"}),
            json!({"client_id": "c", "client_id_issued_at": -1}),
            json!({"client_id": "c", "registration_access_token": 5}),
            json!({"client_id": "c", "redirect_uris": "https://app.example/cb"}),
        ] {
            assert!(
                matches!(parse(body.clone()), Err(ClientError::InvalidResponse(_))),
                "{body}"
            );
        }
        assert!(matches!(
            ClientInformation::from_response(b"<html>"),
            Err(ClientError::InvalidResponse(_))
        ));
    }
}
