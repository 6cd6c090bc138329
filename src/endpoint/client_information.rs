//! The client information response (RFC 7591 §3.2.1, RFC 7592 §3).

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::store::ClientRecord;

/// A client information response: the credentials that go with this response,
/// then every registered metadata member.
pub(crate) struct InformationResponse<'a> {
    pub(crate) record: &'a ClientRecord,
    /// A client secret to return: newly issued, or held in plaintext
    /// (`client_secret_jwt`).
    pub(crate) client_secret: Option<&'a str>,
    pub(crate) registration_access_token: Option<&'a str>,
    pub(crate) registration_client_uri: Option<&'a str>,
}

impl InformationResponse<'_> {
    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Room for a typical client information response (RFC 7591 §3.2.1).
        let mut out = Vec::with_capacity(1000);
        // Serializing owned strings, numbers and JSON values into a Vec cannot fail.
        let _ = self.serialize(&mut serde_json::Serializer::new(&mut out));
        out
    }
}

impl Serialize for InformationResponse<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.record;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("client_id", &r.client_id)?;
        if let Some(secret) = self.client_secret {
            map.serialize_entry("client_secret", secret)?;
        }
        map.serialize_entry("client_id_issued_at", &r.client_id_issued_at)?;
        if r.client_secret.is_some() {
            map.serialize_entry("client_secret_expires_at", &r.client_secret_expires_at)?;
        }
        if let Some(token) = self.registration_access_token {
            map.serialize_entry("registration_access_token", token)?;
        }
        if let Some(uri) = self.registration_client_uri {
            map.serialize_entry("registration_client_uri", uri)?;
        }
        r.metadata.serialize_members(&mut map)?;
        map.end()
    }
}
