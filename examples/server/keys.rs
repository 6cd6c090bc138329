//! The OpenID Provider's signing keys: one RSA (`RS256`), one P-256
//! (`ES256`) and one Ed25519 (`EdDSA`) key, created on first start and kept
//! in a JSON file next to the store (mode 0600), published at `/jwks`.
//!
//! `server admin rotate-keys` retires the keys in use and adds new ones: a
//! retired key no longer signs, but its public half stays published for
//! [`RETIRED_KEY_PUBLISHED`] so tokens it signed still verify. The running
//! server notices the file changed within [`RELOAD_INTERVAL`].
//!
//! The file also holds the salt of pairwise subject identifiers (OpenID
//! Connect Core §8.1), so they stay stable across restarts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::grants::now;

/// The JWS algorithms this server signs with (ID tokens, userinfo), one key
/// each. `RS256` is OpenID Connect's default and must be present.
pub const SIGNING_ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// How long a retired key stays published: longer than any token it signed
/// lives.
pub const RETIRED_KEY_PUBLISHED: Duration = Duration::from_secs(2 * 60 * 60);

/// How often the server checks the key file for a rotation.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// The PKCS#8 header of an Ed25519 private key (RFC 8410 §7), before its
/// 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The key file. No `Debug`: it holds private keys.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    /// Base64url, 32 random bytes.
    pairwise_salt: String,
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// `RS256`, `ES256` or `EdDSA`.
    alg: String,
    /// Base64url DER: PKCS#1 for RSA, PKCS#8 otherwise (what jsonwebtoken
    /// takes).
    der: String,
    created_at: u64,
    retired_at: Option<u64>,
}

/// One usable key.
struct Key {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    public: Jwk,
    retired_at: Option<u64>,
}

/// The keys as loaded.
struct Loaded {
    keys: Vec<Key>,
    pairwise_salt: Vec<u8>,
    /// The file's modification time and length when read.
    stamp: Option<(SystemTime, u64)>,
}

/// The signing keys of the running server.
pub struct Keys {
    path: Option<PathBuf>,
    loaded: RwLock<Arc<Loaded>>,
}

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// No active key for this algorithm.
    #[error("no signing key for {0}")]
    NoKey(String),
    /// The JWS library failed.
    #[error("signing failed: {0}")]
    Jws(#[from] jsonwebtoken::errors::Error),
}

impl Keys {
    /// Loads the key file at `path`, creating it with new keys if missing;
    /// `None` keeps fresh keys in memory only (the memory store).
    pub fn open(path: Option<PathBuf>) -> Result<Self, crate::Error> {
        let loaded = match &path {
            None => from_file(generate_file()?, None)?,
            Some(path) => {
                if !path.exists() {
                    match write_file(path, &generate_file()?, true) {
                        Ok(()) => {}
                        // Another process created it first: use theirs.
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => {
                            return Err(format!(
                                "cannot create the key file {}: {e}",
                                path.display()
                            )
                            .into());
                        }
                    }
                }
                read(path)?
            }
        };
        Ok(Self {
            path,
            loaded: RwLock::new(Arc::new(loaded)),
        })
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Where the keys are kept, if in a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Re-reads the key file if it changed since it was read (a rotation by
    /// `admin rotate-keys`). A file that cannot be read keeps the old keys.
    pub fn reload_if_changed(&self) {
        let Some(path) = &self.path else { return };
        let stamp = stamp_of(path);
        if stamp.is_none() || stamp == self.current().stamp {
            return;
        }
        match read(path) {
            Ok(loaded) => {
                tracing::info!(keys = loaded.keys.len(), "signing keys reloaded");
                *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
            }
            Err(error) => {
                tracing::error!(%error, "cannot reload the signing keys; keeping the old ones")
            }
        }
    }

    /// Checks the key file every [`RELOAD_INTERVAL`], until the server stops.
    pub fn spawn_reloader(self: &Arc<Self>) {
        if self.path.is_none() {
            return;
        }
        let keys = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_INTERVAL);
            loop {
                tick.tick().await;
                match keys.upgrade() {
                    Some(keys) => keys.reload_if_changed(),
                    None => break,
                }
            }
        });
    }

    /// The JWK Set to publish (RFC 7517 §5): every active key, and retired
    /// keys for [`RETIRED_KEY_PUBLISHED`].
    pub fn jwks(&self) -> JwkSet {
        let cutoff = now().saturating_sub(RETIRED_KEY_PUBLISHED.as_secs());
        JwkSet {
            keys: self
                .current()
                .keys
                .iter()
                .filter(|k| k.retired_at.is_none_or(|at| at > cutoff))
                .map(|k| k.public.clone())
                .collect(),
        }
    }

    /// Signs `claims` as a JWT with the newest active key for `alg` (one of
    /// [`SIGNING_ALGS`]).
    pub fn sign<T: Serialize>(&self, alg: &str, claims: &T) -> Result<String, SignError> {
        let loaded = self.current();
        let key = loaded
            .keys
            .iter()
            .rev()
            .find(|k| k.retired_at.is_none() && alg_name(k.alg) == alg)
            .ok_or_else(|| SignError::NoKey(alg.to_owned()))?;
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        Ok(jsonwebtoken::encode(&header, claims, &key.encoding)?)
    }

    /// The secret salt of pairwise subject identifiers.
    pub fn pairwise_salt(&self) -> Vec<u8> {
        self.current().pairwise_salt.clone()
    }
}

/// `admin rotate-keys`: retires the active keys of the file at `path`, drops
/// keys retired longer than [`RETIRED_KEY_PUBLISHED`] ago, and adds new ones.
/// Returns the new key ids.
pub fn rotate(path: &Path) -> Result<Vec<String>, crate::Error> {
    let mut file: KeyFile = serde_json::from_slice(
        &std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    )
    .map_err(|e| format!("{} is not a key file: {e}", path.display()))?;
    let now = now();
    let cutoff = now.saturating_sub(RETIRED_KEY_PUBLISHED.as_secs());
    file.keys
        .retain(|k| k.retired_at.is_none_or(|at| at > cutoff));
    for key in &mut file.keys {
        key.retired_at.get_or_insert(now);
    }
    let fresh = generate_keys()?;
    let kids = fresh.iter().map(|k| k.kid.clone()).collect();
    file.keys.extend(fresh);
    write_file(path, &file, false)?;
    Ok(kids)
}

/// The key file of a store: next to a SQLite database; in the working
/// directory for PostgreSQL; none for the memory store.
pub fn default_path(store: &crate::store::StoreSpec) -> Option<PathBuf> {
    use crate::store::StoreSpec;
    match store {
        StoreSpec::Memory => None,
        StoreSpec::Sqlite(url) => {
            let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                return None;
            }
            Some(PathBuf::from(format!("{path}.keys.json")))
        }
        StoreSpec::Postgres(_) => Some(PathBuf::from("tower-dcr.keys.json")),
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        _ => "unsupported",
    }
}

fn random<const N: usize>() -> Result<[u8; N], crate::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| format!("random number generator failure: {e}"))?;
    Ok(bytes)
}

fn generate_file() -> Result<KeyFile, crate::Error> {
    Ok(KeyFile {
        pairwise_salt: B64.encode(random::<32>()?),
        keys: generate_keys()?,
    })
}

/// One new key per algorithm of [`SIGNING_ALGS`].
fn generate_keys() -> Result<Vec<StoredKey>, crate::Error> {
    use p256::pkcs8::EncodePrivateKey as _;
    use rsa::pkcs1::EncodeRsaPrivateKey as _;

    let mut rng = rand_core::OsRng;
    let rsa = rsa::RsaPrivateKey::new(&mut rng, 2048)
        .map_err(|e| format!("RSA key generation failed: {e}"))?
        .to_pkcs1_der()
        .map_err(|e| format!("RSA key encoding failed: {e}"))?;
    let ec = p256::ecdsa::SigningKey::random(&mut rng)
        .to_pkcs8_der()
        .map_err(|e| format!("P-256 key encoding failed: {e}"))?;
    let mut ed = ED25519_PKCS8_PREFIX.to_vec();
    ed.extend_from_slice(&random::<32>()?);
    let created_at = now();
    [
        ("RS256", rsa.as_bytes()),
        ("ES256", ec.as_bytes()),
        ("EdDSA", ed.as_slice()),
    ]
    .into_iter()
    .map(|(alg, der)| {
        let mut stored = StoredKey {
            kid: String::new(),
            alg: alg.to_owned(),
            der: B64.encode(der),
            created_at,
            retired_at: None,
        };
        // The kid is the RFC 7638 thumbprint of the public key.
        stored.kid = load_key(&stored)?
            .public
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| format!("thumbprint failed: {e}"))?;
        Ok(stored)
    })
    .collect()
}

fn load_key(stored: &StoredKey) -> Result<Key, crate::Error> {
    let der = B64
        .decode(&stored.der)
        .map_err(|_| format!("key {}: bad base64", stored.kid))?;
    let (alg, encoding) = match stored.alg.as_str() {
        "RS256" => (Algorithm::RS256, EncodingKey::from_rsa_der(&der)),
        "ES256" => (Algorithm::ES256, EncodingKey::from_ec_der(&der)),
        "EdDSA" => (Algorithm::EdDSA, EncodingKey::from_ed_der(&der)),
        other => return Err(format!("key {}: unsupported alg {other}", stored.kid).into()),
    };
    let mut public =
        Jwk::from_encoding_key(&encoding, alg).map_err(|e| format!("key {}: {e}", stored.kid))?;
    public.common.key_id = Some(stored.kid.clone());
    public.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(Key {
        kid: stored.kid.clone(),
        alg,
        encoding,
        public,
        retired_at: stored.retired_at,
    })
}

fn from_file(file: KeyFile, stamp: Option<(SystemTime, u64)>) -> Result<Loaded, crate::Error> {
    let mut keys = file
        .keys
        .iter()
        .map(load_key)
        .collect::<Result<Vec<_>, _>>()?;
    // Oldest first: `sign` takes the last active key of an algorithm.
    keys.sort_by_key(|k| {
        file.keys
            .iter()
            .find(|s| s.kid == k.kid)
            .map_or(0, |s| s.created_at)
    });
    for alg in SIGNING_ALGS {
        if !keys
            .iter()
            .any(|k| k.retired_at.is_none() && alg_name(k.alg) == alg)
        {
            return Err(format!("the key file has no active {alg} key").into());
        }
    }
    let pairwise_salt = B64
        .decode(&file.pairwise_salt)
        .map_err(|_| "the key file's pairwise_salt is not base64url")?;
    Ok(Loaded {
        keys,
        pairwise_salt,
        stamp,
    })
}

fn stamp_of(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn read(path: &Path) -> Result<Loaded, crate::Error> {
    refuse_if_readable_by_others(path)?;
    let stamp = stamp_of(path);
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: KeyFile = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a key file: {e}", path.display()))?;
    from_file(file, stamp).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// Refuses a key file that its group or others may read or write, as ssh
/// refuses such a private key: those keys may be known to others.
fn refuse_if_readable_by_others(path: &Path) -> Result<(), crate::Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "the key file {} is accessible by others (mode {:03o}): its private keys \
                 may be known; check how that happened, then `chmod 600` it (or remove \
                 it to create new keys)",
                path.display(),
                mode & 0o777
            )
            .into());
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes the file readable by its owner only, never half-written: to a
/// temporary file first, then linked into place (`create_new`: fails with
/// `AlreadyExists` if the file exists) or renamed over the old one.
fn write_file(path: &Path, file: &KeyFile, create_new: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    let bytes = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut out| {
        out.write_all(&bytes)?;
        out.sync_all()
    });
    let placed = written.and_then(|()| {
        if create_new {
            std::fs::hard_link(&temporary, path)
        } else {
            std::fs::rename(&temporary, path)
        }
    });
    let _ = std::fs::remove_file(&temporary);
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn scratch_path(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tower-dcr-keys-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("server.keys.json")
    }

    /// A new key file is created readable by its owner only (mode 0600).
    #[cfg(unix)]
    #[test]
    fn a_new_key_file_is_created_owner_only() {
        let path = scratch_path("new");
        let _ = std::fs::remove_file(&path);
        Keys::open(Some(path.clone())).expect("keys");
        assert_eq!(mode(&path), 0o600);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// A key file others may read is refused, as ssh refuses such a private
    /// key, and the same file is accepted once it is owner-only again.
    #[cfg(unix)]
    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = scratch_path("shared");
        let _ = std::fs::remove_file(&path);
        Keys::open(Some(path.clone())).expect("keys");
        for shared in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(shared)).unwrap();
            let error = Keys::open(Some(path.clone()))
                .err()
                .expect("a shared key file is refused")
                .to_string();
            assert!(error.contains("accessible by others"), "{error}");
            assert!(error.contains(&format!("{shared:03o}")), "{error}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        Keys::open(Some(path.clone())).expect("an owner-only key file loads");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
