//! The module layering of `src/`: a lower layer never names a higher one, and
//! top-level modules do not depend on each other in a cycle. The layers,
//! lowest first ([`LAYERS`] says which modules each holds):
//!
//! 1. leaves: secrets, error codes, responses, events, fetching, JWS;
//! 2. metadata: the client metadata and the pure rules of the specifications;
//! 3. policy: profiles, the hook, sector identifiers, software statements;
//! 4. store: where clients live;
//! 5. config: the checked runtime configuration (with URL clients and client
//!    assertions);
//! 6. endpoint: the pipeline of the four operations;
//! 7. service: `Registration` and every impl on it (builder, Service, Layer,
//!    futures, tokens, reaper, discovery, host helpers), so that a type lives
//!    with its impls.
//!
//! The registration client (`client`) sits aside, on leaves and metadata.
//!
//! Every file under `src/` is mapped to its layer by its path; every `crate::`
//! path in its code (comments are skipped; `super::` paths that climb out of
//! the top-level module count too) names the module it depends on. Run with
//! `-- --nocapture` to see the module graph.
//!
//! `LAYERING_SRC=/path/to/src` checks another tree (for example an older
//! checkout, to compare graphs); modules it does not know get no layer but
//! still count for cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first: each with its top-level modules and what it
/// holds. A type and its impls live in one layer: a layer that would need an
/// impl of a higher layer's type holds the type itself or hands the work up.
const LAYERS: &[(&str, &[&str], &str)] = &[
    (
        "leaves",
        &[
            "credentials",
            "error",
            "response",
            "time",
            "events",
            "fetch",
            "fetch_cache",
            "jws",
            "rate_limit",
            "metrics",
        ],
        "secrets, error codes and rejections, responses, events, the guarded \
         fetcher and its cache, JWS verification, the rate limiter",
    ),
    (
        "metadata",
        &["metadata"],
        "the client metadata and the pure rules of the specifications",
    ),
    (
        "policy",
        &["policy", "software_statement"],
        "profiles and their enforcement, the hook, sector identifiers, \
         software statements (checks that need a document take the fetcher \
         the endpoint passes)",
    ),
    ("store", &["store"], "where clients live, and their records"),
    (
        "config",
        &["config", "metadata_document", "client_assertion"],
        "the checked runtime configuration, with the state and the checks of \
         URL clients and client assertions",
    ),
    (
        "endpoint",
        &["endpoint"],
        "the pipeline of the four operations of RFC 7591 and RFC 7592",
    ),
    (
        "service",
        &["service"],
        "`Registration` with every impl on it: its builder, the tower \
         Service and Layer, the futures, tokens, the reaper, discovery and the \
         host helpers (`host`)",
    ),
];

/// The registration client sits aside: it may use only these layers.
const CLIENT: &str = "client";
const CLIENT_MAY_USE: &[&str] = &["leaves", "metadata"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules, _)| modules.contains(&module))
}

fn layer_name(module: &str) -> &'static str {
    if module == CLIENT {
        return CLIENT;
    }
    layer_of(module).map_or("(no layer)", |i| LAYERS[i].0)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `src/endpoint/register.rs` is
/// `["endpoint", "register"]`, `src/store/mod.rs` is `["store"]`, `src/lib.rs`
/// is `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The code of a file with comments blanked out (line breaks kept, so offsets
/// still give line numbers) and string literals emptied.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < bytes.len() {
                if bytes[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if bytes[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if bytes[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if bytes[i] == b'"' && (i == 0 || bytes[i - 1] != b'\'') {
            out.push('"');
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                if i < bytes.len() && bytes[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            out.push('"');
            i += 1;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn ident_at(code: &str, at: usize) -> &str {
    let rest = &code[at..];
    let end = rest
        .bytes()
        .position(|b| !is_ident_byte(b))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The first segments named right after `at` (just past a `crate::`): one
/// identifier, or each item of a `{...}` group.
fn first_segments(code: &str, at: usize) -> Vec<String> {
    let rest = code[at..].trim_start();
    let at = code.len() - rest.len();
    if !rest.starts_with('{') {
        return vec![ident_at(code, at).to_owned()];
    }
    let mut names = Vec::new();
    let mut depth = 0;
    let mut expecting = true;
    for (i, b) in rest.bytes().enumerate() {
        match b {
            b'{' => {
                depth += 1;
                expecting = depth == 1;
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            b',' if depth == 1 => expecting = true,
            b if expecting && depth == 1 && is_ident_byte(b) => {
                names.push(ident_at(code, at + i).to_owned());
                expecting = false;
            }
            _ => {}
        }
    }
    names
}

/// One dependency of a file on a top-level module (or a root item).
struct Reference {
    line: usize,
    target: String,
}

fn references(code: &str, module: &[String]) -> Vec<Reference> {
    let mut found = Vec::new();
    let line_of = |offset: usize| code[..offset].matches('\n').count() + 1;
    let bytes = code.as_bytes();
    let mut search = 0;
    while let Some(pos) = code[search..].find("crate::") {
        let start = search + pos;
        search = start + "crate::".len();
        if start > 0 && (is_ident_byte(bytes[start - 1]) || bytes[start - 1] == b'$') {
            continue;
        }
        for target in first_segments(code, search) {
            found.push(Reference {
                line: line_of(start),
                target,
            });
        }
    }
    // `super::` chains that climb to the crate root.
    let mut search = 0;
    while let Some(pos) = code[search..].find("super::") {
        let start = search + pos;
        search = start + "super::".len();
        if start > 0 && (is_ident_byte(bytes[start - 1]) || bytes[start - 1] == b':') {
            continue;
        }
        let mut levels = 1;
        let mut after = search;
        while code[after..].starts_with("super::") {
            levels += 1;
            after += "super::".len();
        }
        search = after;
        // `super` is the parent of the file's module (or, from an inline
        // `mod tests`, the module itself: those never climb out). A chain that
        // reaches the crate root names a top-level module; anything else found
        // there is a root item and is left to the compiler.
        if levels >= module.len() {
            for target in first_segments(code, after) {
                found.push(Reference {
                    line: line_of(start),
                    target: format!("super:{target}"),
                });
            }
        }
    }
    found
}

struct Graph {
    modules: BTreeSet<String>,
    /// (from, to) → first place that names it.
    edges: BTreeMap<(String, String), String>,
    violations: Vec<String>,
}

fn analyse(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut modules = BTreeSet::new();
    for file in &files {
        if let Some(top) = module_path(src, file).first() {
            modules.insert(top.clone());
        }
    }
    let mut edges = BTreeMap::new();
    let mut violations = Vec::new();
    for file in &files {
        let path = module_path(src, file);
        let Some(top) = path.first() else {
            continue; // lib.rs: the root may name every layer.
        };
        let text = fs::read_to_string(file).unwrap();
        let code = code_only(&text);
        let shown = file
            .strip_prefix(src.parent().unwrap_or(src))
            .unwrap_or(file);
        for reference in references(&code, &path) {
            let target = match reference.target.strip_prefix("super:") {
                Some(t) if modules.contains(t) => t.to_owned(),
                Some(_) => continue,
                None => reference.target,
            };
            if target.is_empty() || target == *top || target == "self" {
                continue;
            }
            let place = format!("{}:{}", shown.display(), reference.line);
            if !modules.contains(&target) {
                violations.push(format!(
                    "{place}: `crate::{target}` names a root re-export; name the module that defines it"
                ));
                continue;
            }
            edges
                .entry((top.clone(), target.clone()))
                .or_insert_with(|| place.clone());
            if top == CLIENT {
                if !CLIENT_MAY_USE.contains(&layer_name(&target)) {
                    violations.push(format!(
                        "{place}: `client` may use only {CLIENT_MAY_USE:?}, not `{target}` ({})",
                        layer_name(&target)
                    ));
                }
                continue;
            }
            if let (Some(from), Some(to)) = (layer_of(top), layer_of(&target))
                && to > from
            {
                violations.push(format!(
                    "{place}: `{top}` (layer {}) uses `{target}` (higher layer {})",
                    LAYERS[from].0, LAYERS[to].0
                ));
            }
            if target == CLIENT {
                violations.push(format!("{place}: `{top}` uses the registration client"));
            }
        }
    }
    Graph {
        modules,
        edges,
        violations,
    }
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let successors: Vec<&'g str> = s
            .graph
            .edges
            .keys()
            .filter(|(from, _)| from == v)
            .map(|(_, to)| to.as_str())
            .collect();
        for w in successors {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for module in &graph.modules {
        if !state.index.contains_key(module.as_str()) {
            visit(&mut state, module);
        }
    }
    state.found
}

#[test]
fn lower_layers_never_use_higher_ones_and_modules_form_no_cycle() {
    let src = std::env::var_os("LAYERING_SRC").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        PathBuf::from,
    );
    let graph = analyse(&src);
    println!("module graph of {}:", src.display());
    let mut by_layer: BTreeMap<(usize, &str), Vec<&str>> = BTreeMap::new();
    for module in &graph.modules {
        let key = match (module.as_str(), layer_of(module)) {
            (CLIENT, _) => (LAYERS.len(), CLIENT),
            (_, Some(i)) => (i, LAYERS[i].0),
            (_, None) => (LAYERS.len() + 1, "(no layer)"),
        };
        by_layer.entry(key).or_default().push(module);
    }
    for ((index, layer), modules) in &by_layer {
        match LAYERS.get(*index) {
            Some((_, _, holds)) => println!("  {layer}: {holds}"),
            None => println!("  {layer}:"),
        }
        for module in modules {
            let uses: Vec<&str> = graph
                .edges
                .keys()
                .filter(|(from, _)| from == module)
                .map(|(_, to)| to.as_str())
                .collect();
            println!("    {module} -> {}", uses.join(", "));
        }
    }
    let cycles = cycles(&graph);
    println!("cycles: {}", cycles.len());
    let mut problems = graph.violations.clone();
    for cycle in &cycles {
        let members: BTreeSet<&String> = cycle.iter().collect();
        let mut edges = Vec::new();
        for ((from, to), place) in &graph.edges {
            if members.contains(from) && members.contains(to) {
                edges.push(format!("{from} -> {to} ({place})"));
            }
        }
        println!("  cycle: {}", cycle.join(", "));
        problems.push(format!(
            "modules {} depend on each other in a cycle: {}",
            cycle.join(", "),
            edges.join("; ")
        ));
    }
    for problem in &problems {
        println!("  violation: {problem}");
    }
    assert!(
        problems.is_empty(),
        "layering violations:\n{}",
        problems.join("\n")
    );
}
