//! Display strings: what a user reads on a consent page must be what it seems.

use super::{ClientMetadata, field_error};
use crate::error::RegistrationError;

/// Characters that change how the text around them is shown without being
/// seen themselves: zero-width characters and joiners (U+200B–U+200D,
/// U+2060–U+2064, U+FEFF), directional marks (U+200E, U+200F, U+061C),
/// bidirectional embeddings, overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069), and control characters (Unicode TR #36 §2.1, UAX #9).
fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{061C}'
        | '\u{FEFF}')
        || c.is_control()
}

/// The first deceptive character of `value`. Printable ASCII holds none: a
/// string of only that (a branch-free scan) is not decoded.
fn first_deceptive(value: &str) -> Option<char> {
    let printable = value
        .bytes()
        .fold(true, |all, b| all & (0x20..0x7f).contains(&b));
    if printable {
        return None;
    }
    value.chars().find(|c| is_deceptive(*c))
}

fn check(field: &str, value: &str) -> Result<(), RegistrationError> {
    check_named(|| field.into(), value)
}

/// As [`check`], naming the member only if it is an error.
fn check_named<'a>(
    field: impl FnOnce() -> std::borrow::Cow<'a, str>,
    value: &str,
) -> Result<(), RegistrationError> {
    match first_deceptive(value) {
        Some(c) => Err(field_error(
            &field(),
            format_args!(
                "must not contain invisible, bidirectional or control characters (U+{:04X})",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

/// Human-readable and identifying members (`client_name` and the other
/// language-tagged members with every variant, `software_id`,
/// `software_version`, `contacts`, `default_acr_values`) must not hold
/// invisible or bidirectional control characters, which make a name read as
/// another application's (Unicode TR #36 §2.1). They are refused, not removed:
/// the server stores what the client sent or nothing.
pub(crate) fn check_display_strings(m: &ClientMetadata) -> Result<(), RegistrationError> {
    for (field, localized) in m.localized_fields() {
        if let Some(v) = &localized.value {
            check(field, v)?;
        }
        for (tag, v) in &localized.translations {
            check_named(|| format!("{field}#{tag}").into(), v)?;
        }
    }
    for (field, value) in [
        ("software_id", m.software_id.as_ref()),
        ("software_version", m.software_version.as_ref()),
    ] {
        if let Some(v) = value {
            check(field, v)?;
        }
    }
    for (field, values) in [
        ("contacts", m.contacts.as_deref()),
        ("default_acr_values", m.default_acr_values.as_deref()),
    ] {
        for v in values.unwrap_or_default() {
            check(field, v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_deceptive_characters_only() {
        for c in [
            '\u{200B}', '\u{200F}', '\u{202E}', '\u{2066}', '\u{FEFF}', '\n', '\u{7}',
        ] {
            assert!(is_deceptive(c), "U+{:04X}", u32::from(c));
        }
        for c in ['a', 'é', '–', '✓', 'ß', '日', ' '] {
            assert!(!is_deceptive(c), "U+{:04X}", u32::from(c));
        }
        // The ASCII fast path finds the same characters as decoding all.
        for s in [
            "plain ASCII ~",
            "tab\there",
            "del\u{7f}",
            "é then \u{202E}",
            "\u{85} next line",
            "日本\u{200B}",
            "",
        ] {
            assert_eq!(
                first_deceptive(s),
                s.chars().find(|c| is_deceptive(*c)),
                "{s:?}"
            );
        }
    }
}
