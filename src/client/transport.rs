//! One place where requests leave: the https rule, headers, timeouts, no
//! redirects, bounded bodies, and the mapping of answers to errors.

use std::fmt;

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value};
use url::Url;
use zeroize::Zeroizing;

use super::config::HttpOptions;
use super::error::ClientError;
use crate::credentials::Secret;
use crate::metadata::redirect_uri::is_loopback;

/// Largest response body read (1 MiB); registration answers are a few KiB.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Longest `error` or `error_description` kept from a server's answer.
const MAX_ERROR_TEXT: usize = 512;

/// Where a URL comes from, which decides the error a malformed one becomes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Target {
    /// Given by the caller: an issuer, an explicit endpoint.
    Configured,
    /// Returned by the server: a discovered endpoint, a `registration_client_uri`.
    FromServer,
}

/// The HTTP client with the caller's options.
#[derive(Clone)]
pub(super) struct Http {
    client: reqwest::Client,
    options: HttpOptions,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.options.fmt(f)
    }
}

/// A response read in full.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: StatusCode,
    headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Http {
    pub(super) fn new(options: HttpOptions) -> Result<Self, ClientError> {
        let timeout = options.timeout();
        if timeout.is_zero() {
            return Err(ClientError::InvalidConfig(
                "connection_timeout must be more than zero".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("tower-dcr/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ClientError::InvalidConfig(format!("the HTTP client cannot start: {e}"))
            })?;
        Ok(Self { client, options })
    }

    pub(super) fn options(&self) -> &HttpOptions {
        &self.options
    }

    /// Parses `url` and applies the https rule: plain http only to loopback
    /// hosts, or anywhere with the caller's explicit opt-in.
    pub(super) fn check_url(&self, url: &str, target: Target) -> Result<Url, ClientError> {
        let invalid = |problem: &str| match target {
            Target::Configured => ClientError::InvalidConfig(format!("{url}: {problem}")),
            Target::FromServer => ClientError::InvalidResponse(format!("{url}: {problem}")),
        };
        let parsed = Url::parse(url).map_err(|_| invalid("not an absolute URL"))?;
        let Some(host) = parsed.host() else {
            return Err(invalid("the URL has no host"));
        };
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if is_loopback(&host) || self.options.allows_insecure_http() => Ok(parsed),
            "http" => Err(ClientError::InsecureUrl(url.to_owned())),
            _ => Err(invalid("the scheme must be https")),
        }
    }

    /// Sends one request: the caller's custom headers, then `Accept`, the JSON
    /// body, and the bearer token, which the custom headers cannot replace.
    pub(super) async fn send(
        &self,
        method: Method,
        url: Url,
        bearer: Option<&Secret>,
        body: Option<Map<String, Value>>,
    ) -> Result<Reply, ClientError> {
        let mut headers = self.options.headers().clone();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(token) = bearer {
            let credentials = Zeroizing::new(format!("Bearer {}", token.secret()));
            let mut value = HeaderValue::from_str(&credentials).map_err(|_| {
                ClientError::InvalidConfig(
                    "a bearer token holds characters not allowed in an HTTP header".into(),
                )
            })?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        let mut request = self.client.request(method, url.clone());
        if let Some(body) = body {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            request = request.body(Value::Object(body).to_string());
        }
        let response = request
            .headers(headers)
            .send()
            .await
            .map_err(|e| self.transport_error(&url, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self.read_body(&url, response).await?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    async fn read_body(
        &self,
        url: &Url,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, ClientError> {
        let too_large = || {
            ClientError::InvalidResponse(format!(
                "the response body exceeds {MAX_RESPONSE_BYTES} bytes"
            ))
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(url, e))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn transport_error(&self, url: &Url, error: reqwest::Error) -> ClientError {
        let url = url.as_str().to_owned();
        if error.is_timeout() {
            ClientError::Timeout {
                url,
                timeout: self.options.timeout(),
            }
        } else {
            ClientError::Network {
                url,
                source: Box::new(error.without_url()),
            }
        }
    }
}

impl Reply {
    /// `Ok` for one of the `expected` statuses. Any other success is an invalid
    /// response; an error status becomes [`ClientError::OAuth`] when the server
    /// explains it, [`ClientError::Status`] when not.
    pub(super) fn expect_status(&self, expected: &[StatusCode]) -> Result<(), ClientError> {
        if expected.contains(&self.status) {
            Ok(())
        } else if self.status.is_success() {
            let expected: Vec<String> = expected.iter().map(StatusCode::to_string).collect();
            Err(ClientError::InvalidResponse(format!(
                "expected HTTP {}, got {}",
                expected.join(" or "),
                self.status
            )))
        } else {
            Err(self.error())
        }
    }

    /// The error this answer carries: a JSON body with an `error` member
    /// (RFC 7591 §3.2.2, RFC 6749 §5.2), else the `error` of a Bearer challenge
    /// (RFC 6750 §3), else the status alone.
    fn error(&self) -> ClientError {
        let status = self.status;
        if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(&self.body)
            && let Some(Value::String(error)) = object.get("error")
        {
            let description = match object.get("error_description") {
                Some(Value::String(d)) => Some(clip(d)),
                _ => None,
            };
            return ClientError::OAuth {
                status,
                error: clip(error),
                error_description: description,
            };
        }
        let challenge = self
            .headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(bearer_challenge_error);
        match challenge {
            Some((error, error_description)) => ClientError::OAuth {
                status,
                error: clip(&error),
                error_description: error_description.as_deref().map(clip),
            },
            None => ClientError::Status { status },
        }
    }
}

fn clip(text: &str) -> String {
    if text.len() <= MAX_ERROR_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The `error` and `error_description` parameters of a `Bearer` challenge
/// (RFC 6750 §3), if it has an `error`.
fn bearer_challenge_error(challenge: &str) -> Option<(String, Option<String>)> {
    let challenge = challenge.trim_start();
    let (scheme, mut rest) = challenge.split_at(challenge.find(' ').unwrap_or(challenge.len()));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let (mut error, mut description) = (None, None);
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            rest = &quoted[end..];
            value
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim().to_owned();
            rest = &rest[end..];
            value
        };
        match name.as_str() {
            "error" => error = Some(value),
            "error_description" => description = Some(value),
            _ => {}
        }
    }
    error.map(|e| (e, description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_yield_their_error() {
        assert_eq!(
            bearer_challenge_error(r#"Bearer error="invalid_token""#),
            Some(("invalid_token".into(), None))
        );
        assert_eq!(
            bearer_challenge_error(
                r#"Bearer realm="x, y", error="invalid_token", error_description="the \"token\" expired""#
            ),
            Some((
                "invalid_token".into(),
                Some(r#"the "token" expired"#.into())
            ))
        );
        assert_eq!(
            bearer_challenge_error("bearer error=insufficient_scope"),
            Some(("insufficient_scope".into(), None))
        );
        assert_eq!(bearer_challenge_error("Bearer"), None);
        assert_eq!(bearer_challenge_error(r#"Bearer realm="api""#), None);
        assert_eq!(bearer_challenge_error(r#"Basic error="x""#), None);
    }

    fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn an_unauthorized_answer_without_body_takes_the_challenge_error() {
        let err = reply(
            401,
            &[("www-authenticate", r#"Bearer error="invalid_token""#)],
            "",
        )
        .expect_status(&[StatusCode::OK])
        .unwrap_err();
        assert!(
            matches!(&err, ClientError::OAuth { status, error, .. } if *status == 401 && error == "invalid_token"),
            "{err:?}"
        );
    }

    #[test]
    fn unexpected_success_is_an_invalid_response_and_errors_keep_their_status() {
        let err = reply(202, &[], "{}")
            .expect_status(&[StatusCode::CREATED, StatusCode::OK])
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::InvalidResponse(m) if m.contains("202")),
            "{err:?}"
        );
        let err = reply(502, &[], "<html>bad gateway</html>")
            .expect_status(&[StatusCode::OK])
            .unwrap_err();
        assert!(matches!(err, ClientError::Status { status } if status == 502));
    }

    #[test]
    fn long_error_texts_are_clipped() {
        let long = "é".repeat(600);
        let err = reply(
            400,
            &[],
            &serde_json::json!({"error": "invalid_client_metadata", "error_description": long})
                .to_string(),
        )
        .expect_status(&[StatusCode::CREATED])
        .unwrap_err();
        let ClientError::OAuth {
            error_description: Some(d),
            ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert!(d.len() <= MAX_ERROR_TEXT + '…'.len_utf8(), "{}", d.len());
    }

    #[test]
    fn only_https_or_loopback_http_is_allowed_by_default() {
        let http = Http::new(HttpOptions::default()).unwrap();
        for ok in [
            "https://auth.example.com/register",
            "http://127.0.0.1:8080/register",
            "http://[::1]:8080/register",
            "http://localhost/register",
            "http://LOCALHOST:1/register",
        ] {
            assert!(http.check_url(ok, Target::Configured).is_ok(), "{ok}");
        }
        for insecure in [
            "http://auth.example.com/register",
            "http://10.0.0.1/register",
        ] {
            assert!(
                matches!(
                    http.check_url(insecure, Target::Configured),
                    Err(ClientError::InsecureUrl(_))
                ),
                "{insecure}"
            );
        }
        assert!(matches!(
            http.check_url("ftp://auth.example.com/", Target::FromServer),
            Err(ClientError::InvalidResponse(_))
        ));
        assert!(matches!(
            http.check_url("/relative", Target::Configured),
            Err(ClientError::InvalidConfig(_))
        ));
        let opted_in =
            Http::new(HttpOptions::default().dangerously_allow_insecure_http_requests(true))
                .unwrap();
        assert!(
            opted_in
                .check_url("http://auth.example.com/register", Target::Configured)
                .is_ok()
        );
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let err = Http::new(HttpOptions::default().connection_timeout(std::time::Duration::ZERO))
            .unwrap_err();
        assert!(matches!(err, ClientError::InvalidConfig(_)), "{err:?}");
    }
}
