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

impl RegistrationBuilder {
    /// Checks the configuration; [`build`](Self::build) wraps it in the service.
    #[allow(unused_mut)]
    pub(crate) fn into_config(mut self) -> Result<Config, ConfigError> {
        self.check_root_certificates()?;
        let issuer = parse_issuer(&self.issuer)?;
        let issuer_path = issuer.path().trim_end_matches('/');
        let endpoint = match self.endpoint {
            Some(e) => e,
            None => format!("{issuer_path}/register"),
        };
        if !endpoint.starts_with('/')
            || endpoint.len() < 2
            || endpoint.ends_with('/')
            || endpoint.contains(['?', '#'])
        {
            return Err(ConfigError::InvalidEndpoint(endpoint));
        }
        let access = self.access.ok_or(ConfigError::AccessNotChosen)?;
        for name in &self.extension_members {
            if is_known_member(name)
                || CLIENT_INFORMATION_MEMBERS.contains(&name.as_str())
                || name.contains('#')
            {
                return Err(ConfigError::ReservedExtensionMember(name.clone()));
            }
        }
        #[cfg(feature = "client-id-metadata-document")]
        let url_clients = match self.metadata_documents.take() {
            None => None,
            Some(mut policy) => {
                #[cfg(feature = "client-assertion")]
                policy.fit_default_profile(self.client_assertions.is_some());
                #[cfg(not(feature = "client-assertion"))]
                policy.fit_default_profile(false);
                for (name, profile) in policy.named_profiles() {
                    self.profiles.insert(name, profile.clone());
                }
                Some(
                    crate::metadata_document::UrlClients::new(policy, &issuer)
                        .map_err(ConfigError::InvalidMetadataDocuments)?,
                )
            }
        };
        Self::check_client_authentication(
            &self.profile,
            &self.profiles,
            self.store.as_ref(),
            #[cfg(feature = "client-assertion")]
            self.client_assertions.as_ref(),
        )?;
        #[cfg(feature = "client-assertion")]
        let assertions = match self.client_assertions.take() {
            None => None,
            Some(rules) => {
                #[cfg(feature = "client-id-metadata-document")]
                let shared = url_clients.as_ref().map(|u| u.fetcher());
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
                Some(crate::client_assertion::AssertionVerifier::new(
                    &rules,
                    &self.issuer,
                    fetcher,
                ))
            }
        };
        check_profile(&self.profile)?;
        for profile in self.profiles.values() {
            check_profile(profile)?;
        }
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        if let Access::Protected { static_tokens } = &access {
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
        let origin = issuer.origin().ascii_serialization();
        let registration_endpoint = format!("{origin}{endpoint}");
        #[cfg(feature = "metrics")]
        let store: Arc<dyn ClientStore> = Arc::new(crate::store::metered::MeteredStore(store));
        Ok(Config {
            issuer: self.issuer,
            endpoint,
            registration_endpoint,
            access,
            store,
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
            url_clients,
            #[cfg(feature = "client-assertion")]
            assertions,
        })
    }
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
