//! The HTML pages: consent and error. Every value that comes from a client or a
//! request is written through [`Escape`]; URLs go in attributes only after
//! [`link_target`] or [`logo_source`] accepted them. Every page's CSP says
//! where its forms may post (`form-action`).

use std::fmt::{self, Display, Write as _};

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use url::{Host, Url};

/// Writes text escaped for HTML content and quoted attribute values.
pub struct Escape<'a>(pub &'a str);

impl Display for Escape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#x27;")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// `url` if it may be a link target: an absolute `http` or `https` URL (never
/// `javascript:` or `data:`, whatever registration let through).
pub fn link_target(url: &str) -> Option<&str> {
    let parsed = Url::parse(url).ok()?;
    matches!(parsed.scheme(), "https" | "http").then_some(url)
}

/// `url` if it may be an image source: an `https` URL on a domain name, never
/// on `localhost` or an IP address. The user's browser loads the logo before
/// the user decides anything, so the logo must not make it call a service on
/// the user's own machine or network (plain http would also let the network
/// swap the logo). URL clients get no logo at all (see [`Consent::logo_uri`]).
pub fn logo_source(url: &str) -> Option<&str> {
    let parsed = Url::parse(url).ok()?;
    let domain = match parsed.host() {
        Some(Host::Domain(d)) => d,
        _ => return None,
    };
    let local = domain.eq_ignore_ascii_case("localhost")
        || domain.to_ascii_lowercase().ends_with(".localhost");
    (parsed.scheme() == "https" && !local).then_some(url)
}

/// The CSP `form-action` sources of a consent page whose answer goes to
/// `redirect_uri`: this server, and the redirect URI's origin (browsers apply
/// `form-action` to the redirect that follows the form's submission), or its
/// scheme for a private-use scheme (RFC 8252 §7.1).
pub fn form_action(redirect_uri: &str) -> String {
    let mut sources = "'self'".to_owned();
    if let Ok(url) = Url::parse(redirect_uri) {
        let origin = url.origin();
        if origin.is_tuple() {
            sources.push(' ');
            sources.push_str(&origin.ascii_serialization());
        } else if url
            .scheme()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            sources.push(' ');
            sources.push_str(url.scheme());
            sources.push(':');
        }
    }
    sources
}

/// What the consent page shows, already localized.
pub struct Consent<'a> {
    pub client_id: &'a str,
    pub client_name: Option<&'a str>,
    /// `None` for URL clients: their document's author would learn who
    /// looks at the consent page, and when, before the user decides
    /// (draft-ietf-oauth-client-id-metadata-document, "Displaying Logos").
    pub logo_uri: Option<&'a str>,
    pub client_uri: Option<&'a str>,
    pub tos_uri: Option<&'a str>,
    pub policy_uri: Option<&'a str>,
    pub scopes: Vec<&'a str>,
    pub redirect_uri: &'a str,
    /// The nonce binding the form to the pending request.
    pub nonce: &'a str,
    /// The browser's consent token, repeated from its cookie
    /// (`authorize::browser`).
    pub csrf: &'a str,
    /// The user (this example has one demo user and no login).
    pub user: &'a str,
    /// For a URL client, the host of its `client_id` (shown prominently).
    pub client_host: Option<&'a str>,
    /// Every redirect URI is on loopback: any program on the machine could be
    /// this client.
    pub loopback_only: bool,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#1b1b1b}\
.logo{width:64px;height:64px;object-fit:contain;float:right}\
.warning{background:#fff4ce;border:1px solid #e0b400;padding:.6rem .8rem;border-radius:6px}\
.url{color:#555;font-size:.85em;word-break:break-all}\
code{word-break:break-all}\
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.6rem}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head>\n<body><main>\n{body}</main></body></html>\n",
        Escape(title)
    )
}

/// The consent page: who asks, for what, where the answer goes, and a warning
/// that the client described itself.
pub fn consent_page(c: &Consent<'_>) -> String {
    let mut body = String::new();
    if let Some(logo) = c.logo_uri.and_then(logo_source) {
        let _ = writeln!(
            body,
            "<img class=\"logo\" src=\"{}\" alt=\"\" referrerpolicy=\"no-referrer\">",
            Escape(logo)
        );
    }
    let name = c.client_name.unwrap_or("An unnamed application");
    let _ = writeln!(
        body,
        "<h1><span class=\"client-name\">{}</span> wants to access your account</h1>",
        Escape(name)
    );
    if let Some(host) = c.client_host {
        let _ = writeln!(
            body,
            "<p class=\"client-host\">Application published at <strong>{}</strong></p>",
            Escape(host)
        );
    }
    if c.loopback_only {
        body.push_str(
            "<p class=\"warning\" role=\"note\"><strong>Local application.</strong> It will \
receive your authorization on this computer only (a loopback address): make sure you started \
it yourself.</p>\n",
        );
    }
    let _ = writeln!(
        body,
        "<p>Signed in as <b>{}</b> (this example server has a single demo user and no login).</p>",
        Escape(c.user)
    );
    body.push_str(
        "<p class=\"warning\" role=\"note\"><strong>Not verified.</strong> The name, logo and \
links on this page were supplied by the application itself when it registered. This server \
has not checked them: an application can claim any name. Allow access only if you started \
this from an application you trust.</p>\n",
    );
    body.push_str("<h2>Requested access</h2>\n<ul class=\"scopes\">\n");
    if c.scopes.is_empty() {
        body.push_str("<li>No specific scope (the application's default access)</li>\n");
    }
    for scope in &c.scopes {
        let _ = writeln!(body, "<li><code>{}</code></li>", Escape(scope));
    }
    body.push_str("</ul>\n<h2>About the application</h2>\n<ul class=\"links\">\n");
    let links = [
        ("Home page", c.client_uri),
        ("Terms of service", c.tos_uri),
        ("Privacy policy", c.policy_uri),
    ];
    for (label, url) in links {
        let Some(url) = url else { continue };
        match link_target(url) {
            Some(href) => {
                let _ = writeln!(
                    body,
                    "<li><a href=\"{}\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">{label}</a> \
<span class=\"url\">{}</span></li>",
                    Escape(href),
                    Escape(href)
                );
            }
            None => {
                let _ = writeln!(
                    body,
                    "<li>{label}: <span class=\"url\">{}</span></li>",
                    Escape(url)
                );
            }
        }
    }
    let _ = writeln!(
        body,
        "<li>Client ID: <code>{}</code></li>\n</ul>",
        Escape(c.client_id)
    );
    let _ = writeln!(
        body,
        "<p>Whatever you decide, you will be sent back to <code class=\"redirect-uri\">{}</code>.</p>",
        Escape(c.redirect_uri)
    );
    let _ = writeln!(
        body,
        "<form method=\"post\" action=\"/authorize\">\n\
<input type=\"hidden\" name=\"nonce\" value=\"{}\">\n\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
<button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\n\
<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n</form>",
        Escape(c.nonce),
        Escape(c.csrf)
    );
    page(&format!("Authorize {name}"), &body)
}

/// An error page for a request that cannot be sent back to the client.
pub fn error_page(title: &str, detail: &str) -> String {
    let body = format!(
        "<h1>{}</h1>\n<p class=\"error\">{}</p>\n<p>Go back to the application and try again.</p>\n",
        Escape(title),
        Escape(detail)
    );
    page(title, &body)
}

/// An HTML response that browsers must not cache, frame, or let run scripts,
/// whose forms post nowhere.
pub fn response(status: StatusCode, html: String) -> Response {
    response_with_forms(status, html, "'none'")
}

/// [`response`] for a page whose forms may post to `form_action` (CSP
/// source list; see [`form_action`]).
pub fn response_with_forms(status: StatusCode, html: String, form_action: &str) -> Response {
    let mut response = (status, Html(html)).into_response();
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src https:; \
form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&csp)
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; form-action 'self'")),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An error page response.
pub fn error(status: StatusCode, title: &str, detail: &str) -> Response {
    response(status, error_page(title, detail))
}
