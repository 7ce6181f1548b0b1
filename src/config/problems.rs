//! Finding every configuration mistake at once and saying where each one is
//! (docs/configuration.md#errors): the file and line of a TOML key, the name of a `MUNJI_*`
//! variable.
//!
//! serde stops at the first bad value, so [`Layers::extract`] takes a refused key out of the
//! layer that set it (the default then applies) and tries again, until the rest parses.

use std::path::Path;

use anyhow::{Context as _, bail};
use figment::{
    Figment, Provider as _,
    error::{Actual, Kind},
    providers::{Format as _, Serialized, Toml},
    value::{Dict, Value},
};
use serde::de::DeserializeOwned;

/// How many mistakes are looked for before giving up on finding more.
const MAX_PROBLEMS: usize = 50;

/// One mistake: the key it is about (path segments, array indices as numbers) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: Vec<String>,
    pub message: String,
}

impl Problem {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        Self { key: key.split('.').map(str::to_owned).collect(), message: message.into() }
    }

    /// The key as an operator writes it: `rate_limits.pages`, `clients[1].secret`.
    fn key_text(&self) -> String {
        let mut text = String::new();
        for segment in &self.key {
            if segment.parse::<usize>().is_ok() {
                text.push_str(&format!("[{segment}]"));
            } else {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(segment);
            }
        }
        text
    }
}

/// The TOML file (its values and, for line numbers, its text) and the `MUNJI_*` variables.
pub struct Layers {
    defaults: Dict,
    file: Option<File>,
    /// `(variable name, key path, value)`.
    env: Vec<(String, Vec<String>, String)>,
}

struct File {
    shown: String,
    document: toml_edit::ImDocument<String>,
    values: Dict,
}

impl Layers {
    pub fn read(defaults: &str, file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Self> {
        let defaults = Toml::string(defaults).data().context("the built-in defaults")?.remove(&Default::default());
        let file = file.map(File::read).transpose()?;
        let env = env
            .iter()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix("MUNJI_").filter(|k| !k.is_empty())?;
                let path = key.to_lowercase().split("__").map(str::to_owned).collect();
                Some((name.clone(), path, value.clone()))
            })
            .collect();
        Ok(Self { defaults: defaults.unwrap_or_default(), file, env })
    }

    /// Deserialize defaults < file < environment, collecting every key refused on the way.
    /// `Ok` holds a value only when nothing was refused.
    pub fn extract<T: DeserializeOwned>(&self) -> (Option<T>, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut dropped: Vec<Vec<String>> = Vec::new();
        loop {
            match self.figment(&dropped).extract::<T>() {
                Ok(value) => return (problems.is_empty().then_some(value), problems),
                Err(errors) => {
                    let before = problems.len();
                    for error in errors {
                        let (problem, drop) = from_figment(&error);
                        if dropped.iter().any(|d| drop.starts_with(d)) || drop.is_empty() {
                            // Taking it out again would change nothing: report it and stop.
                            problems.push(problem);
                            return (None, problems);
                        }
                        dropped.push(drop);
                        problems.push(problem);
                    }
                    if problems.len() == before || problems.len() >= MAX_PROBLEMS {
                        return (None, problems);
                    }
                }
            }
        }
    }

    fn figment(&self, dropped: &[Vec<String>]) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(&self.defaults));
        if let Some(file) = &self.file {
            let mut values = Value::from(file.values.clone());
            for path in dropped {
                remove(&mut values, path);
            }
            figment = figment.merge(Serialized::defaults(values));
        }
        // Values stay strings (a numeric-looking secret stays a string), unlike figment's `Env`.
        for (_, path, value) in &self.env {
            if !dropped.iter().any(|d| path.starts_with(d)) {
                figment = figment.merge(Serialized::default(&path.join("."), value));
            }
        }
        figment
    }

    /// Every problem on its own line, each naming where its key was set: the file's in the order
    /// of its lines, then the environment's, then the rest.
    pub fn report(&self, problems: &[Problem]) -> String {
        let mut lines: Vec<_> = problems.iter().map(|p| self.describe(p)).collect();
        lines.sort_by_key(|(order, _)| *order);
        match lines.as_slice() {
            [(_, one)] => one.clone(),
            many => format!(
                "{} configuration errors:\n  {}",
                many.len(),
                many.iter().map(|(_, line)| line.as_str()).collect::<Vec<_>>().join("\n  ")
            ),
        }
    }

    fn describe(&self, problem: &Problem) -> ((u8, usize), String) {
        let key = problem.key_text();
        let message = &problem.message;
        // Env overrides the file, so a variable that sets the key (or a table around it) is where
        // its value came from.
        let var =
            self.env.iter().rev().find(|(_, path, _)| problem.key.starts_with(path) || path.starts_with(&problem.key));
        if let Some((name, _, _)) = var {
            return ((1, 0), format!("config key `{key}` (env {name}): {message}"));
        }
        match self.file.as_ref().and_then(|file| Some((file, file.line_of(&problem.key)?))) {
            Some((file, line)) => ((0, line), format!("config key `{key}` ({} line {line}): {message}", file.shown)),
            None => ((2, 0), format!("config key `{key}`: {message}")),
        }
    }
}

impl File {
    fn read(path: &Path) -> anyhow::Result<Self> {
        let shown = path.display().to_string();
        if !path.is_file() {
            bail!("config file {shown} does not exist");
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {shown}"))?;
        let document = toml_edit::ImDocument::parse(text.clone())
            .map_err(|e| anyhow::anyhow!("config file {shown} is not valid TOML: {}", e.to_string().trim_end()))?;
        let values = Toml::string(&text)
            .data()
            .map_err(|e| anyhow::anyhow!("config file {shown} is not valid TOML: {e}"))?
            .remove(&Default::default())
            .unwrap_or_default();
        Ok(Self { shown, document, values })
    }

    /// The line of the deepest part of `key` that the file writes.
    fn line_of(&self, key: &[String]) -> Option<usize> {
        enum Node<'a> {
            Item(&'a toml_edit::Item),
            Table(&'a toml_edit::Table),
            Value(&'a toml_edit::Value),
        }
        let mut node = Node::Item(self.document.as_item());
        let mut offset = None;
        for segment in key {
            let table = match node {
                Node::Item(item) => item.as_table_like(),
                Node::Table(table) => Some(table as &dyn toml_edit::TableLike),
                Node::Value(value) => value.as_inline_table().map(|t| t as &dyn toml_edit::TableLike),
            };
            if let Some(table) = table {
                let Some((k, item)) = table.get_key_value(segment) else { break };
                offset = k.span().map(|s| s.start).or(offset);
                node = Node::Item(item);
                continue;
            }
            let Ok(index) = segment.parse::<usize>() else { break };
            node = match node {
                Node::Item(toml_edit::Item::ArrayOfTables(tables)) => {
                    let Some(table) = tables.get(index) else { break };
                    offset = table.span().map(|s| s.start).or(offset);
                    Node::Table(table)
                }
                Node::Item(toml_edit::Item::Value(toml_edit::Value::Array(array)))
                | Node::Value(toml_edit::Value::Array(array)) => {
                    let Some(value) = array.get(index) else { break };
                    offset = value.span().map(|s| s.start).or(offset);
                    Node::Value(value)
                }
                _ => break,
            };
        }
        let offset = offset?;
        Some(self.document.raw()[..offset].matches('\n').count() + 1)
    }
}

/// The problem a figment error describes, and the key to take out before trying again.
fn from_figment(error: &figment::Error) -> (Problem, Vec<String>) {
    let mut key = error.path.clone();
    let message = match &error.kind {
        Kind::Message(message) => message.clone(),
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            format!("expected {expected}, found {}", show(actual))
        }
        Kind::InvalidLength(n, expected) => format!("expected {expected}, found {n} item(s)"),
        Kind::UnknownVariant(found, expected) => format!("{found:?} is not one of {}", quoted(expected)),
        Kind::UnknownField(found, expected) => unknown_key(found, expected),
        Kind::MissingField(name) => {
            key.push(name.to_string());
            "is required".to_owned()
        }
        Kind::DuplicateField(name) => format!("`{name}` appears twice"),
        other => other.to_string(),
    };
    // A missing key is taken out with the table it belongs in; an array element with its array,
    // so that the indices of the other elements keep naming what the file says.
    let mut drop = if matches!(error.kind, Kind::MissingField(_)) { error.path.clone() } else { key.clone() };
    while drop.last().is_some_and(|s| s.parse::<usize>().is_ok()) {
        drop.pop();
    }
    (Problem { key, message }, drop)
}

fn show(actual: &Actual) -> String {
    match actual {
        Actual::Str(text) => format!("{text:?}"),
        Actual::Bool(b) => b.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        Actual::Seq => "a list".to_owned(),
        Actual::Map => "a table".to_owned(),
        other => other.to_string(),
    }
}

fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// "there is no such key", with the closest known key when one is a likely typo.
fn unknown_key(found: &str, expected: &[&str]) -> String {
    let closest = expected.iter().map(|e| (edit_distance(found, e), e)).min();
    match closest {
        Some((distance, name)) if distance <= 2.max(found.len() / 4) => {
            format!("there is no such key; did you mean `{name}`?")
        }
        _ => format!(
            "there is no such key; the keys here are {}",
            expected.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Levenshtein distance, on characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Take the value at `path` out of `value` (nothing happens where the path leads nowhere).
fn remove(value: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else { return };
    match value {
        Value::Dict(_, dict) if rest.is_empty() => {
            dict.remove(first);
        }
        Value::Dict(_, dict) => {
            if let Some(inner) = dict.get_mut(first) {
                remove(inner, rest);
            }
        }
        Value::Array(_, items) if !rest.is_empty() => {
            if let Some(inner) = first.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                remove(inner, rest);
            }
        }
        _ => {}
    }
}
