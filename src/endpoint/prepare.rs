//! From a request body to the metadata that will be stored, shared by
//! registration and update.

use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::Rejection;
use crate::metadata::{ClientMetadata, validate};
use crate::policy::{Profile, RequestContext};

/// Forced values and defaults of the profile, typed parsing, extension filter,
/// the rules of the specifications and the profile, then the host's hook and
/// the rules once more on what the hook returned.
pub(super) async fn prepare_metadata(
    config: &Config,
    profile: &Profile,
    mut object: Map<String, Value>,
    context: impl FnOnce() -> RequestContext,
) -> Result<ClientMetadata, Rejection> {
    profile.apply_values(&mut object);
    let mut metadata = ClientMetadata::from_json_object(object)?;
    config.keep_configured_extensions(&mut metadata);
    validate::prepare(&mut metadata, profile, &config.limits)?;
    if let Some(hook) = &config.hook {
        metadata = hook.review(context(), metadata).await?;
        config.keep_configured_extensions(&mut metadata);
        validate::prepare(&mut metadata, profile, &config.limits)?;
    }
    Ok(metadata)
}
