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

fn check(field: &str, value: &str) -> Result<(), RegistrationError> {
    match value.chars().find(|c| is_deceptive(*c)) {
        Some(c) => Err(field_error(
            field,
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
            check(&format!("{field}#{tag}"), v)?;
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
    }
}
