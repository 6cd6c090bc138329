//! The user's preferred languages, from `Accept-Language` (RFC 9110 §12.5.4).

use http::HeaderMap;
use http::header::ACCEPT_LANGUAGE;

/// The language ranges of every `Accept-Language` header, most preferred first:
/// ordered by q-value, ties in the order sent. Ranges with `q=0` (not
/// acceptable) and malformed entries are left out.
pub fn preferred_languages(headers: &HeaderMap) -> Vec<String> {
    let mut ranges: Vec<(u16, String)> = Vec::new();
    for value in headers.get_all(ACCEPT_LANGUAGE) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or_default().trim();
            if range.is_empty()
                || range.len() > 64
                || !range
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
            {
                continue;
            }
            let mut quality = Some(1000);
            for param in parts {
                if let Some((name, q)) = param.split_once('=')
                    && name.trim().eq_ignore_ascii_case("q")
                {
                    quality = parse_quality(q.trim());
                }
            }
            match quality {
                Some(q) if q > 0 => ranges.push((q, range.to_owned())),
                _ => {}
            }
        }
    }
    // A stable sort keeps the order sent among equal q-values.
    ranges.sort_by_key(|r| std::cmp::Reverse(r.0));
    ranges.into_iter().map(|(_, range)| range).collect()
}

/// Parses a q-value (`0`, `0.5`, `1.000`, …) as thousandths.
fn parse_quality(q: &str) -> Option<u16> {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn ordered_by_quality_then_order_sent() {
        let mut h = HeaderMap::new();
        h.insert(
            ACCEPT_LANGUAGE,
            HeaderValue::from_static("de;q=0.5, fr-CA, fr;q=0.9, en;q=0, x y, es;q=0.9"),
        );
        assert_eq!(preferred_languages(&h), ["fr-CA", "fr", "es", "de"]);
    }
}
