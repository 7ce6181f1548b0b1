//! The shape of the code, checked: modules do not import each other in a cycle, and nothing
//! below `src/http/` imports from it (the core knows nothing of HTTP; see CONTRIBUTING.md). The
//! only modules above HTTP are the ones that assemble the program: `startup` (it builds the
//! server) and `cli` (`munji openapi` prints the HTTP API's document).
//!
//! The module graph is read from the source: one node per module file (`src/a/b.rs` is
//! `crate::a::b`), one edge per `crate::…` or `super::…` path a file names (in `use` trees and in
//! code), pointing at the deepest module that path reaches. Edges between a module and its own
//! ancestors or descendants are the tree itself (a parent mounts its children, children use the
//! parent's types) and are not counted; any other cycle is a failure.

// Tests fail by panicking: unwrap, expect and panic are how they report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

type Module = Vec<String>;

fn module_of(src: &Path, file: &Path) -> Option<Module> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    match parts.as_slice() {
        [only] if only == "lib" => Some(vec![]),
        [only] if only == "main" => None,
        _ => Some(parts),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and string literals (a path in a doc comment is no import).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if !escaped && c == '"' {
                        break;
                    }
                    escaped = !escaped && c == '\\';
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path the code names that starts with `crate` or `super`, with `use` trees expanded.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let tokens = tokenize(code);
    let mut paths = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if (tokens[i] == "crate" || tokens[i] == "super") && (i == 0 || tokens[i - 1] != "::") {
            let (mut found, next) = parse_tree(&tokens, i, vec![]);
            paths.append(&mut found);
            i = next.max(i + 1);
        } else {
            i += 1;
        }
    }
    paths
}

fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = code.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_alphanumeric() || c == '_' {
            let mut word = String::new();
            while let Some(&c) = chars.peek().filter(|c| c.is_alphanumeric() || **c == '_') {
                word.push(c);
                chars.next();
            }
            tokens.push(word);
        } else if c == ':' {
            chars.next();
            if chars.peek() == Some(&':') {
                chars.next();
                tokens.push("::".into());
            } else {
                tokens.push(":".into());
            }
        } else {
            chars.next();
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
        }
    }
    tokens
}

/// Read a path (or a `{…}` tree of them) starting at `tokens[i]`, prefixed by `prefix`.
fn parse_tree(tokens: &[String], mut i: usize, mut prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    loop {
        match tokens.get(i).map(String::as_str) {
            Some("{") => {
                let mut paths = Vec::new();
                i += 1;
                while tokens.get(i).is_some_and(|t| t != "}") {
                    if tokens[i] == "," {
                        i += 1;
                        continue;
                    }
                    let (mut found, next) = parse_tree(tokens, i, prefix.clone());
                    paths.append(&mut found);
                    i = next;
                }
                return (paths, i + 1);
            }
            Some(word) if word.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                prefix.push(word.to_owned());
                i += 1;
                if tokens.get(i).map(String::as_str) == Some("::") {
                    i += 1;
                } else {
                    return (vec![prefix], i);
                }
            }
            _ => return (vec![prefix], i),
        }
    }
}

/// The deepest known module a path from `from` reaches.
fn target(from: &Module, path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    let mut absolute: Module = match path.first().map(String::as_str) {
        Some("crate") => vec![],
        Some("super") => from.clone(),
        _ => return None,
    };
    let mut rest = &path[1..];
    if path[0] == "super" {
        absolute.pop();
        while rest.first().is_some_and(|p| p == "super") {
            absolute.pop();
            rest = &rest[1..];
        }
    }
    let mut deepest = None;
    for part in rest {
        absolute.push(part.clone());
        if modules.contains(&absolute) {
            deepest = Some(absolute.clone());
        }
    }
    deepest
}

fn related(a: &Module, b: &Module) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let sources: Vec<(Module, String)> = files
        .iter()
        .filter_map(|f| Some((module_of(&src, f)?, code_only(&std::fs::read_to_string(f).unwrap()))))
        .collect();
    let modules: BTreeSet<Module> = sources.iter().map(|(m, _)| m.clone()).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, code) in &sources {
        let targets = edges.entry(module.clone()).or_default();
        for path in named_paths(code) {
            if let Some(to) = target(module, &path, &modules).filter(|to| !related(module, to)) {
                targets.insert(to);
            }
        }
    }
    edges
}

fn name(module: &Module) -> String {
    if module.is_empty() { "crate".into() } else { module.join("::") }
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Module) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(name(w));
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on_stack: BTreeSet::new(),
        found: vec![],
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn no_module_imports_another_in_a_cycle() {
    let edges = graph();
    assert!(edges.len() > 50, "the source was not read: {} modules", edges.len());
    let found = cycles(&edges);
    assert!(found.is_empty(), "modules that import each other in a cycle: {found:#?}");
}

/// The modules that assemble the program, and so may know HTTP.
const ABOVE_HTTP: [&str; 2] = ["startup", "cli"];

#[test]
fn nothing_below_http_imports_from_http() {
    let http: Module = vec!["http".into()];
    let above = |m: &Module| m.is_empty() || m.first().is_some_and(|top| ABOVE_HTTP.contains(&top.as_str()));
    let offenders: Vec<String> = graph()
        .iter()
        .filter(|(from, _)| !from.starts_with(&http) && !above(from))
        .flat_map(|(from, to)| {
            to.iter().filter(|t| t.starts_with(&http)).map(move |t| format!("{} → {}", name(from), name(t)))
        })
        .collect();
    assert!(offenders.is_empty(), "core modules that import from http: {offenders:#?}");
}

#[test]
fn the_reader_sees_use_trees_and_skips_comments() {
    let code = code_only("use crate::{a::{b, c::D}, e};\n// crate::commented::out\nlet x = super::f::g();\"crate::s\"");
    let paths = named_paths(&code);
    let strings: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(strings, ["crate::a::b", "crate::a::c::D", "crate::e", "super::f::g"]);
}
