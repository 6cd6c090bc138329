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
//!
//! With a key encryption key (`--key-encryption-key-file` or
//! `TOWER_DCR_KEY_ENCRYPTION_KEY`) and a durable store, the same key set
//! lives in the store instead, sealed with AES-256-GCM under that key, and is
//! shared by every instance on it: the first to start creates it (or imports
//! an existing key file), `admin rotate-keys` replaces it, and every instance
//! picks a change up within [`RELOAD_INTERVAL`]. Without one, private keys
//! are never written to the database: they stay in the file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::grants::{KeyTable, now};

/// The environment variable that can hold the key encryption key.
pub const KEK_VARIABLE: &str = "TOWER_DCR_KEY_ENCRYPTION_KEY";

/// The shortest key encryption key accepted, in bytes.
const MIN_KEK_BYTES: usize = 32;

/// What a sealed key set starts with (the format's version).
const SEALED_PREFIX: &[u8] = b"tdk1";

/// Seals and opens the key set kept in a store: AES-256-GCM under a key
/// derived (HKDF-SHA256) from the operator's key encryption key. No `Debug`.
pub struct Sealer {
    key: ring::aead::LessSafeKey,
}

impl Sealer {
    /// From the operator's secret (at least 32 bytes).
    pub fn from_secret(secret: &[u8]) -> Result<Self, crate::Error> {
        if secret.len() < MIN_KEK_BYTES {
            return Err(format!(
                "the key encryption key must be at least {MIN_KEK_BYTES} bytes \
                 (say, `openssl rand -base64 48`)"
            )
            .into());
        }
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"tower-dcr-server signing keys");
        let prk = salt.extract(secret);
        let okm = prk
            .expand(&[b"aes-256-gcm"], &ring::aead::AES_256_GCM)
            .map_err(|_| "key derivation failed")?;
        Ok(Self {
            key: ring::aead::LessSafeKey::new(ring::aead::UnboundKey::from(okm)),
        })
    }

    /// The key encryption key of `--key-encryption-key-file PATH` (an
    /// owner-only file) or of [`KEK_VARIABLE`], if either is given.
    pub fn configured(file: Option<&Path>) -> Result<Option<Self>, crate::Error> {
        let secret = match file {
            Some(path) => {
                refuse_if_readable_by_others(path)?;
                let text = std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Some(text.trim_ascii().to_vec())
            }
            None => match std::env::var(KEK_VARIABLE) {
                Ok(value) if !value.trim().is_empty() => Some(value.trim().as_bytes().to_vec()),
                Ok(_) | Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(format!("{KEK_VARIABLE} is not valid UTF-8").into());
                }
            },
        };
        secret.map(|s| Self::from_secret(&s)).transpose()
    }

    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, crate::Error> {
        let nonce = random::<12>()?;
        let mut sealed = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(SEALED_PREFIX),
                &mut sealed,
            )
            .map_err(|_| "sealing the signing keys failed")?;
        Ok([SEALED_PREFIX, &nonce, &sealed].concat())
    }

    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, crate::Error> {
        let rest = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or("the signing keys in the store are not in a known format")?;
        if rest.len() < 12 {
            return Err("the signing keys in the store are truncated".into());
        }
        let (nonce, ciphertext) = rest.split_at(12);
        let mut buffer = ciphertext.to_vec();
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| "the signing keys in the store are truncated")?;
        let plain = self
            .key
            .open_in_place(nonce, ring::aead::Aad::from(SEALED_PREFIX), &mut buffer)
            .map_err(|_| {
                "the signing keys in the store do not open with this key encryption key \
                 (another key, or a damaged row)"
            })?;
        Ok(plain.to_vec())
    }
}

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
    /// The file's modification time and length when read, or the store
    /// row's version.
    stamp: Option<(SystemTime, u64)>,
    version: Option<i64>,
}

/// Where the keys are kept.
enum Source {
    /// In this process only.
    Memory,
    /// A key file.
    File(PathBuf),
    /// A store, sealed.
    Store {
        table: Arc<dyn KeyTable>,
        sealer: Arc<Sealer>,
    },
}

/// The signing keys of the running server.
pub struct Keys {
    source: Source,
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
            source: path.map_or(Source::Memory, Source::File),
            loaded: RwLock::new(Arc::new(loaded)),
        })
    }

    /// The key set kept in `table`, sealed by `sealer`: created by the first
    /// instance to start (from the key file at `legacy`, if there is one, so
    /// a deployment keeps its keys). Returns the keys, and the file imported.
    pub async fn open_in_store(
        table: Arc<dyn KeyTable>,
        sealer: Sealer,
        legacy: Option<PathBuf>,
    ) -> Result<(Self, Option<PathBuf>), crate::Error> {
        let sealer = Arc::new(sealer);
        let mut imported = None;
        for _ in 0..3 {
            if let Some((version, sealed)) = table.load_keys().await.map_err(store_failed)? {
                let loaded = unseal(&sealer, &sealed, version)?;
                let keys = Self {
                    source: Source::Store { table, sealer },
                    loaded: RwLock::new(Arc::new(loaded)),
                };
                return Ok((keys, imported));
            }
            let file = match legacy.as_deref().filter(|p| p.exists()) {
                Some(path) => {
                    refuse_if_readable_by_others(path)?;
                    let file = read_key_file(path)?;
                    imported = Some(path.to_owned());
                    file
                }
                // Key generation (RSA above all) is CPU work.
                None => tokio::task::spawn_blocking(generate_file).await??,
            };
            let sealed = sealer.seal(&serde_json::to_vec(&file)?)?;
            if !table.create_keys(sealed).await.map_err(store_failed)? {
                // Another instance stored its keys first: use theirs.
                imported = None;
            }
        }
        Err("the signing keys in the store could not be read back".into())
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Where the keys are kept, for the banner.
    pub fn location(&self) -> String {
        match &self.source {
            Source::Memory => "in memory (new keys at every start)".to_owned(),
            Source::File(path) => format!(
                "{} (one file per instance; set {KEK_VARIABLE} or \
                 --key-encryption-key-file to keep them in the store)",
                path.display()
            ),
            Source::Store { .. } => {
                "in the store, encrypted, shared by every instance on it".to_owned()
            }
        }
    }

    /// Reloads the keys if they changed since they were read (a rotation by
    /// `admin rotate-keys`). Keys that cannot be read keep the old ones.
    pub async fn reload_if_changed(&self) {
        if let Source::Store { table, sealer } = &self.source {
            let loaded = match table.load_keys().await {
                Ok(Some((version, _))) if Some(version) == self.current().version => return,
                Ok(Some((version, sealed))) => unseal(sealer, &sealed, version),
                Ok(None) => Err("the signing keys are gone from the store".into()),
                Err(error) => Err(store_failed(error)),
            };
            match loaded {
                Ok(loaded) => {
                    tracing::info!(keys = loaded.keys.len(), "signing keys reloaded");
                    *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
                }
                Err(error) => {
                    tracing::error!(%error, "cannot reload the signing keys; keeping the old ones")
                }
            }
            return;
        }
        let Source::File(path) = &self.source else {
            return;
        };
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
        if let Source::Memory = self.source {
            return;
        }
        let keys = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_INTERVAL);
            loop {
                tick.tick().await;
                match keys.upgrade() {
                    Some(keys) => keys.reload_if_changed().await,
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
    let mut file = read_key_file(path)?;
    let kids = rotate_file(&mut file)?;
    write_file(path, &file, false)?;
    Ok(kids)
}

/// `admin rotate-keys` on the key set in a store: as [`rotate`], replacing
/// the row only if no other change came first (then again).
pub async fn rotate_in_store(
    table: Arc<dyn KeyTable>,
    sealer: &Sealer,
) -> Result<Vec<String>, crate::Error> {
    loop {
        let (version, sealed) =
            table.load_keys().await.map_err(store_failed)?.ok_or(
                "no signing keys in the store: the server creates them on its first start",
            )?;
        let mut file: KeyFile = serde_json::from_slice(&sealer.open(&sealed)?)?;
        let (file, kids) =
            tokio::task::spawn_blocking(move || rotate_file(&mut file).map(|kids| (file, kids)))
                .await??;
        let sealed = sealer.seal(&serde_json::to_vec(&file)?)?;
        if table
            .replace_keys(version, sealed)
            .await
            .map_err(store_failed)?
        {
            return Ok(kids);
        }
    }
}

fn store_failed(error: crate::grants::GrantError) -> crate::Error {
    format!("the signing key table failed: {error:?}").into()
}

fn unseal(sealer: &Sealer, sealed: &[u8], version: i64) -> Result<Loaded, crate::Error> {
    let file: KeyFile = serde_json::from_slice(&sealer.open(sealed)?)
        .map_err(|e| format!("the signing keys in the store do not parse: {e}"))?;
    let mut loaded = from_file(file, None)?;
    loaded.version = Some(version);
    Ok(loaded)
}

fn read_key_file(path: &Path) -> Result<KeyFile, crate::Error> {
    Ok(serde_json::from_slice(
        &std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    )
    .map_err(|e| format!("{} is not a key file: {e}", path.display()))?)
}

/// Retires the active keys of `file`, drops keys retired longer than
/// [`RETIRED_KEY_PUBLISHED`] ago, and adds new ones; returns their ids.
fn rotate_file(file: &mut KeyFile) -> Result<Vec<String>, crate::Error> {
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
        version: None,
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

    /// The sealed key set opens only with the key that sealed it, and a
    /// short key encryption key is refused.
    #[test]
    fn sealed_keys_open_only_with_their_key() {
        let sealer = Sealer::from_secret(&[7; 32]).unwrap();
        let sealed = sealer.seal(b"private keys").unwrap();
        assert!(!sealed.windows(12).any(|w| w == b"private keys"));
        assert_eq!(sealer.open(&sealed).unwrap(), b"private keys");
        let other = Sealer::from_secret(&[8; 32]).unwrap();
        assert!(other.open(&sealed).is_err());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(sealer.open(&damaged).is_err());
        assert!(Sealer::from_secret(&[7; 31]).is_err());
    }

    /// Keys in a store: the first instance imports an existing key file (the
    /// migration), a second one gets the same keys, a rotation through the
    /// store is picked up by reloading.
    #[tokio::test]
    async fn keys_in_a_store_are_imported_shared_and_rotated() {
        let legacy = scratch_path("store");
        let _ = std::fs::remove_file(&legacy);
        let from_file = Keys::open(Some(legacy.clone())).unwrap().jwks();
        let database = legacy.with_file_name("server.db");
        let url = format!("sqlite:{}", database.display());
        let table: Arc<dyn KeyTable> =
            Arc::new(crate::grants::SqliteGrants::open(&url).await.unwrap());
        let secret = [9; 40];
        let (first, imported) = Keys::open_in_store(
            table.clone(),
            Sealer::from_secret(&secret).unwrap(),
            Some(legacy.clone()),
        )
        .await
        .unwrap();
        assert_eq!(imported.as_deref(), Some(legacy.as_path()));
        assert_eq!(first.jwks(), from_file);
        let (second, imported) =
            Keys::open_in_store(table.clone(), Sealer::from_secret(&secret).unwrap(), None)
                .await
                .unwrap();
        assert!(imported.is_none());
        assert_eq!(second.jwks(), from_file);
        let kids = rotate_in_store(table, &Sealer::from_secret(&secret).unwrap())
            .await
            .unwrap();
        second.reload_if_changed().await;
        let published = second.jwks();
        for kid in &kids {
            assert!(published.find(kid).is_some(), "{kid}");
        }
        let token = second.sign("ES256", &serde_json::json!({"a": 1})).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert!(kids.contains(&header.kid.unwrap()));
        std::fs::remove_dir_all(legacy.parent().unwrap()).unwrap();
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
