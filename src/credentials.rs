//! Secrets, their digests, and minting from the operating system's CSPRNG.
//!
//! Every credential tower-dcr issues (client secrets, registration access tokens,
//! initial access tokens) is 256 bits from the OS CSPRNG, encoded as unpadded
//! base64url (43 characters). The server keeps only SHA-256 digests of them, and
//! compares digests in constant time: a random 256-bit value needs no slow key
//! derivation function, since there is nothing to guess.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The OS random number generator failed; no credential was minted.
#[derive(Debug, thiserror::Error)]
#[error("the OS random number generator failed: {0}")]
pub struct RandomError(getrandom::Error);

#[cfg(test)]
impl From<getrandom::Error> for RandomError {
    fn from(error: getrandom::Error) -> Self {
        Self(error)
    }
}

/// Number of random bytes in every minted secret (256 bits).
pub(crate) const SECRET_BYTES: usize = 32;

/// Number of random bytes in a `client_secret_jwt` client's secret (512
/// bits): its 86 base64url characters are a key long enough for every HMAC
/// algorithm, HS512 included (RFC 7518 §3.2: at least the hash's size).
pub(crate) const HMAC_SECRET_BYTES: usize = 64;

/// The shortest secret, in bytes, that can key `alg` (a
/// `token_endpoint_auth_signing_alg`; RFC 7518 §3.2): 64 for HS512, 48 for
/// HS384, else 32 (HS256, and the algorithm of a client that registered
/// none).
pub(crate) fn min_hmac_key_len(alg: Option<&str>) -> usize {
    match alg {
        Some("HS512") => 64,
        Some("HS384") => 48,
        _ => 32,
    }
}

/// Number of random bytes in a generated `client_id` (128 bits).
pub(crate) const CLIENT_ID_BYTES: usize = 16;

/// A secret value: a client secret, a registration access token or an initial
/// access token.
///
/// `Debug` prints `Secret([redacted])`, the memory is wiped on drop, and there is
/// no `PartialEq`: compare with [`Secret::ct_eq`], which runs in constant time.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps an existing secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// Mints a new 256-bit secret from the OS CSPRNG, encoded as base64url.
    pub fn generate() -> Result<Self, RandomError> {
        random_base64url::<SECRET_BYTES>().map(Self::new)
    }

    /// The secret value itself.
    ///
    /// Security: hand it only to the party it belongs to; never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The SHA-256 digest under which the server stores this secret.
    pub fn digest(&self) -> SecretDigest {
        SecretDigest::of(self.secret())
    }

    /// Compares with a presented value in constant time (over the digests, so the
    /// time does not depend on where the values differ or on their lengths).
    pub fn ct_eq(&self, presented: &str) -> bool {
        self.digest().verify(presented)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The SHA-256 digest of a secret: what the stores keep instead of the secret.
///
/// Equality is only available in constant time ([`SecretDigest::verify`],
/// [`subtle::ConstantTimeEq`]).
#[derive(Clone, Copy)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    /// Digest of `value`.
    pub fn of(value: &str) -> Self {
        Self(Sha256::digest(value.as_bytes()).into())
    }

    /// Rebuilds a digest read back from storage.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Rebuilds a digest from a slice read back from storage; `None` unless it is
    /// exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The raw digest bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `presented` hashes to this digest, compared in constant time.
    pub fn verify(&self, presented: &str) -> bool {
        bool::from(self.ct_eq(&Self::of(presented)))
    }
}

impl ConstantTimeEq for SecretDigest {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

/// Generates a new `client_id`: 128 bits from the OS CSPRNG, base64url.
pub fn generate_client_id() -> Result<String, RandomError> {
    random_base64url::<CLIENT_ID_BYTES>()
}

fn random_base64url<const N: usize>() -> Result<String, RandomError> {
    let mut bytes = Zeroizing::new([0u8; N]);
    getrandom::fill(bytes.as_mut()).map_err(RandomError)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

/// Random bytes for the credentials of one request (a `client_id`, a client
/// secret, a registration access token), read from the OS CSPRNG in a single
/// call instead of one call each. Every value still gets its own fresh bytes;
/// once the batch is used up, more are read from the OS.
pub(crate) struct Entropy {
    bytes: Zeroizing<[u8; Self::CAPACITY]>,
    next: usize,
    end: usize,
}

impl Entropy {
    const CAPACITY: usize = CLIENT_ID_BYTES + 2 * SECRET_BYTES;

    /// Reads `len` bytes (at most a `client_id` and two secrets' worth) now.
    pub(crate) fn draw(len: usize) -> Result<Self, RandomError> {
        let end = len.min(Self::CAPACITY);
        let mut bytes = Zeroizing::new([0u8; Self::CAPACITY]);
        if end > 0 {
            getrandom::fill(&mut bytes[..end]).map_err(RandomError)?;
        }
        Ok(Self {
            bytes,
            next: 0,
            end,
        })
    }

    /// The bytes for a `client_id` and for `secrets` secrets.
    pub(crate) fn needed(client_id: bool, secrets: usize) -> usize {
        usize::from(client_id) * CLIENT_ID_BYTES + secrets * SECRET_BYTES
    }

    fn base64url<const N: usize>(&mut self) -> Result<String, RandomError> {
        if self.end - self.next < N {
            return random_base64url::<N>();
        }
        let bytes = &self.bytes[self.next..self.next + N];
        self.next += N;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A new 256-bit secret, as [`Secret::generate`].
    pub(crate) fn secret(&mut self) -> Result<Secret, RandomError> {
        self.base64url::<SECRET_BYTES>().map(Secret::new)
    }

    /// A new 512-bit secret for a `client_secret_jwt` client
    /// ([`HMAC_SECRET_BYTES`]).
    pub(crate) fn hmac_secret(&mut self) -> Result<Secret, RandomError> {
        self.base64url::<HMAC_SECRET_BYTES>().map(Secret::new)
    }

    /// A new 128-bit `client_id`, as [`generate_client_id`].
    pub(crate) fn client_id(&mut self) -> Result<String, RandomError> {
        self.base64url::<CLIENT_ID_BYTES>()
    }
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
/// (RFC 6750 §2.1).
pub(crate) fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_256_bit_base64url_and_distinct() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_eq!(a.secret().len(), 43);
        let decoded = URL_SAFE_NO_PAD.decode(a.secret()).unwrap();
        assert_eq!(decoded.len(), SECRET_BYTES);
        assert!(!a.ct_eq(b.secret()));
    }

    #[test]
    fn client_ids_carry_128_bits() {
        let id = generate_client_id().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&id).unwrap().len(), CLIENT_ID_BYTES);
    }

    #[test]
    fn entropy_hands_out_distinct_values_then_reads_more() {
        let mut entropy = Entropy::draw(Entropy::needed(true, 1)).unwrap();
        let id = entropy.client_id().unwrap();
        let a = entropy.secret().unwrap();
        // Used up: the next ones come from a new read.
        let b = entropy.secret().unwrap();
        let id2 = entropy.client_id().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&id).unwrap().len(), CLIENT_ID_BYTES);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(a.secret()).unwrap().len(),
            SECRET_BYTES
        );
        assert_eq!(
            URL_SAFE_NO_PAD.decode(b.secret()).unwrap().len(),
            SECRET_BYTES
        );
        assert_ne!(id, id2);
        assert!(!a.ct_eq(b.secret()));
        let mut none = Entropy::draw(0).unwrap();
        assert_eq!(none.secret().unwrap().secret().len(), 43);
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert!(!format!("{:?}", s.digest()).contains("hunter2"));
    }

    #[test]
    fn digest_verifies_only_the_same_value() {
        let s = Secret::new("abc");
        assert!(s.digest().verify("abc"));
        assert!(!s.digest().verify("abd"));
        assert!(!s.digest().verify(""));
        assert!(s.ct_eq("abc"));
    }
}
