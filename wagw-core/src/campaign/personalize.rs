//! Filling placeholders: `{nama}`, `{name}`, `{{1}}` or any variable of a recipient.

use std::collections::BTreeMap;

/// Replaces `{{key}}` and `{key}` with the recipient's variables. Keys are matched
/// case-insensitively; a placeholder without a value becomes empty, so a missing name never
/// shows as a raw `{nama}` to a customer.
///
/// ```
/// use std::collections::BTreeMap;
/// use wagw_core::campaign::render;
///
/// let vars = BTreeMap::from([("nama".to_owned(), "Budi".to_owned()), ("1".to_owned(), "Rp 150.000".to_owned())]);
/// assert_eq!(render("Halo {nama}, tagihan {{1}}.", &vars), "Halo Budi, tagihan Rp 150.000.");
/// ```
pub fn render(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let (inner_start, closing) = if after.starts_with("{{") {
            (2, "}}")
        } else {
            (1, "}")
        };
        match after[inner_start..].find(closing) {
            Some(len) if is_key(&after[inner_start..inner_start + len]) => {
                let key = &after[inner_start..inner_start + len];
                out.push_str(lookup(vars, key).unwrap_or(""));
                rest = &after[inner_start + len + closing.len()..];
            }
            _ => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn lookup<'a>(vars: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    vars.get(key)
        .or_else(|| {
            vars.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("nama".into(), "Siti".into()),
            ("node".into(), "ODP-001".into()),
            ("1".into(), "12 Desember".into()),
        ])
    }

    #[test]
    fn fills_both_placeholder_styles() {
        assert_eq!(
            render("Halo {NAMA}, gangguan di {node} selesai {{1}}.", &vars()),
            "Halo Siti, gangguan di ODP-001 selesai 12 Desember."
        );
    }

    #[test]
    fn unknown_keys_vanish_and_other_braces_stay() {
        assert_eq!(render("Hi {missing}!", &vars()), "Hi !");
        assert_eq!(
            render("JSON {\"a\": 1} and { } and {", &vars()),
            "JSON {\"a\": 1} and { } and {"
        );
    }
}
