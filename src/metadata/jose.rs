//! The ten JOSE algorithm members of OpenID Connect DCR 1.0 §2, and the one
//! table that drives their parsing, serialization, validation, profiles and
//! discovery.

/// The JOSE algorithms a client registers for ID tokens, userinfo responses,
/// request objects and JWT client authentication (OpenID Connect DCR 1.0 §2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JoseAlgorithms {
    /// `id_token_signed_response_alg` (OIDC DCR §2).
    pub id_token_signed_response_alg: Option<String>,
    /// `id_token_encrypted_response_alg` (OIDC DCR §2).
    pub id_token_encrypted_response_alg: Option<String>,
    /// `id_token_encrypted_response_enc` (OIDC DCR §2).
    pub id_token_encrypted_response_enc: Option<String>,
    /// `userinfo_signed_response_alg` (OIDC DCR §2).
    pub userinfo_signed_response_alg: Option<String>,
    /// `userinfo_encrypted_response_alg` (OIDC DCR §2).
    pub userinfo_encrypted_response_alg: Option<String>,
    /// `userinfo_encrypted_response_enc` (OIDC DCR §2).
    pub userinfo_encrypted_response_enc: Option<String>,
    /// `request_object_signing_alg` (OIDC DCR §2).
    pub request_object_signing_alg: Option<String>,
    /// `request_object_encryption_alg` (OIDC DCR §2).
    pub request_object_encryption_alg: Option<String>,
    /// `request_object_encryption_enc` (OIDC DCR §2).
    pub request_object_encryption_enc: Option<String>,
    /// `token_endpoint_auth_signing_alg` (OIDC DCR §2).
    pub token_endpoint_auth_signing_alg: Option<String>,
}

/// The algorithms of a client that registered none.
pub(crate) static NO_ALGORITHMS: JoseAlgorithms = JoseAlgorithms {
    id_token_signed_response_alg: None,
    id_token_encrypted_response_alg: None,
    id_token_encrypted_response_enc: None,
    userinfo_signed_response_alg: None,
    userinfo_encrypted_response_alg: None,
    userinfo_encrypted_response_enc: None,
    request_object_signing_alg: None,
    request_object_encryption_alg: None,
    request_object_encryption_enc: None,
    token_endpoint_auth_signing_alg: None,
};

/// One of the JOSE algorithm members, in the order of OIDC DCR §2 (the order
/// of [`JOSE_MEMBERS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JoseMember {
    IdTokenSigning,
    IdTokenEncryptionAlg,
    IdTokenEncryptionEnc,
    UserinfoSigning,
    UserinfoEncryptionAlg,
    UserinfoEncryptionEnc,
    RequestObjectSigning,
    RequestObjectEncryptionAlg,
    RequestObjectEncryptionEnc,
    TokenEndpointAuthSigning,
}

/// What the crate knows about one JOSE algorithm member.
#[derive(Debug)]
pub(crate) struct JoseMemberSpec {
    /// Which member.
    pub(crate) member: JoseMember,
    /// The client metadata member (OIDC DCR §2).
    pub(crate) name: &'static str,
    /// The discovery member listing the supported values (OIDC Discovery 1.0
    /// §3, RFC 8414 §2).
    pub(crate) supported: &'static str,
    /// For an `_enc` member: the `_alg` member it needs, and the prefix both
    /// share (for error descriptions).
    pub(crate) needs: Option<(JoseMember, &'static str)>,
}

/// The JOSE algorithm members, in the order of OIDC DCR §2.
pub(crate) const JOSE_MEMBERS: [JoseMemberSpec; 10] = {
    use JoseMember::*;
    const fn spec(
        member: JoseMember,
        name: &'static str,
        supported: &'static str,
        needs: Option<(JoseMember, &'static str)>,
    ) -> JoseMemberSpec {
        JoseMemberSpec {
            member,
            name,
            supported,
            needs,
        }
    }
    [
        spec(
            IdTokenSigning,
            "id_token_signed_response_alg",
            "id_token_signing_alg_values_supported",
            None,
        ),
        spec(
            IdTokenEncryptionAlg,
            "id_token_encrypted_response_alg",
            "id_token_encryption_alg_values_supported",
            None,
        ),
        spec(
            IdTokenEncryptionEnc,
            "id_token_encrypted_response_enc",
            "id_token_encryption_enc_values_supported",
            Some((IdTokenEncryptionAlg, "id_token_encrypted_response")),
        ),
        spec(
            UserinfoSigning,
            "userinfo_signed_response_alg",
            "userinfo_signing_alg_values_supported",
            None,
        ),
        spec(
            UserinfoEncryptionAlg,
            "userinfo_encrypted_response_alg",
            "userinfo_encryption_alg_values_supported",
            None,
        ),
        spec(
            UserinfoEncryptionEnc,
            "userinfo_encrypted_response_enc",
            "userinfo_encryption_enc_values_supported",
            Some((UserinfoEncryptionAlg, "userinfo_encrypted_response")),
        ),
        spec(
            RequestObjectSigning,
            "request_object_signing_alg",
            "request_object_signing_alg_values_supported",
            None,
        ),
        spec(
            RequestObjectEncryptionAlg,
            "request_object_encryption_alg",
            "request_object_encryption_alg_values_supported",
            None,
        ),
        spec(
            RequestObjectEncryptionEnc,
            "request_object_encryption_enc",
            "request_object_encryption_enc_values_supported",
            Some((RequestObjectEncryptionAlg, "request_object_encryption")),
        ),
        spec(
            TokenEndpointAuthSigning,
            "token_endpoint_auth_signing_alg",
            "token_endpoint_auth_signing_alg_values_supported",
            None,
        ),
    ]
};

impl JoseMember {
    /// Whether it names how a response or request object is signed, where an
    /// `HS*` algorithm keys with the client secret (OIDC Core §10.1).
    pub(crate) const fn signs_a_response(self) -> bool {
        use JoseMember::*;
        matches!(
            self,
            IdTokenSigning | UserinfoSigning | RequestObjectSigning
        )
    }

    /// Whether it names the key management algorithm of an encryption, where
    /// a symmetric algorithm derives its key from the client secret (OIDC
    /// Core §10.2).
    pub(crate) const fn manages_an_encryption_key(self) -> bool {
        use JoseMember::*;
        matches!(
            self,
            IdTokenEncryptionAlg | UserinfoEncryptionAlg | RequestObjectEncryptionAlg
        )
    }

    /// The member's position in [`JOSE_MEMBERS`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// The member called `name`, if it is one.
    pub(crate) fn named(name: &str) -> Option<Self> {
        JOSE_MEMBERS
            .iter()
            .find(|spec| spec.name == name)
            .map(|spec| spec.member)
    }
}

impl JoseAlgorithms {
    /// The registered value of one member.
    pub(crate) fn get(&self, member: JoseMember) -> Option<&String> {
        self.slot(member).as_ref()
    }

    fn slot(&self, member: JoseMember) -> &Option<String> {
        use JoseMember::*;
        match member {
            IdTokenSigning => &self.id_token_signed_response_alg,
            IdTokenEncryptionAlg => &self.id_token_encrypted_response_alg,
            IdTokenEncryptionEnc => &self.id_token_encrypted_response_enc,
            UserinfoSigning => &self.userinfo_signed_response_alg,
            UserinfoEncryptionAlg => &self.userinfo_encrypted_response_alg,
            UserinfoEncryptionEnc => &self.userinfo_encrypted_response_enc,
            RequestObjectSigning => &self.request_object_signing_alg,
            RequestObjectEncryptionAlg => &self.request_object_encryption_alg,
            RequestObjectEncryptionEnc => &self.request_object_encryption_enc,
            TokenEndpointAuthSigning => &self.token_endpoint_auth_signing_alg,
        }
    }

    /// The value of one member, to set it.
    pub(crate) fn get_mut(&mut self, member: JoseMember) -> &mut Option<String> {
        use JoseMember::*;
        match member {
            IdTokenSigning => &mut self.id_token_signed_response_alg,
            IdTokenEncryptionAlg => &mut self.id_token_encrypted_response_alg,
            IdTokenEncryptionEnc => &mut self.id_token_encrypted_response_enc,
            UserinfoSigning => &mut self.userinfo_signed_response_alg,
            UserinfoEncryptionAlg => &mut self.userinfo_encrypted_response_alg,
            UserinfoEncryptionEnc => &mut self.userinfo_encrypted_response_enc,
            RequestObjectSigning => &mut self.request_object_signing_alg,
            RequestObjectEncryptionAlg => &mut self.request_object_encryption_alg,
            RequestObjectEncryptionEnc => &mut self.request_object_encryption_enc,
            TokenEndpointAuthSigning => &mut self.token_endpoint_auth_signing_alg,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_member_order_and_every_member_has_its_own_field() {
        let mut a = JoseAlgorithms::default();
        for (i, spec) in JOSE_MEMBERS.iter().enumerate() {
            assert_eq!(spec.member.index(), i, "{}", spec.name);
            assert_eq!(JoseMember::named(spec.name), Some(spec.member));
            *a.get_mut(spec.member) = Some(spec.name.to_owned());
        }
        for spec in &JOSE_MEMBERS {
            assert_eq!(a.get(spec.member).map(String::as_str), Some(spec.name));
        }
    }
}
