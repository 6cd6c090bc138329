//! The README is what a newcomer reads first: short, with the two commands at
//! the top, every cargo feature, and the example server's flags; the
//! reference material lives in the rustdoc (`docs/*.md`, included by the
//! modules they describe), where docs.rs shows it next to the API.

use std::fs;
use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The names under `[features]` in Cargo.toml, `default` aside.
fn cargo_features() -> Vec<String> {
    let manifest = read("Cargo.toml");
    let section = manifest
        .split("\n[features]\n")
        .nth(1)
        .expect("a [features] section");
    section
        .lines()
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(" = ").map(|(name, _)| name.trim()))
        .filter(|name| !name.is_empty() && *name != "default")
        .map(str::to_owned)
        .collect()
}

#[test]
fn feature_table_lists_every_cargo_feature() {
    let table = read("docs/features.md");
    let features = cargo_features();
    assert!(features.len() >= 10, "{features:?}");
    for feature in features {
        assert!(
            table.contains(&format!("\n| `{feature}` | ")),
            "docs/features.md has no row for the cargo feature `{feature}`"
        );
    }
}

/// One table, written once: the crate root includes docs/features.md, and the
/// README carries the same text.
#[test]
fn readme_feature_table_is_the_crate_roots() {
    let table = read("docs/features.md");
    assert!(
        read("README.md").contains(&table),
        "the README's feature table differs from docs/features.md"
    );
    assert!(read("src/lib.rs").contains("include_str!(\"../docs/features.md\")"));
}

/// The two commands a newcomer runs first, exactly as CI runs them.
#[test]
fn readme_starts_with_its_two_commands() {
    let readme = read("README.md");
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a first sh block");
    let commands: Vec<&str> = block
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .collect();
    assert_eq!(
        commands,
        [
            "cargo run --release --example server",
            "cargo test --all-features"
        ]
    );
}

/// Every `--flag` of the example server's command line (examples/server/cli.rs)
/// is in the README, the URL-client ones included, not only in `--help`.
#[test]
fn readme_names_every_flag_of_the_example_server() {
    let cli = read("examples/server/cli.rs");
    let readme = read("README.md");
    // The server's own flags; the `admin` subcommands' are in --help.
    let serve = cli.split("pub enum Command").next().unwrap();
    let lines: Vec<&str> = serve.lines().map(str::trim).collect();
    let mut flags = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !(line.starts_with("#[arg(") && line.contains("long")) {
            continue;
        }
        let flag = match line.split_once("long = \"") {
            Some((_, rest)) => rest.split('"').next().unwrap().to_owned(),
            None => {
                let field = lines[i + 1..]
                    .iter()
                    .find(|l| !l.starts_with("#[") && !l.starts_with("///"))
                    .and_then(|l| l.split_once(':'))
                    .expect("a field after #[arg]")
                    .0;
                field.trim_start_matches("pub ").trim().replace('_', "-")
            }
        };
        flags.push(flag);
    }
    assert!(
        flags.iter().any(|f| f == "client-id-metadata-documents"),
        "{flags:?}"
    );
    for flag in flags {
        assert!(
            readme.contains(&format!("`--{flag}")),
            "the README does not name the example server's --{flag}"
        );
    }
}

/// Reference material is rustdoc: every docs/*.md page but the example
/// server's walkthrough is included by a module of the crate.
#[test]
fn every_docs_page_is_in_the_rustdoc() {
    let mut sources = String::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&fs::read_to_string(path).unwrap());
            }
        }
    }
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    for entry in fs::read_dir(docs).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name == "example-server.md" {
            continue;
        }
        assert!(
            sources.contains(&format!("docs/{name}\")")),
            "docs/{name} is not included by any module"
        );
    }
}

/// A first read, not the reference (tower-http's README is 79 lines, axum's 154).
#[test]
fn readme_stays_a_first_read() {
    let lines = read("README.md").lines().count();
    assert!(lines <= 300, "the README has {lines} lines");
}
