//! Optional form fields as the host's form parser hands them out.

/// An optional form field (`client_id`, `client_secret`, `redirect_uri`) as a
/// host's form parser gives it: `Option<&str>`, or a reference to the
/// `Option<String>` of a deserialized form (axum's `Form<T>`, serde).
///
/// ```
/// use http::HeaderMap;
/// use tower_dcr::host::ClientCredentials;
///
/// struct TokenForm { client_id: Option<String>, client_secret: Option<String> }
/// let form = TokenForm { client_id: Some("app".into()), client_secret: Some("s".into()) };
/// let headers = HeaderMap::new();
/// let from_struct = ClientCredentials::from_request(&headers, &form.client_id, &form.client_secret);
/// let from_strs = ClientCredentials::from_request(&headers, Some("app"), None);
/// assert_eq!(from_struct.unwrap().client_id(), from_strs.unwrap().client_id());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a form field this helper reads",
    note = "pass an `Option<&str>` (`Some(id.as_str())`, `field.as_deref()`) or a `&Option<String>`"
)]
pub trait FormField<'a> {
    /// The field's value, if it was sent.
    fn field(self) -> Option<&'a str>;
}

impl<'a> FormField<'a> for Option<&'a str> {
    fn field(self) -> Option<&'a str> {
        self
    }
}

impl<'a> FormField<'a> for &'a Option<String> {
    fn field(self) -> Option<&'a str> {
        self.as_deref()
    }
}
