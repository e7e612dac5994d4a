//! `{{ path }}` templates over session variables, and text folding for matching.

use std::collections::BTreeMap;

use serde_json::Value;

/// Variables visible to templates and conditions: the session's variables (bare names) and
/// read-only built-ins (`contact.*`, `msg.*`, `channel.*`, `now`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope<'a> {
    pub vars: Option<&'a BTreeMap<String, Value>>,
    pub builtins: BTreeMap<&'static str, Value>,
}

/// Namespaces that are always defined.
pub(crate) const BUILTIN_ROOTS: [&str; 5] = ["contact", "msg", "channel", "now", "http"];

impl Scope<'_> {
    /// The value at a dotted path (`qty`, `order.items.0.name`, `contact.name`): the session
    /// variable named by the first segment, else the built-in of that name.
    pub fn lookup(&self, path: &str) -> Option<Value> {
        let mut segments = path.trim().split('.');
        let root = segments.next()?;
        let value = self
            .vars
            .and_then(|v| v.get(root))
            .or_else(|| self.builtins.get(root))?
            .clone();
        walk(value, &segments.collect::<Vec<_>>())
    }
}

fn walk(mut value: Value, segments: &[&str]) -> Option<Value> {
    for segment in segments {
        value = match value {
            Value::Object(mut map) => map.remove(*segment)?,
            Value::Array(mut items) => {
                let index: usize = segment.parse().ok()?;
                if index >= items.len() {
                    return None;
                }
                items.swap_remove(index)
            }
            _ => return None,
        };
    }
    Some(value)
}

/// A value as template text: strings bare, null empty, anything else as JSON.
pub(crate) fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The placeholders of a template, in order (`"Halo {{ contact.name }}"` → `["contact.name"]`).
pub(crate) fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        out.push(after[..close].trim());
        rest = &after[close + 2..];
    }
    out
}

/// Fills `{{ path }}` placeholders with `lookup`; a missing variable becomes empty text.
/// Text without placeholders (including lone `{` and `{#`) is left as it is.
///
/// ```
/// use std::collections::BTreeMap;
/// use wagw_core::flow::render;
/// let vars = BTreeMap::from([("nama".to_owned(), serde_json::json!("Budi"))]);
/// let text = render("Halo {{ nama }}, tagihan {#1}: {{ sisa }}", |p| vars.get(p).cloned());
/// assert_eq!(text, "Halo Budi, tagihan {#1}: ");
/// ```
pub fn render(text: &str, lookup: impl Fn(&str) -> Option<Value>) -> String {
    render_with(text, lookup, |s| s)
}

/// Like [`render`], with each value passed through `encode` (percent-encoding in URLs).
pub(crate) fn render_with(
    text: &str,
    lookup: impl Fn(&str) -> Option<Value>,
    encode: impl Fn(String) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        out.push_str(&rest[..open]);
        let value = lookup(after[..close].trim())
            .map(|v| as_text(&v))
            .unwrap_or_default();
        out.push_str(&encode(value));
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Folds text for matching: trimmed, inner whitespace collapsed, lower-cased, Latin accents
/// removed (`"  Tidak  Ádá "` → `"tidak ada"`).
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars().flat_map(char::to_lowercase) {
            out.push(strip_accent(c));
        }
    }
    out
}

fn strip_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' | 'đ' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ĥ' | 'ħ' => 'h',
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
        'ĵ' => 'j',
        'ķ' => 'k',
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' => 's',
        'ţ' | 'ť' | 'ŧ' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ŵ' => 'w',
        'ý' | 'ÿ' | 'ŷ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookups_walk_vars_then_builtins() {
        let vars = BTreeMap::from([("order".to_owned(), json!({"items": [{"name": "Paket A"}]}))]);
        let mut scope = Scope {
            vars: Some(&vars),
            ..Scope::default()
        };
        scope.builtins.insert("contact", json!({"name": "Budi"}));
        scope.builtins.insert("http", json!({"status": 200}));
        assert_eq!(scope.lookup("order.items.0.name"), Some(json!("Paket A")));
        assert_eq!(scope.lookup("contact.name"), Some(json!("Budi")));
        assert_eq!(scope.lookup("http.status"), Some(json!(200)));
        assert_eq!(scope.lookup("order.items.5"), None);
        assert_eq!(scope.lookup("nope"), None);
    }

    #[test]
    fn folding_ignores_case_accents_and_spacing() {
        assert_eq!(fold("  Tidak  Ádá "), "tidak ada");
        assert_eq!(fold("BATAL"), fold("batal"));
    }

    #[test]
    fn placeholders_are_listed() {
        assert_eq!(placeholders("{{a}} and {{ b.c }} {x}"), ["a", "b.c"]);
    }
}
