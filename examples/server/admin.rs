//! `server admin …`: manage the clients and initial access tokens in the store
//! the server uses, from another process.

use std::path::PathBuf;
use std::time::Duration;

use tower_dcr::store::InitialAccessToken;
use tower_dcr::{ClientRecord, ClientStore};
use tower_dcr::{InitialAccessTokenOptions, MintError};

use crate::Error;
use crate::cli::AdminCommand;
use crate::grants::now;
use crate::keys;
use crate::registration;
use crate::store::{StoreSpec, open_store};
use tower_dcr::Access;

const MEMORY_STORE: &str = "admin commands need the durable store the server uses \
(--store sqlite:PATH or --store postgres://…). The memory store lives inside one server \
process: a separate admin process would only see an empty store of its own.";

/// Runs one admin command.
pub async fn run(
    command: AdminCommand,
    spec: &StoreSpec,
    key_file: Option<PathBuf>,
    kek_file: Option<&std::path::Path>,
) -> Result<(), Error> {
    if let AdminCommand::RotateKeys = command {
        if let Some(sealer) = keys::Sealer::configured(kek_file)?
            && spec.is_shared()
        {
            let (_, table) = crate::open_grants(spec).await?;
            let table = table.ok_or("this store keeps no signing keys")?;
            let kids = keys::rotate_in_store(table, &sealer).await?;
            println!(
                "New signing keys in the store: {}. Every server on it uses them within \
                 seconds; the previous keys no longer sign and stay published for {} minutes.",
                kids.join(", "),
                keys::RETIRED_KEY_PUBLISHED.as_secs() / 60
            );
            return Ok(());
        }
        return rotate_keys(key_file);
    }
    if !spec.is_shared() {
        return Err(MEMORY_STORE.into());
    }
    let store = open_store(spec).await?;
    match command {
        AdminCommand::CreateToken {
            uses,
            expires_in,
            profile,
        } => create_token(store, uses, expires_in, profile).await,
        AdminCommand::ListTokens => list_tokens(&*store).await,
        AdminCommand::RevokeToken { id } => {
            let tokens = store
                .initial_access_tokens()
                .ok_or("this store cannot hold initial access tokens")?;
            if !tokens.revoke_initial_access_token(&id).await? {
                return Err(format!("no initial access token with id {}", printable(&id)).into());
            }
            println!("Revoked initial access token {id}.");
            Ok(())
        }
        AdminCommand::ListClients => list_clients(&*store).await,
        AdminCommand::ShowClient { client_id } => {
            let client = store
                .get(&client_id)
                .await?
                .ok_or_else(|| unknown(&client_id))?;
            show_client(&client);
            Ok(())
        }
        AdminCommand::RotateKeys => unreachable!("handled above"),
        AdminCommand::DeleteClient { client_id } => {
            if !store.delete(&client_id, None).await? {
                return Err(unknown(&client_id));
            }
            println!("Deleted client {client_id}.");
            Ok(())
        }
    }
}

/// `admin rotate-keys`: on the key file the server uses.
fn rotate_keys(key_file: Option<PathBuf>) -> Result<(), Error> {
    let path = key_file.ok_or(
        "the memory store keeps its signing keys in the server process: \
         rotate-keys needs --store sqlite:PATH, postgres://… or --signing-keys PATH",
    )?;
    if !path.exists() {
        return Err(format!(
            "no key file at {}: the server creates it on its first start",
            path.display()
        )
        .into());
    }
    let kids = keys::rotate(&path)?;
    println!(
        "New signing keys in {}: {}. The previous keys no longer sign and stay \
         published for {} minutes.",
        path.display(),
        kids.join(", "),
        keys::RETIRED_KEY_PUBLISHED.as_secs() / 60
    );
    Ok(())
}

fn unknown(client_id: &str) -> Error {
    format!("no client with client_id {}", printable(client_id)).into()
}

async fn create_token(
    store: std::sync::Arc<dyn ClientStore>,
    uses: Option<u64>,
    expires_in: Option<u64>,
    profile: Option<String>,
) -> Result<(), Error> {
    // The issuer does not matter for minting; the profiles do.
    let dcr = registration::build(
        "http://127.0.0.1",
        &Access::Open,
        store,
        registration::Abuse::NONE,
    )?;
    let options = InitialAccessTokenOptions {
        expires_in: expires_in.map(Duration::from_secs),
        max_uses: uses,
        profile,
    };
    let (token, record) =
        dcr.mint_initial_access_token(options)
            .await
            .map_err(|error| -> Error {
                match error {
                    MintError::Unsupported => "this store cannot hold initial access tokens".into(),
                    MintError::UnknownProfile(name) => {
                        let known: Vec<&str> = registration::named_profiles()
                            .into_iter()
                            .map(|(n, _)| n)
                            .collect();
                        format!("unknown profile {name}; known: {}", known.join(", ")).into()
                    }
                    other => other.into(),
                }
            })?;
    // The token alone on stdout, so `TOKEN=$(server admin create-token)` works.
    println!("{}", token.secret());
    eprintln!(
        "Initial access token {} ({}). It is shown only this once.\n\
         Register with `Authorization: Bearer <token>` on a server started with \
         --protected or --initial-access-token (an open server ignores tokens).",
        record.id,
        token_summary(&record)
    );
    Ok(())
}

fn token_summary(t: &InitialAccessToken) -> String {
    format!(
        "profile {}, {} uses of {}, expires {}",
        t.profile.as_deref().unwrap_or("default"),
        t.uses,
        t.max_uses.map_or("unlimited".into(), |m| m.to_string()),
        t.expires_at.map_or("never".into(), format_time),
    )
}

async fn list_tokens(store: &dyn ClientStore) -> Result<(), Error> {
    let tokens = store
        .initial_access_tokens()
        .ok_or("this store cannot hold initial access tokens")?
        .list_initial_access_tokens()
        .await?;
    let now = now();
    let rows = tokens
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.profile.clone().unwrap_or_else(|| "default".into()),
                match t.max_uses {
                    Some(max) => format!("{}/{max}", t.uses),
                    None => format!("{}/unlimited", t.uses),
                },
                format_time(t.created_at),
                t.expires_at.map_or("never".into(), format_time),
                if t.usable(now) { "usable" } else { "spent" }.into(),
            ]
        })
        .collect();
    print_table(
        &["ID", "PROFILE", "USES", "CREATED", "EXPIRES", "STATUS"],
        rows,
    );
    Ok(())
}

async fn list_clients(store: &dyn ClientStore) -> Result<(), Error> {
    let lifecycle = store
        .lifecycle()
        .ok_or("this store cannot list clients (no lifecycle capability)")?;
    let mut rows = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = lifecycle.list_clients(after.as_deref(), 100).await?;
        for c in &page {
            let m = &c.metadata;
            rows.push(vec![
                c.client_id.clone(),
                truncate(
                    &printable(m.client_name.best_match::<_, &str>([]).unwrap_or("-")),
                    32,
                ),
                m.auth_method().to_string(),
                m.grant_types
                    .iter()
                    .flatten()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                format_time(c.created_at),
                c.last_used_at.map_or("never".into(), format_time),
            ]);
        }
        match page.last() {
            Some(last) if page.len() == 100 => after = Some(last.client_id.clone()),
            _ => break,
        }
    }
    let count = rows.len();
    print_table(
        &[
            "CLIENT_ID",
            "NAME",
            "AUTH METHOD",
            "GRANT TYPES",
            "CREATED",
            "LAST USED",
        ],
        rows,
    );
    println!("{count} client(s)");
    Ok(())
}

fn show_client(c: &ClientRecord) {
    let m = &c.metadata;
    let lines = [
        ("client_id", c.client_id.clone()),
        (
            "client_name",
            printable(m.client_name.best_match::<_, &str>([]).unwrap_or("-")),
        ),
        ("token_endpoint_auth_method", m.auth_method().to_string()),
        (
            "profile",
            c.profile.clone().unwrap_or_else(|| "default".into()),
        ),
        ("source", c.source.as_str().into()),
        (
            "initial_access_token",
            c.initial_access_token_id
                .clone()
                .unwrap_or_else(|| "-".into()),
        ),
        ("created", format_time(c.created_at)),
        ("updated", format_time(c.updated_at)),
        (
            "last used",
            c.last_used_at.map_or("never".into(), format_time),
        ),
        (
            "secret expires",
            match (c.client_secret.is_some(), c.client_secret_expires_at) {
                (false, _) => "no secret".into(),
                (true, 0) => "never".into(),
                (true, at) => format_time(at),
            },
        ),
        ("revision", c.revision.to_string()),
    ];
    for (name, value) in lines {
        println!("{name:<28}{value}");
    }
    // JSON escapes control characters, so this is safe to print.
    let metadata = serde_json::to_string_pretty(m).unwrap_or_default();
    println!("metadata:\n{metadata}");
}

/// Replaces control characters (a client could send terminal escape
/// sequences in its name).
fn printable(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

fn truncate(value: &str, max: usize) -> String {
    if value.chars().count() <= max {
        value.to_owned()
    } else {
        let mut short: String = value.chars().take(max - 1).collect();
        short.push('…');
        short
    }
}

fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// `YYYY-MM-DD HH:MM:SSZ` (UTC) for seconds since the Unix epoch.
fn format_time(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}
