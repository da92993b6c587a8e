//! The hub's module graph: which top-level module of hub/src refers to which, read from the
//! `crate::…` paths of its files, and the check that the graph has no circles.
//!
//! Why: a capability that can be understood, tested and changed on its own must not depend,
//! through any chain, on itself. Importing the crate root (`crate::AppState`, `crate::Hub`,
//! `crate::StartError`, …) counts as a circle too, because lib.rs declares and wires every
//! module. Only the wiring modules ([`WIRING`]) may import anything; nothing may import them.
//!
//! Read as a test: it fails naming each edge that closes a circle, with the circle. Only
//! `crate::` paths are followed: `super::` stays inside a top-level module (hub/src has no
//! `super::super`), and comments and string literals are skipped, so doc links and messages are
//! not imports.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    path::{Path, PathBuf},
};

/// Top-level modules that only wire the others together: the crate root (lib.rs), the binary
/// (main.rs), its administrative commands and the demo. They may import any module.
const WIRING: &[&str] = &["lib", "main", "cli", "demo"];

/// Importer → imported top-level modules (itself left out).
type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn module_graph_has_no_circles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(
        graph.contains_key("lib") && graph.len() > 5,
        "the module graph of {} looks empty: {graph:?}",
        src.display()
    );
    let problems: Vec<String> = closing_edges(&graph)
        .iter()
        .map(|(edge, circle)| format!("{} -> {} closes a circle: {circle}", edge.0, edge.1))
        .collect();
    assert!(
        problems.is_empty(),
        "module graph:\n{}\n\n{}",
        render(&graph),
        problems.join("\n")
    );
}

#[test]
fn references_are_read_from_paths_and_groups_but_not_comments_or_strings() {
    let modules: BTreeSet<String> = ["auth", "db", "edge", "google"]
        .into_iter()
        .map(String::from)
        .collect();
    let source = r##"
        //! See [`crate::edge::Edge`].
        use crate::{
            AppState, // the root
            auth::{Actor, policy},
            db::Db,
        };
        /* crate::google::Google in a block comment */
        const URL: &str = "crate::google"; // and crate::google in a line comment
        const RAW: &str = r#"crate::google"#;
        fn f<'a>(c: char) -> bool { c == '{' || crate::Hub::ok() || $crate::db::x() }
        const QUOTES: [char; 3] = ['\'', '"', '\u{7b}']; // crate::google
        fn h(b: &[u8]) -> bool { b == b"crate::google" || b == br#"crate::google"# }
        pub(crate) fn g() {}
    "##;
    let found = references(source, &modules);
    let expected: BTreeSet<String> = ["lib", "auth", "db"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, expected);
}

/// Every top-level module with the top-level modules its files refer to; a crate-root item
/// counts as `lib`.
fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|file| top_module(src, file)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let module = top_module(src, file);
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()));
        let targets = graph.entry(module.clone()).or_default();
        targets.extend(
            references(&text, &modules)
                .into_iter()
                .filter(|target| *target != module),
        );
    }
    graph
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
}

/// `src/edge/link.rs` → `edge`, `src/config.rs` → `config`, `src/lib.rs` → `lib`.
fn top_module(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("file under src");
    let first = relative
        .components()
        .next()
        .expect("a path component")
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules a file's code refers to through `crate::name` paths, including each
/// item of `crate::{a, b::c}` groups; names that are not modules are crate-root items (`lib`).
fn references(source: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code: Vec<char> = code_only(source).chars().collect();
    let mut found = BTreeSet::new();
    let mut at = 0;
    while let Some(start) = find_crate_path(&code, at) {
        at = start;
        if code.get(at) == Some(&'{') {
            let (items, end) = group_items(&code, at);
            at = end;
            for name in items.iter().map(|item| leading_ident(item)) {
                if !name.is_empty() {
                    found.insert(resolve(&name, modules));
                }
            }
        } else {
            let name: String = code[at..].iter().take_while(|c| is_ident(**c)).collect();
            at += name.len().max(1);
            found.insert(resolve(&name, modules));
        }
    }
    found
}

/// The position just after the next `crate ::` (and any blanks), starting at `from`.
fn find_crate_path(code: &[char], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 5 <= code.len() {
        let word_start = i == 0 || !is_ident(code[i - 1]);
        if word_start && code[i..i + 5] == ['c', 'r', 'a', 't', 'e'] {
            let mut j = skip_blanks(code, i + 5);
            if code.get(j) == Some(&':') && code.get(j + 1) == Some(&':') {
                j = skip_blanks(code, j + 2);
                return Some(j);
            }
        }
        i += 1;
    }
    None
}

/// The items of the `{…}` group opening at `open`, split at its own commas, and the position
/// after its closing brace.
fn group_items(code: &[char], open: usize) -> (Vec<String>, usize) {
    let mut depth = 0usize;
    let mut items = vec![String::new()];
    let mut i = open;
    while i < code.len() {
        let c = code[i];
        i += 1;
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                items.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(item) = items.last_mut() {
            item.push(c);
        }
    }
    (items, i)
}

fn leading_ident(item: &str) -> String {
    item.trim().chars().take_while(|c| is_ident(*c)).collect()
}

fn resolve(name: &str, modules: &BTreeSet<String>) -> String {
    if modules.contains(name) {
        name.to_string()
    } else {
        "lib".to_string()
    }
}

fn skip_blanks(code: &[char], mut i: usize) -> usize {
    while code.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The source with comments removed and string and character literals emptied.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i = skip_block_comment(&chars, i);
        } else if c == '"' {
            i = skip_string(&chars, i + 1);
            out.push_str("\"\"");
        } else if let Some(end) = raw_string_end(&chars, i) {
            i = end;
            out.push_str("\"\"");
        } else if c == '\'' {
            i = skip_char_literal(&chars, i);
            out.push(' ');
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// After a (possibly nested) block comment opening at `i`.
fn skip_block_comment(chars: &[char], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1).copied()) {
            ('/', Some('*')) => {
                depth += 1;
                i += 2;
            }
            ('*', Some('/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    i
}

/// After the closing quote of a string whose body starts at `i`.
fn skip_string(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// When a raw string (`r"…"`, `r#"…"#`, `br#"…"#`) starts at `i`: the position after it.
fn raw_string_end(chars: &[char], i: usize) -> Option<usize> {
    let word_start = i == 0 || !is_ident(chars[i - 1]);
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if !word_start || chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|c| **c == '#').count();
    j += hashes;
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"'
            && chars[j + 1..]
                .iter()
                .take(hashes)
                .filter(|c| **c == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(j)
}

/// After a character literal at `i` (`'x'`, `'\n'`, `'\u{1F600}'`); a lifetime (`'a`) is left
/// after its quote.
fn skip_char_literal(chars: &[char], i: usize) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let after_escape = (i + 3).min(chars.len());
        let close = chars[after_escape..].iter().position(|c| *c == '\'');
        return close.map_or(chars.len(), |at| after_escape + at + 1);
    }
    if chars.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    i + 1
}

/// Each edge of a non-wiring module that closes a circle, with the circle: an import of a
/// wiring module (which declares every module), or an edge back to where a chain of
/// non-wiring imports leads.
fn closing_edges(graph: &Graph) -> BTreeMap<(String, String), String> {
    let wiring = |name: &str| WIRING.contains(&name);
    let mut found = BTreeMap::new();
    for (from, targets) in graph.iter().filter(|(from, _)| !wiring(from)) {
        for to in targets {
            let circle = if wiring(to) {
                Some(format!(
                    "{from} -> {to} -> {from} ({to} declares every module)"
                ))
            } else {
                path_back(graph, to, from).map(|path| format!("{from} -> {}", path.join(" -> ")))
            };
            if let Some(circle) = circle {
                found.insert((from.clone(), to.clone()), circle);
            }
        }
    }
    found
}

/// The shortest chain of imports from `start` to `goal` that passes no wiring module.
fn path_back(graph: &Graph, start: &str, goal: &str) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = VecDeque::from([start.to_string()]);
    let mut seen = BTreeSet::from([start.to_string()]);
    while let Some(node) = queue.pop_front() {
        if node == goal {
            let mut path = vec![node.clone()];
            let mut at = node;
            while let Some(previous) = came_from.get(&at) {
                path.push(previous.clone());
                at = previous.clone();
            }
            path.reverse();
            return Some(path);
        }
        for next in graph.get(&node).into_iter().flatten() {
            if !WIRING.contains(&next.as_str()) && seen.insert(next.clone()) {
                came_from.insert(next.clone(), node.clone());
                queue.push_back(next.clone());
            }
        }
    }
    None
}

fn render(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(from, to)| {
            let to: Vec<&str> = to.iter().map(String::as_str).collect();
            format!("  {from} -> {}", to.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}
