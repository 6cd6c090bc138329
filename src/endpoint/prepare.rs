//! From a request body to the metadata that will be stored, shared by
//! registration and update.

use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{RegistrationError, Rejection};
use crate::metadata::ClientMetadata;
use crate::policy::sector_identifier;
use crate::policy::{Profile, RequestContext, enforce};

/// Software statement (its claims override the request's members), forced
/// values and defaults of the profile, typed parsing, extension filter, the
/// rules of the specifications and the profile, the OIDC rules that need the
/// network, then the host's hook and the rules once more on what it returned.
///
/// `accepted_statement` is the software statement the client registered with,
/// on an update.
pub(super) async fn prepare_metadata(
    config: &Config,
    profile: &Profile,
    mut object: Map<String, Value>,
    accepted_statement: Option<&str>,
    context: impl FnOnce() -> RequestContext,
) -> Result<ClientMetadata, Rejection> {
    apply_software_statement(config, &mut object, accepted_statement)?;
    profile.apply_values(&mut object);
    let mut metadata = ClientMetadata::from_json_object(object)?;
    config.keep_configured_extensions(&mut metadata);
    enforce::prepare(&mut metadata, profile, &config.limits)?;
    check_sector_identifier(config, &metadata).await?;
    if let Some(hook) = &config.hook {
        let sector_inputs = |m: &ClientMetadata| {
            (
                m.redirect_uris.clone(),
                m.sector_identifier_uri.clone(),
                m.subject_type,
            )
        };
        let before = sector_inputs(&metadata);
        metadata = hook.review(context(), metadata).await?;
        config.keep_configured_extensions(&mut metadata);
        enforce::prepare(&mut metadata, profile, &config.limits)?;
        // OIDC DCR §5: what the hook added is checked like what the client
        // sent, the sector identifier document fetched again if need be.
        if sector_inputs(&metadata) != before {
            check_sector_identifier(config, &metadata).await?;
        }
    }
    Ok(metadata)
}

/// RFC 7591 §2.3, §3.1.1: with a verifier, a valid statement's claims override
/// the request; without one the statement is ignored and not stored. On an
/// update, the statement the client registered with does not expire
/// (RFC 7592 §2.2 has the client send it back).
fn apply_software_statement(
    config: &Config,
    object: &mut Map<String, Value>,
    accepted: Option<&str>,
) -> Result<(), RegistrationError> {
    #[cfg(feature = "software-statement")]
    if let Some(verifier) = &config.software_statements {
        verifier.apply_to_update(object, crate::time::now(), accepted)?;
        return Ok(());
    }
    let _ = (config, accepted);
    object.remove("software_statement");
    Ok(())
}

/// OIDC DCR §5 and OIDC Core §8.1: pairwise clients with redirect URIs on
/// several hosts need a `sector_identifier_uri`, and that document must list
/// every redirect URI. Without a fetcher it cannot be verified, so it is refused.
async fn check_sector_identifier(
    config: &Config,
    metadata: &ClientMetadata,
) -> Result<(), RegistrationError> {
    #[cfg(feature = "fetch")]
    if let Some(fetcher) = &config.fetcher {
        return sector_identifier::check_sector_identifier(metadata, fetcher.as_ref()).await;
    }
    let _ = config;
    sector_identifier::check_without_fetcher(metadata)
}
