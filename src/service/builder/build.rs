//! [`RegistrationBuilder::into_config`]: the checks and choices that turn the
//! collected settings into the runtime [`Config`], once, at `build()`.

use std::sync::Arc;

use url::Url;

use super::{ConfigError, RegistrationBuilder};
use crate::config::{Access, Config};
use crate::metadata::jose::JoseMember;
use crate::metadata::json::{CLIENT_INFORMATION_MEMBERS, is_known_member};
use crate::metadata::redirect_uri::is_loopback;
use crate::policy::Profile;
use crate::store::{ClientStore, MemoryStore};

/// What the checks made of the settings, for [`RegistrationBuilder::finish`].
struct Checked {
    endpoint: String,
    registration_endpoint: String,
    access: Access,
    store: Arc<dyn ClientStore>,
    #[cfg(feature = "client-id-metadata-document")]
    url_clients: Option<crate::metadata_document::UrlClients>,
    #[cfg(feature = "client-assertion")]
    assertions: Option<crate::client_assertion::AssertionVerifier>,
}

impl RegistrationBuilder {
    /// Checks the configuration, in this order, and makes the runtime one;
    /// [`build`](Self::build) wraps it in the service.
    #[allow(unused_mut)]
    pub(crate) fn into_config(mut self) -> Result<Config, ConfigError> {
        self.check_root_certificates()?;
        let issuer = parse_issuer(&self.issuer)?;
        let endpoint = endpoint_path(self.endpoint.take(), &issuer)?;
        let access = self.access.take().ok_or(ConfigError::AccessNotChosen)?;
        check_extension_members(&self.extension_members)?;
        #[cfg(feature = "client-id-metadata-document")]
        let url_clients = self.url_clients(&issuer)?;
        Self::check_client_authentication(
            &self.profile,
            &self.profiles,
            self.store.as_ref(),
            #[cfg(feature = "client-assertion")]
            self.client_assertions.as_ref(),
        )?;
        #[cfg(feature = "client-assertion")]
        let assertions = self.assertion_verifier(
            #[cfg(feature = "client-id-metadata-document")]
            url_clients.as_ref(),
        )?;
        check_profile(&self.profile)?;
        for profile in self.profiles.values() {
            check_profile(profile)?;
        }
        let store = self
            .store
            .take()
            .unwrap_or_else(|| Arc::new(MemoryStore::new()));
        self.check_store_capabilities(&access, store.as_ref())?;
        let registration_endpoint = format!("{}{endpoint}", issuer.origin().ascii_serialization());
        #[cfg(feature = "metrics")]
        let store: Arc<dyn ClientStore> = Arc::new(crate::store::metered::MeteredStore(store));
        Ok(self.finish(Checked {
            endpoint,
            registration_endpoint,
            access,
            store,
            #[cfg(feature = "client-id-metadata-document")]
            url_clients,
            #[cfg(feature = "client-assertion")]
            assertions,
        }))
    }

    /// The URL client policy, fitted to the configuration: its default profile
    /// allows client assertions only when they are configured, and its named
    /// profiles join the builder's.
    #[cfg(feature = "client-id-metadata-document")]
    fn url_clients(
        &mut self,
        issuer: &Url,
    ) -> Result<Option<crate::metadata_document::UrlClients>, ConfigError> {
        let Some(mut policy) = self.metadata_documents.take() else {
            return Ok(None);
        };
        #[cfg(feature = "client-assertion")]
        policy.fit_default_profile(self.client_assertions.is_some());
        #[cfg(not(feature = "client-assertion"))]
        policy.fit_default_profile(false);
        for (name, profile) in policy.named_profiles() {
            self.profiles.insert(name, profile.clone());
        }
        crate::metadata_document::UrlClients::new(policy, issuer)
            .map(Some)
            .map_err(ConfigError::InvalidMetadataDocuments)
    }

    /// The client assertion verifier, with its fetcher of `jwks_uri`: the one
    /// configured, else the URL clients' (when no extra CA is asked for), else
    /// a guarded fetcher of its own.
    #[cfg(feature = "client-assertion")]
    fn assertion_verifier(
        &mut self,
        #[cfg(feature = "client-id-metadata-document")] url_clients: Option<
            &crate::metadata_document::UrlClients,
        >,
    ) -> Result<Option<crate::client_assertion::AssertionVerifier>, ConfigError> {
        let Some(rules) = self.client_assertions.take() else {
            return Ok(None);
        };
        #[cfg(feature = "client-id-metadata-document")]
        let shared = url_clients.map(|u| u.fetcher());
        #[cfg(not(feature = "client-id-metadata-document"))]
        let shared = None;
        let fetcher = match (&rules.fetcher, shared) {
            (Some(fetcher), _) => Arc::clone(fetcher),
            (None, Some(fetcher)) if rules.root_certificates.is_empty() => fetcher,
            (None, _) => {
                let mut builder = crate::fetch::GuardedFetcher::builder();
                for pem in &rules.root_certificates {
                    builder = builder.add_root_certificate_pem(pem.clone());
                }
                Arc::new(
                    builder
                        .build()
                        .map_err(|e| ConfigError::InvalidClientAssertions(e.to_string()))?,
                )
            }
        };
        Ok(Some(crate::client_assertion::AssertionVerifier::new(
            &rules,
            &self.issuer,
            fetcher,
        )))
    }

    /// What the access mode and the quotas need of the store, and the static
    /// tokens' own rules: a missing capability is refused here, never answered
    /// `503` later.
    fn check_store_capabilities(
        &self,
        access: &Access,
        store: &dyn ClientStore,
    ) -> Result<(), ConfigError> {
        if let Access::Protected { static_tokens } = access {
            if static_tokens.is_empty() && store.initial_access_tokens().is_none() {
                return Err(ConfigError::NoInitialAccessTokens);
            }
            for token in static_tokens {
                if !token.well_formed {
                    return Err(ConfigError::InvalidInitialAccessToken(token.id.clone()));
                }
                if let Some(name) = &token.profile
                    && !self.profiles.contains_key(name)
                {
                    return Err(ConfigError::UnknownProfile(name.clone()));
                }
            }
        }
        if !self.quotas.is_empty() && store.lifecycle().is_none() {
            return Err(ConfigError::QuotasNeedLifecycle);
        }
        Ok(())
    }

    /// The runtime configuration: the checked values and the settings as
    /// given.
    fn finish(self, checked: Checked) -> Config {
        Config {
            issuer: self.issuer,
            endpoint: checked.endpoint,
            registration_endpoint: checked.registration_endpoint,
            access: checked.access,
            store: checked.store,
            profile: self.profile,
            profiles: self.profiles,
            hook: self.hook,
            limits: self.limits,
            extension_members: self.extension_members.into_iter().collect(),
            issue_registration_access_token: self.issue_registration_access_token,
            rat_rotation: self.rat_rotation,
            rat_grace: self.rat_grace,
            quota_lock: tokio::sync::Mutex::new(()),
            rotate_client_secret_on_update: self.rotate_client_secret_on_update,
            client_id_generator: self.client_id_generator,
            quotas: self.quotas,
            last_used_interval: self.last_used_interval,
            events: self.events,
            peer_address: self.peer_address,
            server_kind: self.server_kind,
            #[cfg(feature = "rate-limit")]
            rate_limiter: self
                .rate_limit
                .and_then(crate::rate_limit::RateLimiter::new),
            #[cfg(feature = "software-statement")]
            software_statements: self.software_statements,
            #[cfg(feature = "fetch")]
            fetcher: self.fetcher,
            #[cfg(feature = "client-id-metadata-document")]
            url_clients: checked.url_clients,
            #[cfg(feature = "client-assertion")]
            assertions: checked.assertions,
        }
    }
}

/// The endpoint path: the one configured, or the issuer's path followed by
/// `/register`; an absolute path without query or fragment.
fn endpoint_path(configured: Option<String>, issuer: &Url) -> Result<String, ConfigError> {
    let endpoint =
        configured.unwrap_or_else(|| format!("{}/register", issuer.path().trim_end_matches('/')));
    if !endpoint.starts_with('/')
        || endpoint.len() < 2
        || endpoint.ends_with('/')
        || endpoint.contains(['?', '#'])
    {
        return Err(ConfigError::InvalidEndpoint(endpoint));
    }
    Ok(endpoint)
}

/// An extension member may not be a standard member, a member of the client
/// information response, or a language-tagged name.
fn check_extension_members(names: &[String]) -> Result<(), ConfigError> {
    for name in names {
        if is_known_member(name)
            || CLIENT_INFORMATION_MEMBERS.contains(&name.as_str())
            || name.contains('#')
        {
            return Err(ConfigError::ReservedExtensionMember(name.clone()));
        }
    }
    Ok(())
}

fn parse_issuer(issuer: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(issuer).map_err(|_| ConfigError::InvalidIssuer(issuer.to_owned()))?;
    if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
        return Err(ConfigError::InvalidIssuer(issuer.to_owned()));
    }
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => Ok(url),
        ("http", Some(host)) if is_loopback(&host) => Ok(url),
        ("http", Some(_)) => Err(ConfigError::InsecureIssuer),
        _ => Err(ConfigError::InvalidIssuer(issuer.to_owned())),
    }
}

fn check_profile(profile: &Profile) -> Result<(), ConfigError> {
    if !profile
        .token_endpoint_auth_methods
        .contains(&profile.default_token_endpoint_auth_method)
    {
        return Err(ConfigError::InvalidProfile(format!(
            "the default token_endpoint_auth_method {} is not among the allowed methods",
            profile.default_token_endpoint_auth_method
        )));
    }
    if profile
        .algorithms
        .allowed(JoseMember::TokenEndpointAuthSigning)
        .iter()
        .any(|a| a == "none")
    {
        return Err(ConfigError::InvalidProfile(
            "token_endpoint_auth_signing_alg must never be \"none\"".into(),
        ));
    }
    if let Some(default) = profile.default_subject_type
        && !profile.subject_types.contains(&default)
    {
        return Err(ConfigError::InvalidProfile(format!(
            "the default subject_type {} is not among the supported subject types",
            default.as_str()
        )));
    }
    Ok(())
}
