//! Validation at save time: every problem of a document, each with its location.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use super::gvinum::interactive_content;
use super::template::{BUILTIN_ROOTS, placeholders};
use crate::model::flow::{
    Condition, Flow, FlowDocument, FlowMessage, FlowNode, InputSpec, escape_pointer,
};
use crate::{Error, Result};

/// How bad an [`Issue`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The flow cannot be activated.
    Error,
    /// Worth a look; activation is allowed.
    Warning,
}

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IssueKind {
    /// The start node does not exist.
    MissingStart,
    /// An edge names a node that does not exist.
    MissingTarget,
    /// No path from the start reaches the node.
    Unreachable,
    /// A cycle of nodes that never wait for input (it would spin until the step limit).
    CycleWithoutInput,
    /// A placeholder or condition names a variable that is never declared or assigned.
    UndefinedVariable,
    /// A regular expression does not compile.
    InvalidRegex,
    /// Content breaks one of Meta's limits (3 buttons, 20-character titles, 4,096 characters).
    ContentLimit,
    /// A duration is malformed or outside 30 s–23 h.
    InvalidDuration,
    /// An HTTP node's URL is malformed, not http(s), or has a placeholder before the path.
    InvalidUrl,
    /// An HTTP method other than GET, POST, PUT, PATCH, DELETE.
    InvalidMethod,
    /// A JSON Pointer in `save` is malformed.
    InvalidPointer,
    /// Two options of a node fold to the same answer.
    DuplicateOption,
    /// A condition is malformed (a comparison without a value).
    InvalidCondition,
}

/// One problem, located by a JSON Pointer into the document (`/nodes/menu/options/2`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Issue {
    /// Error or warning.
    pub severity: Severity,
    /// What kind of problem.
    pub kind: IssueKind,
    /// Where.
    pub pointer: String,
    /// In words.
    pub message: String,
}

/// Parses a duration `30s`, `10m`, `2h` or `1d` (also `90` = seconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().ok()?;
    let secs = match unit.trim() {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

struct Checker<'a> {
    doc: &'a FlowDocument,
    issues: Vec<Issue>,
    assigned: BTreeSet<&'a str>,
}

impl Checker<'_> {
    fn push(&mut self, severity: Severity, kind: IssueKind, pointer: String, message: String) {
        self.issues.push(Issue {
            severity,
            kind,
            pointer,
            message,
        });
    }

    fn error(&mut self, kind: IssueKind, pointer: String, message: String) {
        self.push(Severity::Error, kind, pointer, message);
    }

    fn check_template(&mut self, text: &str, pointer: &str) {
        for name in placeholders(text) {
            let root = name.split('.').next().unwrap_or(name).trim();
            if !self.assigned.contains(root) && !BUILTIN_ROOTS.contains(&root) {
                self.error(
                    IssueKind::UndefinedVariable,
                    pointer.to_owned(),
                    format!("variable {name:?} is never declared or assigned"),
                );
            }
        }
    }

    /// Every string leaf of a JSON value is a template.
    fn check_json_templates(&mut self, value: &Value, pointer: &str) {
        match value {
            Value::String(s) => self.check_template(s, pointer),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.check_json_templates(item, &format!("{pointer}/{i}"));
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    self.check_json_templates(item, &format!("{pointer}/{}", escape_pointer(key)));
                }
            }
            _ => {}
        }
    }

    fn check_message(&mut self, message: &FlowMessage, pointer: &str) {
        match message {
            FlowMessage::Text(text) => {
                self.check_template(text, pointer);
                if text.chars().count() > 4096 {
                    self.error(
                        IssueKind::ContentLimit,
                        pointer.to_owned(),
                        "text is over 4,096 characters".into(),
                    );
                }
            }
            FlowMessage::Content(content) => {
                if let Err(e) = content.validate() {
                    self.error(IssueKind::ContentLimit, pointer.to_owned(), e.to_string());
                }
                if let Ok(value) = serde_json::to_value(content) {
                    self.check_json_templates(&value, pointer);
                }
            }
        }
    }

    fn check_duplicate_options(&mut self, options: &BTreeMap<String, String>, pointer: &str) {
        let mut seen = BTreeMap::new();
        for key in options.keys() {
            if let Some(first) = seen.insert(super::fold(key), key) {
                self.error(
                    IssueKind::DuplicateOption,
                    format!("{pointer}/options/{}", escape_pointer(key)),
                    format!("answers {first:?} and {key:?} are the same once folded"),
                );
            }
        }
    }

    fn check_regex(&mut self, pattern: &str, pointer: String) {
        if let Err(e) = regex::Regex::new(pattern) {
            self.error(IssueKind::InvalidRegex, pointer, e.to_string());
        }
    }

    fn check_condition(&mut self, condition: &Condition, pointer: &str) {
        match condition {
            Condition::All { all: items } | Condition::Any { any: items } => {
                let key = if matches!(condition, Condition::All { .. }) {
                    "all"
                } else {
                    "any"
                };
                for (i, item) in items.iter().enumerate() {
                    self.check_condition(item, &format!("{pointer}/{key}/{i}"));
                }
            }
            Condition::Compare { var, op, value } => {
                self.check_template(&format!("{{{{{var}}}}}"), &format!("{pointer}/var"));
                use crate::model::flow::CompareOp::*;
                match (op, value) {
                    (Exists | Empty, _) => {}
                    (_, None) => self.error(
                        IssueKind::InvalidCondition,
                        pointer.to_owned(),
                        format!("{op:?} needs a value"),
                    ),
                    (Matches, Some(Value::String(pattern))) => {
                        self.check_regex(pattern, format!("{pointer}/value"));
                    }
                    (Matches, Some(_)) => self.error(
                        IssueKind::InvalidRegex,
                        format!("{pointer}/value"),
                        "a pattern must be a string".into(),
                    ),
                    (_, Some(value)) => {
                        self.check_json_templates(value, &format!("{pointer}/value"));
                    }
                }
            }
        }
    }

    fn check_url(&mut self, url: &str, pointer: String) {
        let (scheme, rest) = match url.split_once("://") {
            Some(parts) => parts,
            None => {
                self.error(
                    IssueKind::InvalidUrl,
                    pointer,
                    format!("{url:?} is not a URL"),
                );
                return;
            }
        };
        if !matches!(scheme, "http" | "https") {
            self.error(
                IssueKind::InvalidUrl,
                pointer,
                format!("scheme {scheme:?} is not http(s)"),
            );
            return;
        }
        // Placeholders may only come after the host: the host must be literal so that it can be
        // checked now and cannot be steered by what a user types.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if rest[..authority_end].contains("{{") {
            self.error(
                IssueKind::InvalidUrl,
                pointer.clone(),
                "placeholders are not allowed in the host".into(),
            );
        }
        let host = rest[..authority_end].rsplit('@').next().unwrap_or_default();
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]{} ".contains(c));
        if !host_ok || url.contains(char::is_whitespace) && !url.contains("{{") {
            self.error(
                IssueKind::InvalidUrl,
                pointer.clone(),
                format!("{url:?} does not parse"),
            );
        }
        self.check_template(url, &pointer);
    }

    fn check_node(&mut self, name: &str, node: &FlowNode) {
        let at = format!("/nodes/{}", escape_pointer(name));
        for (field, target) in node.edges() {
            if !self.doc.nodes.contains_key(target) {
                self.error(
                    IssueKind::MissingTarget,
                    format!("{at}/{field}"),
                    format!("node {target:?} does not exist"),
                );
            }
        }
        match node {
            FlowNode::Text {
                content, options, ..
            } => {
                self.check_message(
                    &FlowMessage::Text(content.clone()),
                    &format!("{at}/content"),
                );
                self.check_duplicate_options(options, &at);
            }
            FlowNode::Interactive {
                content, options, ..
            } => {
                match interactive_content(content) {
                    Ok(content) => {
                        self.check_message(
                            &FlowMessage::Content(content),
                            &format!("{at}/content"),
                        );
                    }
                    Err(e) => self.error(
                        IssueKind::ContentLimit,
                        format!("{at}/content"),
                        e.to_string(),
                    ),
                }
                self.check_duplicate_options(options, &at);
            }
            FlowNode::Send {
                message, messages, ..
            } => {
                if let Some(message) = message {
                    self.check_message(message, &format!("{at}/message"));
                }
                for (i, message) in messages.iter().enumerate() {
                    self.check_message(message, &format!("{at}/messages/{i}"));
                }
            }
            FlowNode::Ask {
                message,
                input,
                options,
                retry,
                timeout,
                ..
            } => {
                self.check_message(message, &format!("{at}/message"));
                if let Some(message) = &retry.message {
                    self.check_message(message, &format!("{at}/retry/message"));
                }
                if let InputSpec::Regex { pattern } = input {
                    self.check_regex(pattern, format!("{at}/input/pattern"));
                }
                if matches!(input, InputSpec::Choice) && options.is_empty() {
                    self.error(
                        IssueKind::MissingTarget,
                        format!("{at}/options"),
                        "a choice needs options".into(),
                    );
                }
                self.check_duplicate_options(options, &at);
                if let Some(timeout) = timeout {
                    let ok = parse_duration(&timeout.after)
                        .is_some_and(|d| (30..=23 * 3600).contains(&d.as_secs()));
                    if !ok {
                        self.error(
                            IssueKind::InvalidDuration,
                            format!("{at}/timeout/after"),
                            format!("{:?} is not a duration between 30s and 23h", timeout.after),
                        );
                    }
                }
            }
            FlowNode::Set { vars, .. } => {
                for (key, value) in vars {
                    self.check_json_templates(value, &format!("{at}/vars/{}", escape_pointer(key)));
                }
            }
            FlowNode::Condition { branches, .. } => {
                for (i, branch) in branches.iter().enumerate() {
                    self.check_condition(&branch.when, &format!("{at}/branches/{i}/when"));
                }
            }
            FlowNode::Http {
                method,
                url,
                headers,
                body,
                save,
                ..
            } => {
                if !matches!(
                    method.to_ascii_uppercase().as_str(),
                    "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
                ) {
                    self.error(
                        IssueKind::InvalidMethod,
                        format!("{at}/method"),
                        format!("{method:?}"),
                    );
                }
                self.check_url(url, format!("{at}/url"));
                for (key, value) in headers {
                    self.check_template(value, &format!("{at}/headers/{}", escape_pointer(key)));
                }
                if let Some(body) = body {
                    self.check_json_templates(body, &format!("{at}/body"));
                }
                for (var, pointer) in save {
                    if !(pointer.is_empty() || pointer.starts_with('/')) {
                        self.error(
                            IssueKind::InvalidPointer,
                            format!("{at}/save/{}", escape_pointer(var)),
                            format!("{pointer:?} is not a JSON Pointer"),
                        );
                    }
                }
            }
            FlowNode::Handoff { message, .. } | FlowNode::End { message, .. } => {
                if let Some(message) = message {
                    self.check_message(message, &format!("{at}/message"));
                }
            }
            FlowNode::Jump { .. } => {}
        }
    }
}

/// Whether the engine stops at the node (for the input-less cycle check).
fn stops(node: &FlowNode) -> bool {
    node.waits_for_input() || matches!(node, FlowNode::Handoff { .. } | FlowNode::End { .. })
}

/// Strongly connected components of the non-waiting subgraph with a cycle (Tarjan).
fn input_less_cycles(doc: &FlowDocument) -> Vec<Vec<String>> {
    let names: Vec<&str> = doc
        .nodes
        .iter()
        .filter(|(_, n)| !stops(n))
        .map(|(k, _)| k.as_str())
        .collect();
    let index_of: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let succ: Vec<Vec<usize>> = names
        .iter()
        .map(|n| {
            doc.nodes[*n]
                .edges()
                .into_iter()
                .filter_map(|(_, t)| index_of.get(t).copied())
                .collect()
        })
        .collect();
    struct Tarjan<'s> {
        succ: &'s [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        found: Vec<Vec<usize>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: usize) {
            self.index[v] = Some(self.next);
            self.low[v] = self.next;
            self.next += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for &w in &self.succ[v] {
                match self.index[w] {
                    None => {
                        self.visit(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 || self.succ[v].contains(&v) {
                    self.found.push(component);
                }
            }
        }
    }
    let n = names.len();
    let mut t = Tarjan {
        succ: &succ,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            t.visit(v);
        }
    }
    t.found
        .into_iter()
        .map(|c| {
            let mut names: Vec<String> = c.into_iter().map(|i| names[i].to_owned()).collect();
            names.sort();
            names
        })
        .collect()
}

/// Every problem of a document, errors first, each located by a JSON Pointer.
///
/// Errors: missing start or targets, loops that never wait for input, undefined variables,
/// content over Meta's limits, invalid regexes, durations, URLs (placeholders in the host),
/// methods, pointers and conditions, duplicate options. Warnings: unreachable nodes.
pub fn validate(doc: &FlowDocument) -> Vec<Issue> {
    let mut assigned: BTreeSet<&str> = doc.vars.keys().map(String::as_str).collect();
    for node in doc.nodes.values() {
        match node {
            FlowNode::Ask {
                save_as: Some(name),
                ..
            } => {
                assigned.insert(name.as_str());
            }
            FlowNode::Set { vars, .. } => assigned.extend(vars.keys().map(String::as_str)),
            FlowNode::Http { save, .. } => assigned.extend(save.keys().map(String::as_str)),
            _ => {}
        }
    }
    let mut checker = Checker {
        doc,
        issues: Vec::new(),
        assigned,
    };
    if !doc.nodes.contains_key(&doc.start) {
        checker.error(
            IssueKind::MissingStart,
            "/start".into(),
            format!("start node {:?} does not exist", doc.start),
        );
    }
    if let Some(target) = &doc.settings.on_window_closed
        && !doc.nodes.contains_key(target)
    {
        checker.error(
            IssueKind::MissingTarget,
            "/settings/on_window_closed".into(),
            format!("node {target:?} does not exist"),
        );
    }
    for (name, node) in &doc.nodes {
        checker.check_node(name, node);
    }
    for cycle in input_less_cycles(doc) {
        let pointer = format!("/nodes/{}", escape_pointer(&cycle[0]));
        checker.error(
            IssueKind::CycleWithoutInput,
            pointer,
            format!("nodes {cycle:?} loop without waiting for input"),
        );
    }
    // Reachability from the start (and the window-closed fallback).
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = vec![doc.start.as_str()];
    todo.extend(doc.settings.on_window_closed.as_deref());
    while let Some(name) = todo.pop() {
        if !seen.insert(name) {
            continue;
        }
        if let Some(node) = doc.nodes.get(name) {
            todo.extend(node.edges().into_iter().map(|(_, t)| t));
            // GVINUM: an interactive node without options routes replies to the node named by
            // the reply id, so the nodes it offers are reachable.
            if let FlowNode::Interactive {
                content, options, ..
            } = node
                && options.is_empty()
                && let Ok(content) = interactive_content(content)
            {
                for (id, _) in super::gvinum::offered_replies(&content) {
                    if let Some((key, _)) = doc.nodes.get_key_value(id.as_str()) {
                        todo.push(key.as_str());
                    }
                }
            }
        }
    }
    for name in doc.nodes.keys() {
        if !seen.contains(name.as_str()) {
            checker.push(
                Severity::Warning,
                IssueKind::Unreachable,
                format!("/nodes/{}", escape_pointer(name)),
                format!("node {name:?} cannot be reached from the start"),
            );
        }
    }
    let mut issues = checker.issues;
    issues.sort_by_key(|issue| issue.severity);
    issues
}

/// Activates a flow: validates its document and, with no errors, marks it active and raises its
/// version (new sessions use it; running sessions keep theirs).
///
/// # Errors
///
/// [`Error::InvalidInput`] when the document has errors, at the first error's pointer and
/// listing every error; the flow is left unchanged.
pub fn activate(flow: &mut Flow) -> Result<Vec<Issue>> {
    let issues = validate(&flow.document);
    let errors: Vec<&Issue> = issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .collect();
    if let Some(first) = errors.first() {
        let listed: Vec<String> = errors
            .iter()
            .map(|i| format!("{}: {}", i.pointer, i.message))
            .collect();
        return Err(Error::invalid_input(
            first.pointer.clone(),
            format!("{} error(s): {}", errors.len(), listed.join("; ")),
        ));
    }
    flow.active = true;
    flow.version += 1;
    flow.updated_at = Utc::now();
    Ok(issues)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::load_document;

    fn kinds(doc: &str) -> Vec<(IssueKind, String)> {
        validate(&load_document(doc).unwrap())
            .into_iter()
            .map(|i| (i.kind, i.pointer))
            .collect()
    }

    #[test]
    fn every_problem_is_reported_with_its_location() {
        let issues = kinds(
            r#"{"version": 1, "start": "menu", "nodes": {
                "menu": {"type": "ask", "message": "Halo {{ nama }}", "input": {"kind": "choice"},
                         "options": {"1": "cek", "2": "nowhere", "Satu": "cek", "satu": "cek"}},
                "cek": {"type": "ask", "message": "Kode ODP?", "input": {"kind": "regex", "pattern": "ODP-("},
                        "save_as": "odp", "next": "loop_a", "timeout": {"after": "5s", "next": "menu"}},
                "loop_a": {"type": "set", "vars": {"n": 1}, "next": "loop_b"},
                "loop_b": {"type": "condition", "branches": [{"when": {"var": "n", "op": "gt", "value": 5}, "next": "call"}], "else": "loop_a"},
                "call": {"type": "http", "method": "BREW", "url": "https://{{ odp }}.example.com/x", "next": "bye", "on_error": "bye"},
                "bye": {"type": "end", "message": {"type": "interactive", "interactive": {"type": "button", "body": {"text": "x"}, "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "a", "title": "this title is far too long"}}]}}}},
                "orphan": {"type": "end"}
            }}"#,
        );
        let has = |kind: IssueKind, pointer: &str| {
            assert!(
                issues.iter().any(|(k, p)| *k == kind && p == pointer),
                "{kind:?} at {pointer} missing from {issues:#?}"
            );
        };
        has(IssueKind::UndefinedVariable, "/nodes/menu/message");
        has(IssueKind::MissingTarget, "/nodes/menu/options/2");
        has(IssueKind::DuplicateOption, "/nodes/menu/options/satu");
        has(IssueKind::InvalidRegex, "/nodes/cek/input/pattern");
        has(IssueKind::InvalidDuration, "/nodes/cek/timeout/after");
        has(IssueKind::CycleWithoutInput, "/nodes/loop_a");
        has(IssueKind::InvalidMethod, "/nodes/call/method");
        has(IssueKind::InvalidUrl, "/nodes/call/url");
        has(IssueKind::ContentLimit, "/nodes/bye/message");
        has(IssueKind::Unreachable, "/nodes/orphan");
    }

    #[test]
    fn a_flow_with_errors_cannot_be_activated_and_stays_unchanged() {
        let doc = load_document(
            r#"{"version": 1, "start": "a", "nodes": {"a": {"type": "jump", "node": "b"}}}"#,
        )
        .unwrap();
        let mut flow = Flow::new(crate::ids::TenantId::new(), "f", doc);
        let before = flow.clone();
        let err = activate(&mut flow).unwrap_err();
        assert!(err.to_string().contains("/nodes/a/node"), "{err}");
        assert_eq!(flow, before);
        flow.document.nodes.insert(
            "b".into(),
            FlowNode::End {
                message: None,
                outcome: None,
            },
        );
        activate(&mut flow).unwrap();
        assert!(flow.active);
        assert_eq!(flow.version, 1);
    }

    #[test]
    fn durations_read_units() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("2w"), None);
    }
}
