//! Request parameters of the authorization and token endpoints
//! (`application/x-www-form-urlencoded`, RFC 6749 Appendix B).

use std::collections::HashMap;

use url::form_urlencoded;

/// Parsed parameters. A parameter sent without a value counts as omitted
/// (RFC 6749 §3.1); one sent twice is remembered, as the request is then
/// invalid (RFC 6749 §3.1, §3.2).
#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, String>,
    repeated: Vec<String>,
}

impl Params {
    /// Parses a query string or form body.
    pub fn parse(input: &[u8]) -> Self {
        let mut params = Self::default();
        for (name, value) in form_urlencoded::parse(input) {
            if value.is_empty() {
                continue;
            }
            if params.values.contains_key(name.as_ref()) {
                params.repeated.push(name.into_owned());
            } else {
                params.values.insert(name.into_owned(), value.into_owned());
            }
        }
        params
    }

    /// The value of `name`, if sent once.
    pub fn get(&self, name: &str) -> Option<&str> {
        if self.is_repeated(name) {
            return None;
        }
        self.values.get(name).map(String::as_str)
    }

    /// Whether `name` was sent more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }

    /// The first parameter sent more than once, if any.
    pub fn first_repeated(&self) -> Option<&str> {
        self.repeated.first().map(String::as_str)
    }
}
