//! Human-readable metadata in several languages (RFC 7591 §2.2).
//!
//! `client_name#fr-CA` is the `client_name` for the BCP 47 language tag `fr-CA`.
//! Tags are validated with [`oxilangtag`] and kept exactly as the client sent
//! them, so the response echoes the same member names.

use oxilangtag::LanguageTag;

/// A human-readable value with optional per-language variants
/// (RFC 7591 §2.2). Used for `client_name`, `client_uri`, `logo_uri`, `tos_uri`
/// and `policy_uri`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Localized {
    /// The value sent without a language tag (`client_name`).
    pub value: Option<String>,
    /// Values sent with a language tag (`client_name#fr`), in the order received,
    /// with the tags exactly as sent.
    pub translations: Vec<(LanguageTag<String>, String)>,
}

impl Localized {
    /// No value and no variant.
    pub(crate) const EMPTY: Self = Self {
        value: None,
        translations: Vec::new(),
    };

    /// A value without language variants.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: Some(value.into()),
            translations: Vec::new(),
        }
    }

    /// Adds a language variant (builder style).
    pub fn with_translation(mut self, tag: LanguageTag<String>, value: impl Into<String>) -> Self {
        self.translations.push((tag, value.into()));
        self
    }

    /// Whether neither a plain value nor any variant is present.
    pub fn is_empty(&self) -> bool {
        self.value.is_none() && self.translations.is_empty()
    }

    /// The value without a language tag.
    pub fn get(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// The variant for exactly this tag (compared case-insensitively, as BCP 47
    /// tags are).
    pub fn get_exact(&self, tag: &str) -> Option<&str> {
        self.translations
            .iter()
            .find(|(t, _)| t.as_str().eq_ignore_ascii_case(tag))
            .map(|(_, v)| v.as_str())
    }

    /// The best value for a list of language ranges in order of preference (as
    /// from `Accept-Language`), by RFC 4647 §3.4 lookup: each range is tried, then
    /// shortened subtag by subtag (`fr-CA` → `fr`). Falls back to the untagged
    /// value, then to the first variant.
    pub fn best_match<'a, I, S>(&self, preferred: I) -> Option<&str>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str> + 'a,
    {
        for range in preferred {
            let mut range = range.as_ref().trim();
            while !range.is_empty() && range != "*" {
                if let Some(found) = self.get_exact(range) {
                    return Some(found);
                }
                range = match range.rfind('-') {
                    Some(i) => range[..i].trim_end_matches('-'),
                    None => "",
                };
                // RFC 4647 §3.4: drop a single-letter subtag left at the end.
                if range.len() >= 2 && range.as_bytes()[range.len() - 2] == b'-' {
                    range = &range[..range.len() - 2];
                }
            }
        }
        self.get()
            .or_else(|| self.translations.first().map(|(_, v)| v.as_str()))
    }

    /// Every value with its tag (`None` for the untagged value).
    pub fn iter(&self) -> impl Iterator<Item = (Option<&str>, &str)> {
        self.value.as_deref().map(|v| (None, v)).into_iter().chain(
            self.translations
                .iter()
                .map(|(t, v)| (Some(t.as_str()), v.as_str())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> LanguageTag<String> {
        LanguageTag::parse(s.to_owned()).unwrap()
    }

    #[test]
    fn lookup_follows_rfc4647_truncation() {
        let name = Localized::new("Example")
            .with_translation(tag("fr"), "Exemple")
            .with_translation(tag("de-CH"), "Beispiel CH");
        assert_eq!(name.best_match(["fr-CA"]), Some("Exemple"));
        assert_eq!(name.best_match(["DE-ch"]), Some("Beispiel CH"));
        assert_eq!(name.best_match(["de"]), Some("Example"));
        assert_eq!(name.best_match(["es", "fr"]), Some("Exemple"));
        assert_eq!(name.best_match(["zh-Hant-x-a"]), Some("Example"));
        assert_eq!(name.best_match(Vec::<&str>::new()), Some("Example"));
    }

    #[test]
    fn falls_back_to_first_variant_without_plain_value() {
        let name = Localized::default().with_translation(tag("ja"), "例");
        assert_eq!(name.best_match(["en"]), Some("例"));
    }
}
