//! The module graph of `audit-runtime` has no cycle, and the pure half never names the running
//! half (STYLE.md, "A layout that shows the two halves").
//!
//! The test reads `src/**/*.rs` and derives, for every module directory (the crate root
//! included), which of its child modules refers to which: through `crate::<path>` (also via an
//! item the crate root re-exports, such as `crate::Auditor`) and `super::<path>` paths, in `use`
//! lines and inline paths alike, `#[cfg(test)]` code included. Comments (doc links too) and
//! string literals are not code and are skipped. References to an ancestor's own items or to a
//! module's own descendants are not edges between siblings, so they are not counted.
//!
//! It then fails, printing the cycle, if any directory's graph has one, and fails if a module of
//! the pure half refers to a module of the running half. Every top-level module must be listed
//! in exactly one of the two sets below, so a new module has to be placed on purpose.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Formats and verification: what `--no-default-features` compiles.
const PURE: &[&str] = &[
    "bundle",
    "canonical",
    "chain",
    "json",
    "keys",
    "merkle",
    "note",
    "platform",
    "receipt",
    "seal",
    "verify",
    "workload",
];

/// Behind the `runtime` feature: it may use the pure half, never the other way round.
const RUNNING: &[&str] = &[
    "auditor", "capture", "config", "http", "install", "llm", "log", "metrics", "sink", "store",
    "tracker",
];

/// Sibling edges that are known cycles being removed; each is ignored until then. Entries:
/// (parent module, from, to). None are left.
const KNOWN: &[(&str, &str, &str)] = &[];

type ModPath = Vec<String>;

/// For each parent module, the edges between its children: parent -> (from -> {to}).
type Graphs = BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir` with its module path (`lib.rs` is the root, `foo/mod.rs` and
/// `foo.rs` are `foo`).
fn module_files(dir: &Path, prefix: &[String], out: &mut Vec<(ModPath, PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            let mut p = prefix.to_vec();
            p.push(name);
            module_files(&path, &p, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut p = prefix.to_vec();
            if !(stem == "mod" || (stem == "lib" && prefix.is_empty())) {
                p.push(stem.to_owned());
            }
            out.push((p, path));
        }
    }
}

/// The source with comments and string/char literals blanked out (newlines kept), so only code
/// is searched.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, s: &[u8]| {
        for &c in s {
            out.push(if c == b'\n' { '\n' } else { ' ' });
        }
    };
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, 0usize);
            loop {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if let Some(len) = raw_string_len(rest) {
            blank(&mut out, &rest[..len]);
            i += len;
        } else if rest[0] == b'"' || rest.starts_with(b"b\"") {
            let mut j = if rest[0] == b'"' { 1 } else { 2 };
            while rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, &rest[..=j]);
            i += j + 1;
        } else if let Some(len) = byte_literal_len(rest, b.get(i.wrapping_sub(1)).copied()) {
            blank(&mut out, &rest[..len]);
            i += len;
        } else if rest[0] == b'\'' && !is_ident_byte(b.get(i.wrapping_sub(1)).copied()) {
            // A char literal ('x', '\n', '\u{..}', '"') or a lifetime ('a).
            let len = if rest.get(1) == Some(&b'\\') {
                escaped_char_len(rest)
            } else {
                let ch = src[i + 1..].chars().next().unwrap().len_utf8();
                if rest.get(1 + ch) == Some(&b'\'') {
                    ch + 2
                } else {
                    1 // a lifetime: keep scanning after the quote
                }
            };
            blank(&mut out, &rest[..len]);
            i += len;
        } else {
            let ch = src[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The length of a char literal with an escape (`'\n'`, `'\''`, `'\u{1F600}'`) at the start of
/// `s`.
fn escaped_char_len(s: &[u8]) -> usize {
    if s.get(2) == Some(&b'u') {
        s.iter().position(|&c| c == b'}').unwrap() + 2
    } else if s.get(2) == Some(&b'x') {
        6
    } else {
        4
    }
}

/// The length of a byte literal (`b'x'`, `b'\''`) at the start of `s`, if one is there.
fn byte_literal_len(s: &[u8], before: Option<u8>) -> Option<usize> {
    if !s.starts_with(b"b'") || is_ident_byte(before) {
        return None;
    }
    Some(if s.get(2) == Some(&b'\\') {
        1 + escaped_char_len(&s[1..])
    } else {
        4
    })
}

fn is_ident_byte(b: Option<u8>) -> bool {
    b.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The length of a raw string literal (`r"…"`, `r#"…"#`, `br#"…"#`) at the start of `s`.
fn raw_string_len(s: &[u8]) -> Option<usize> {
    let start = if s.starts_with(b"br") {
        2
    } else if s.starts_with(b"r") {
        1
    } else {
        return None;
    };
    let hashes = s[start..].iter().take_while(|&&c| c == b'#').count();
    if s.get(start + hashes) != Some(&b'"') {
        return None;
    }
    let close: Vec<u8> = std::iter::once(b'"')
        .chain(std::iter::repeat_n(b'#', hashes))
        .collect();
    let body = start + hashes + 1;
    let end = s[body..].windows(close.len()).position(|w| w == close)?;
    Some(body + end + close.len())
}

/// One path reference found in code: how many `super`s (None: `crate::`), then the segments
/// that follow (a `{…}` group gives one reference per item).
#[derive(Debug)]
struct Reference {
    /// The inline modules (`mod tests { … }`) the reference sits in.
    inline: Vec<String>,
    supers: Option<usize>,
    segments: Vec<String>,
}

fn ident_at(s: &str, at: usize) -> Option<&str> {
    let len = s[at..]
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
        .count();
    (len > 0).then(|| &s[at..at + len])
}

/// Reads `a::b::{c, d::e}` at `at`: every path it names (without a trailing `*` or `self`).
fn read_paths(s: &str, at: usize, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let mut segs = prefix.to_vec();
    let mut i = at;
    loop {
        let rest = &s[i..];
        let ws = rest.len() - rest.trim_start().len();
        i += ws;
        if s[i..].starts_with('{') {
            i += 1;
            loop {
                let rest = &s[i..];
                i += rest.len() - rest.trim_start().len();
                if s[i..].starts_with('}') {
                    return i + 1;
                }
                i = read_paths(s, i, &segs, out);
                let rest = &s[i..];
                i += rest.len() - rest.trim_start().len();
                if s[i..].starts_with(',') {
                    i += 1;
                }
            }
        }
        match ident_at(s, i) {
            Some(id) => {
                i += id.len();
                if id != "self" {
                    segs.push(id.to_owned());
                }
                if s[i..].starts_with("::") {
                    i += 2;
                } else {
                    out.push(segs);
                    return i;
                }
            }
            None => {
                // `*`, `as`, generic arguments, …: the path so far.
                out.push(segs);
                return i;
            }
        }
    }
}

/// Every `crate::…` and `super::…` reference in `code`, with the inline modules it sits in.
fn references(code: &str) -> Vec<Reference> {
    let mut refs = Vec::new();
    // Inline modules: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_mod: Option<String> = None;
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'{' {
            depth += 1;
            if let Some(name) = pending_mod.take() {
                inline.push((name, depth));
            }
            i += 1;
            continue;
        }
        if c == b'}' {
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
            depth -= 1;
            i += 1;
            continue;
        }
        if c == b';' {
            pending_mod = None;
        }
        if is_ident_byte(i.checked_sub(1).map(|p| bytes[p])) || !c.is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let Some(id) = ident_at(code, i) else {
            i += 1;
            continue;
        };
        let after = i + id.len();
        let preceded_by_path = i >= 2 && &code[i - 2..i] == "::";
        if id == "mod" {
            let rest = &code[after..];
            let ws = rest.len() - rest.trim_start().len();
            pending_mod = ident_at(code, after + ws).map(str::to_owned);
        } else if (id == "crate" || id == "super") && !preceded_by_path {
            let mut supers = 0;
            let mut j = i;
            let mut is_crate = false;
            loop {
                match ident_at(code, j) {
                    Some("super") if code[j + 5..].starts_with("::") => {
                        supers += 1;
                        j += 7;
                    }
                    Some("crate") if supers == 0 && code[j + 5..].starts_with("::") => {
                        is_crate = true;
                        j += 7;
                        break;
                    }
                    _ => break,
                }
            }
            if is_crate || supers > 0 {
                let mut paths = Vec::new();
                let end = read_paths(code, j, &[], &mut paths);
                for segments in paths {
                    refs.push(Reference {
                        inline: inline.iter().map(|(n, _)| n.clone()).collect(),
                        supers: (!is_crate).then_some(supers),
                        segments,
                    });
                }
                i = end.max(after);
                continue;
            }
        }
        i = after;
    }
    refs
}

/// The items the crate root re-exports (`pub use module::{Item, …}`), by name.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let code = code_only(lib);
    let mut items = BTreeMap::new();
    for (at, _) in code.match_indices("pub use ") {
        let mut paths = Vec::new();
        read_paths(&code, at + "pub use ".len(), &[], &mut paths);
        for p in paths {
            if let (Some(module), Some(item)) = (p.first(), p.last())
                && p.len() >= 2
            {
                items.insert(item.clone(), module.clone());
            }
        }
    }
    items
}

/// Builds the sibling graphs of every module directory.
fn build_graphs() -> Graphs {
    let mut files = Vec::new();
    module_files(&src_dir(), &[], &mut files);
    let modules: BTreeSet<ModPath> = files.iter().map(|(p, _)| p.clone()).collect();
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    let reexports = root_reexports(&lib);
    let mut graphs = Graphs::new();
    for (path, file) in &files {
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for r in references(&code) {
            let here: ModPath = path.iter().chain(&r.inline).cloned().collect();
            let base: ModPath = match r.supers {
                None => Vec::new(),
                Some(n) if n <= here.len() => here[..here.len() - n].to_vec(),
                Some(_) => panic!("{}: too many `super`s", file.display()),
            };
            let mut full = base.clone();
            full.extend(r.segments.iter().cloned());
            // The longest prefix that is a module (of a file), or a root re-export's module.
            let target: ModPath = if base.is_empty()
                && r.segments.len() == 1
                && let Some(module) = reexports.get(&r.segments[0])
            {
                vec![module.clone()]
            } else {
                (0..=full.len())
                    .rev()
                    .map(|n| full[..n].to_vec())
                    .find(|p| modules.contains(p))
                    .unwrap_or_default()
            };
            let common = here.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common == here.len() || common == target.len() {
                continue; // an ancestor's items, or our own descendants
            }
            graphs
                .entry(here[..common].to_vec())
                .or_default()
                .entry(here[common].clone())
                .or_default()
                .insert(target[common].clone());
        }
    }
    graphs
}

/// A cycle of `graph`, if it has one (as the list of nodes, the first repeated at the end).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = stack.iter().position(|n| n == node).unwrap();
                let mut cycle = stack[from..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut marks, &mut Vec::new()))
}

fn without_known(mut graphs: Graphs) -> Graphs {
    for (parent, from, to) in KNOWN {
        let parent: ModPath = parent.split("::").map(str::to_owned).collect();
        if let Some(targets) = graphs.get_mut(&parent).and_then(|g| g.get_mut(*from)) {
            targets.remove(*to);
        }
    }
    graphs
}

fn name(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

/// One cycle through each group of mutually dependent nodes (strongly connected component) of
/// `graph`: every cycle the graph has runs inside one of them.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(n) = todo.pop() {
            for next in graph.get(&n).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|n| (n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for (n, from_n) in &reachable {
        if done.contains(*n) || !from_n.contains(*n) {
            continue;
        }
        let group: BTreeSet<&String> = from_n
            .iter()
            .filter(|m| reachable.get(m).is_some_and(|r| r.contains(*n)))
            .collect();
        let within: BTreeMap<String, BTreeSet<String>> = group
            .iter()
            .map(|m| {
                let to = graph[*m].iter().filter(|t| group.contains(t)).cloned();
                ((*m).clone(), to.collect())
            })
            .collect();
        out.extend(find_cycle(&within));
        done.extend(group.into_iter().cloned());
    }
    out
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graphs = without_known(build_graphs());
    let cycles: Vec<String> = graphs
        .iter()
        .flat_map(|(parent, g)| {
            cycles(g)
                .into_iter()
                .map(move |c| format!("in {}: {}", name(parent), c.join(" -> ")))
        })
        .collect();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_pure_half_never_refers_to_the_running_half() {
    let graphs = build_graphs();
    let top = graphs.get(&Vec::new()).cloned().unwrap_or_default();
    let mut files = Vec::new();
    module_files(&src_dir(), &[], &mut files);
    let tops: BTreeSet<&str> = files
        .iter()
        .filter_map(|(p, _)| p.first().map(String::as_str))
        .collect();
    for m in &tops {
        assert!(
            PURE.contains(m) != RUNNING.contains(m),
            "top-level module `{m}` must be listed in exactly one of PURE and RUNNING"
        );
    }
    let wrong: Vec<String> = top
        .iter()
        .filter(|(from, _)| PURE.contains(&from.as_str()))
        .flat_map(|(from, to)| {
            to.iter()
                .filter(|t| RUNNING.contains(&t.as_str()))
                .map(move |t| format!("{from} -> {t}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "pure modules refer to running ones:\n{}",
        wrong.join("\n")
    );
}

/// Prints the graph (`cargo test --test module_graph -- --nocapture print`).
#[test]
fn print_the_module_graph() {
    for (parent, g) in build_graphs() {
        for (from, to) in g {
            let to: Vec<_> = to.into_iter().collect();
            println!("{}: {from} -> {}", name(&parent), to.join(", "));
        }
    }
}

fn graph(edges: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, b) in edges {
        g.entry((*a).to_owned())
            .or_default()
            .insert((*b).to_owned());
        g.entry((*b).to_owned()).or_default();
    }
    g
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_accepts_a_dag() {
    let dag = graph(&[("a", "b"), ("b", "c"), ("a", "c"), ("d", "c")]);
    assert_eq!(find_cycle(&dag), None);
    let cyclic = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]);
    assert_eq!(
        find_cycle(&cyclic),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let self_loop = graph(&[("x", "x")]);
    assert_eq!(find_cycle(&self_loop), Some(vec!["x".into(), "x".into()]));
    // Two separate cycles are both reported; a DAG has none.
    let two = graph(&[("a", "b"), ("b", "a"), ("b", "c"), ("c", "d"), ("d", "c")]);
    let found: Vec<String> = cycles(&two).iter().map(|c| c.join(" -> ")).collect();
    assert_eq!(found, ["a -> b -> a", "c -> d -> c"]);
    assert!(cycles(&dag).is_empty());
}

#[test]
fn references_are_read_from_code_not_from_comments_or_strings() {
    let src = r#"
        use crate::receipt::Receipt;
        use super::{alpha, beta::{Gamma, self}};
        // use crate::commented;
        /// [`crate::doc_link`]
        const S: &str = "crate::in_a_string";
        const R: &str = r"crate::in_a_raw_string";
        const C: char = '"';
        const B: [u8; 2] = [b'{', b'\''];
        const D: char = '\'';
        fn f<'a>(x: &'a str) { crate::inline::call(x); super::super::up::g(); }
        mod tests { use super::delta; }
    "#;
    let code = code_only(src);
    let refs: Vec<(Vec<String>, Option<usize>, String)> = references(&code)
        .into_iter()
        .map(|r| (r.inline, r.supers, r.segments.join("::")))
        .collect();
    let want: Vec<(Vec<String>, Option<usize>, String)> = vec![
        (vec![], None, "receipt::Receipt".into()),
        (vec![], Some(1), "alpha".into()),
        (vec![], Some(1), "beta::Gamma".into()),
        (vec![], Some(1), "beta".into()),
        (vec![], None, "inline::call".into()),
        (vec![], Some(2), "up::g".into()),
        (vec!["tests".into()], Some(1), "delta".into()),
    ];
    assert_eq!(refs, want);
}
