//! The keyword auto-reply engine: which rule, if any, answers an inbound message.
//!
//! Text is folded before it is compared: trimmed, runs of white space made one space,
//! lower-cased (unless the rule is case-sensitive) and stripped of accents (unless the rule is
//! accent-sensitive: NFD, then combining marks dropped), so `HARGA`, ` harga ` and `hárga`
//! all match the keyword `harga`. A message is compared through every text it carries: the
//! text body, a reply button's or list row's id and title, a template button's payload and
//! text.
//!
//! Rules are tried by priority (highest first), then specificity (exact, then starts/ends
//! with, then whole word, then contains, then regex), then id; the first rule that is active,
//! in scope for the channel, in force at this time of the tenant's week, and matches wins.
//! Cooldowns are checked by the [runner](super::runner) through the store, since they must
//! hold across processes.
//!
//! ```
//! use wagw_core::content::MessageContent;
//! use wagw_core::conversation::auto_reply::RuleSet;
//! use wagw_core::ids::{ChannelId, TenantId};
//! use wagw_core::model::auto_reply::{AutoReplyRule, KeywordMatch};
//!
//! let tenant = TenantId::new();
//! let mut price = AutoReplyRule::new(tenant, "harga", vec!["harga".into()],
//!     MessageContent::text("Paket mulai Rp 150.000/bulan"));
//! price.matching = KeywordMatch::Word;
//! let rules = RuleSet::new(vec![price])?;
//! let now = chrono::Utc::now().naive_utc();
//! let hit = rules.first_match(ChannelId::new(), &["Berapa HÁRGA paketnya?"], now);
//! assert_eq!(hit.map(|r| r.name.as_str()), Some("harga"));
//! # Ok::<(), wagw_core::Error>(())
//! ```

use chrono::NaiveDateTime;
use regex::{Regex, RegexBuilder};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::event::{InboundKind, InboundMessage, InteractiveReply};
use crate::ids::ChannelId;
use crate::model::auto_reply::{ActiveWhen, AutoReplyRule, KeywordMatch};
use crate::model::tenant::QuotaResource;
use crate::store::Store;
use crate::{Error, Result};

/// Largest compiled regex a rule may hold, in bytes (keeps hostile patterns cheap).
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Folds text for comparison: trim, collapse white space, and (optionally) lower-case and
/// strip accents.
pub fn fold(text: &str, case_sensitive: bool, accent_sensitive: bool) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cased = if case_sensitive {
        collapsed
    } else {
        collapsed.to_lowercase()
    };
    if accent_sensitive {
        cased
    } else {
        cased.nfd().filter(|c| !is_combining_mark(*c)).collect()
    }
}

/// The texts of an inbound message a rule is compared with, in order.
pub fn message_texts(message: &InboundMessage) -> Vec<&str> {
    match &message.kind {
        InboundKind::Text(text) => vec![text.body.as_str()],
        InboundKind::Interactive(interactive) => match &interactive.reply {
            InteractiveReply::ButtonReply(o) | InteractiveReply::ListReply(o) => {
                vec![o.id.as_str(), o.title.as_str()]
            }
            _ => Vec::new(),
        },
        InboundKind::Button(button) => button
            .payload
            .as_deref()
            .into_iter()
            .chain(button.text.as_deref())
            .collect(),
        _ => Vec::new(),
    }
}

/// One rule ready to match: its keywords folded once, its regexes compiled once.
#[derive(Debug, Clone)]
struct CompiledRule {
    rule: AutoReplyRule,
    keywords: Vec<String>,
    regexes: Vec<Regex>,
}

impl CompiledRule {
    fn compile(rule: AutoReplyRule) -> Result<Self> {
        validate_rule(&rule)?;
        let regexes = if rule.matching == KeywordMatch::Regex {
            rule.keywords
                .iter()
                .map(|k| compile_regex(k, &rule))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let keywords = rule
            .keywords
            .iter()
            .map(|k| fold(k, rule.case_sensitive, rule.accent_sensitive))
            .collect();
        Ok(Self {
            rule,
            keywords,
            regexes,
        })
    }

    /// Active, in scope for `channel`, in force at `local_now`, matching one of `texts`.
    fn applies(&self, channel: ChannelId, texts: &[&str], local_now: NaiveDateTime) -> bool {
        let rule = &self.rule;
        rule.active
            && rule.channel_id.is_none_or(|ch| ch == channel)
            && in_force(rule, local_now)
            && texts.iter().any(|t| self.matches_text(t))
    }

    fn matches_text(&self, text: &str) -> bool {
        let text = fold(text, self.rule.case_sensitive, self.rule.accent_sensitive);
        match self.rule.matching {
            KeywordMatch::Regex => self.regexes.iter().any(|r| r.is_match(&text)),
            mode => self
                .keywords
                .iter()
                .any(|k| keyword_matches(mode, &text, k)),
        }
    }
}

fn compile_regex(pattern: &str, rule: &AutoReplyRule) -> Result<Regex> {
    // The pattern is folded like the text, so `h[aá]rga` and accents in patterns still work.
    let folded = if rule.accent_sensitive {
        pattern.to_owned()
    } else {
        pattern.nfd().filter(|c| !is_combining_mark(*c)).collect()
    };
    RegexBuilder::new(&folded)
        .case_insensitive(!rule.case_sensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| Error::invalid_input("keywords", format!("bad regex {pattern:?}: {e}")))
}

fn keyword_matches(mode: KeywordMatch, text: &str, keyword: &str) -> bool {
    match mode {
        KeywordMatch::Exact => text == keyword,
        KeywordMatch::StartsWith => text.starts_with(keyword),
        KeywordMatch::EndsWith => text.ends_with(keyword),
        KeywordMatch::Contains => text.contains(keyword),
        KeywordMatch::Word => {
            // The keyword (one or more words) must sit between word boundaries.
            let is_word = |c: char| c.is_alphanumeric();
            text.match_indices(keyword).any(|(at, _)| {
                let before = text[..at].chars().next_back();
                let after = text[at + keyword.len()..].chars().next();
                !before.is_some_and(is_word) && !after.is_some_and(is_word)
            })
        }
        KeywordMatch::Regex => false,
    }
}

/// Checks a rule before it is stored: named, with keywords that are not blank once folded,
/// regexes that compile, business hours when `when` needs them.
pub fn validate_rule(rule: &AutoReplyRule) -> Result<()> {
    if rule.name.trim().is_empty() {
        return Err(Error::invalid_input("name", "must not be empty"));
    }
    if rule.keywords.is_empty() {
        return Err(Error::invalid_input("keywords", "at least one is needed"));
    }
    if let Some(i) = rule
        .keywords
        .iter()
        .position(|k| fold(k, true, true).is_empty())
    {
        return Err(Error::invalid_input(
            format!("keywords[{i}]"),
            "must not be blank",
        ));
    }
    if rule.matching == KeywordMatch::Regex {
        for k in &rule.keywords {
            compile_regex(k, rule)?;
        }
    }
    if rule.when != ActiveWhen::Always && rule.business_hours.is_none() {
        return Err(Error::invalid_input(
            "business_hours",
            "needed when the rule depends on opening hours",
        ));
    }
    if let Some(hours) = &rule.business_hours
        && hours.days.is_empty()
    {
        return Err(Error::invalid_input("business_hours.days", "no open day"));
    }
    Ok(())
}

/// A tenant's rules, compiled and ordered for matching.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
}

impl RuleSet {
    /// Compiles and orders rules; a rule that does not validate is an error naming it.
    pub fn new(rules: Vec<AutoReplyRule>) -> Result<Self> {
        let mut compiled = rules
            .into_iter()
            .map(CompiledRule::compile)
            .collect::<Result<Vec<_>>>()?;
        compiled.sort_by(|a, b| {
            b.rule
                .priority
                .cmp(&a.rule.priority)
                .then(
                    b.rule
                        .matching
                        .specificity()
                        .cmp(&a.rule.matching.specificity()),
                )
                .then(a.rule.id.cmp(&b.rule.id))
        });
        Ok(Self { rules: compiled })
    }

    /// Compiles stored rules, skipping (and logging) any that no longer validate, so one bad
    /// stored rule never silences the others.
    pub fn lenient(rules: Vec<AutoReplyRule>) -> Self {
        let good = rules
            .into_iter()
            .filter(|r| match validate_rule(r) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(rule = %r.id, error = %e, "auto-reply rule skipped");
                    false
                }
            })
            .collect();
        Self::new(good).unwrap_or_default()
    }

    /// Every rule that matches, in the order they are tried: active, in scope for `channel`,
    /// in force at `local_now` (the tenant's local time) and matching one of `texts`.
    pub fn matches<'a>(
        &'a self,
        channel: ChannelId,
        texts: &'a [&'a str],
        local_now: NaiveDateTime,
    ) -> impl Iterator<Item = &'a AutoReplyRule> + 'a {
        self.rules
            .iter()
            .filter(move |c| c.applies(channel, texts, local_now))
            .map(|c| &c.rule)
    }

    /// The rule that answers, ignoring cooldowns.
    pub fn first_match(
        &self,
        channel: ChannelId,
        texts: &[&str],
        local_now: NaiveDateTime,
    ) -> Option<&AutoReplyRule> {
        self.rules
            .iter()
            .find(|c| c.applies(channel, texts, local_now))
            .map(|c| &c.rule)
    }

    /// How many rules the set holds.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the set holds no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn in_force(rule: &AutoReplyRule, local_now: NaiveDateTime) -> bool {
    let open = || {
        rule.business_hours
            .as_ref()
            .is_some_and(|h| h.is_open(local_now))
    };
    match rule.when {
        ActiveWhen::Always => true,
        ActiveWhen::Open => open(),
        ActiveWhen::Closed => !open(),
    }
}

/// Stores a new rule within the tenant's plan: the plan's
/// [`auto_reply_rules`](crate::model::tenant::Plan::auto_reply_rules) counts stored rules
/// (active or not, so disabling a rule frees no slot). A rule that does not validate, or one
/// over the limit ([`QuotaExceeded`](crate::Error::QuotaExceeded)), stores nothing. The store
/// counts and inserts in one atomic step, so concurrent creations never pass the limit together.
pub async fn create_rule<S: Store + ?Sized>(store: &S, rule: &AutoReplyRule) -> Result<()> {
    validate_rule(rule)?;
    let tenant = store.get_tenant(rule.tenant_id).await?;
    let limit = tenant.plan.limit(QuotaResource::AutoReplyRules);
    store.create_rule(rule, limit).await
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveTime, Weekday};

    use super::*;
    use crate::content::MessageContent;
    use crate::ids::TenantId;
    use crate::model::auto_reply::BusinessHours;

    fn rule(name: &str, matching: KeywordMatch, keyword: &str) -> AutoReplyRule {
        let mut r = AutoReplyRule::new(
            TenantId::new(),
            name,
            vec![keyword.into()],
            MessageContent::text(format!("answer {name}")),
        );
        r.matching = matching;
        r
    }

    fn now() -> NaiveDateTime {
        // Monday 30 November 2026, 10:00 local.
        chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .expect("time")
    }

    fn hit(rules: &RuleSet, text: &str) -> Option<String> {
        rules
            .first_match(ChannelId::new(), &[text], now())
            .map(|r| r.name.clone())
    }

    #[test]
    fn folding_ignores_case_accents_and_spacing() {
        assert_eq!(fold("  Hárga   PAKET\t ", false, false), "harga paket");
        assert_eq!(fold("Hárga", true, false), "Harga");
        assert_eq!(fold("Hárga", false, true), "hárga");
    }

    #[test]
    fn each_mode_compares_as_documented() {
        let set = |m, k| RuleSet::new(vec![rule("r", m, k)]).expect("valid");
        let text = "  Berapa HÁRGA paket?  ";
        assert_eq!(hit(&set(KeywordMatch::Exact, "harga"), text), None);
        assert!(hit(&set(KeywordMatch::Exact, "harga"), " HARGA ").is_some());
        assert!(hit(&set(KeywordMatch::StartsWith, "berapa"), text).is_some());
        assert_eq!(hit(&set(KeywordMatch::StartsWith, "harga"), text), None);
        assert!(hit(&set(KeywordMatch::EndsWith, "paket?"), text).is_some());
        assert!(hit(&set(KeywordMatch::Contains, "arga pa"), text).is_some());
        assert!(hit(&set(KeywordMatch::Word, "harga"), text).is_some());
        assert!(hit(&set(KeywordMatch::Word, "harga paket"), text).is_some());
        assert_eq!(hit(&set(KeywordMatch::Word, "harga"), "hargai dia"), None);
        assert_eq!(hit(&set(KeywordMatch::Word, "arga"), text), None);
        assert!(hit(&set(KeywordMatch::Regex, r"h[a-z]rga\s+\w+"), text).is_some());
        assert_eq!(hit(&set(KeywordMatch::Regex, r"^harga"), text), None);
    }

    #[test]
    fn case_and_accent_sensitivity_can_be_turned_on() {
        let mut strict = rule("r", KeywordMatch::Word, "Harga");
        strict.case_sensitive = true;
        let set = RuleSet::new(vec![strict.clone()]).expect("valid");
        assert_eq!(hit(&set, "harga"), None);
        assert!(hit(&set, "Harga").is_some());
        strict.case_sensitive = false;
        strict.accent_sensitive = true;
        strict.keywords = vec!["café".into()];
        let set = RuleSet::new(vec![strict]).expect("valid");
        assert_eq!(hit(&set, "cafe"), None);
        assert!(hit(&set, "CAFÉ").is_some());
    }

    #[test]
    fn priority_then_specificity_then_id_decide() {
        let mut low = rule("low", KeywordMatch::Exact, "harga");
        low.priority = 1;
        let mut high = rule("high", KeywordMatch::Contains, "harga");
        high.priority = 5;
        let set = RuleSet::new(vec![low.clone(), high.clone()]).expect("valid");
        assert_eq!(hit(&set, "harga").as_deref(), Some("high"));
        high.priority = 1;
        let set = RuleSet::new(vec![high, low]).expect("valid");
        assert_eq!(
            hit(&set, "harga").as_deref(),
            Some("low"),
            "exact beats contains"
        );
    }

    #[test]
    fn channel_scope_inactive_rules_and_business_hours_hold() {
        let channel = ChannelId::new();
        let mut scoped = rule("scoped", KeywordMatch::Word, "harga");
        scoped.channel_id = Some(ChannelId::new());
        let mut off = rule("off", KeywordMatch::Word, "harga");
        off.active = false;
        let hours = BusinessHours {
            days: vec![Weekday::Mon],
            open: NaiveTime::from_hms_opt(8, 0, 0).expect("time"),
            close: NaiveTime::from_hms_opt(17, 0, 0).expect("time"),
        };
        let mut closed = rule("closed", KeywordMatch::Word, "harga");
        closed.when = ActiveWhen::Closed;
        closed.business_hours = Some(hours.clone());
        closed.priority = 9;
        let mut open = rule("open", KeywordMatch::Word, "harga");
        open.when = ActiveWhen::Open;
        open.business_hours = Some(hours);
        let set = RuleSet::new(vec![scoped, off, closed, open]).expect("valid");
        let at = |h| now().date().and_hms_opt(h, 0, 0).expect("time");
        let name = |h| {
            set.first_match(channel, &["harga"], at(h))
                .map(|r| r.name.clone())
        };
        assert_eq!(name(10).as_deref(), Some("open"));
        assert_eq!(name(20).as_deref(), Some("closed"));
    }

    #[test]
    fn replies_match_by_button_id_title_and_payload() {
        let set =
            RuleSet::new(vec![rule("menu", KeywordMatch::Exact, "menu_utama")]).expect("valid");
        let msg: InboundMessage = serde_json::from_value(serde_json::json!({
            "from": "628123456789", "id": "wamid.B", "timestamp": "1749416383",
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "MENU_UTAMA", "title": "Menu"}}
        }))
        .expect("parses");
        let texts = message_texts(&msg);
        assert!(set.first_match(ChannelId::new(), &texts, now()).is_some());
        let msg: InboundMessage = serde_json::from_value(serde_json::json!({
            "from": "628123456789", "id": "wamid.C", "timestamp": "1749416383",
            "type": "button", "button": {"payload": "menu_utama", "text": "Lihat menu"}
        }))
        .expect("parses");
        assert_eq!(message_texts(&msg), vec!["menu_utama", "Lihat menu"]);
    }

    #[test]
    fn bad_rules_are_refused_with_the_field() {
        let err = RuleSet::new(vec![rule("bad", KeywordMatch::Regex, "(harga")]).unwrap_err();
        assert!(err.to_string().contains("keywords"), "{err}");
        let err = validate_rule(&rule("blank", KeywordMatch::Word, "   ")).unwrap_err();
        assert!(err.to_string().contains("keywords[0]"), "{err}");
        let mut hours = rule("hours", KeywordMatch::Word, "x");
        hours.when = ActiveWhen::Open;
        assert!(validate_rule(&hours).is_err());
        // A bad stored rule is skipped, the good ones still answer.
        let lenient = RuleSet::lenient(vec![
            rule("bad", KeywordMatch::Regex, "(harga"),
            rule("good", KeywordMatch::Word, "harga"),
        ]);
        assert_eq!(lenient.len(), 1);
        assert_eq!(hit(&lenient, "harga").as_deref(), Some("good"));
    }
}
