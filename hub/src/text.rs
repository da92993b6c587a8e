//! Small text forms every capability shares: instants written the way the API writes them
//! (RFC 3339 UTC with `Z`) and E.164 phone numbers. A leaf: it imports no other module, so any
//! capability may use it without tying itself to another.

use chrono::{DateTime, SecondsFormat, Utc};

/// RFC 3339 UTC with `Z`, whole seconds: the API's form of a meeting's times.
pub fn zulu(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// RFC 3339 UTC with `Z` and milliseconds: the API's form of bookkeeping times (created,
/// updated, last sync), where ordering within a second matters.
pub fn zulu_millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads an RFC 3339 instant with any offset, as Google writes them.
pub fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether a phone number is E.164 (`+`, country code, up to 15 digits).
pub fn is_e164(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or_default();
    (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers() {
        assert!(is_e164("+4915112345678"));
        assert!(!is_e164("015112345678"));
        assert!(!is_e164("+49 151 1234"));
        assert!(!is_e164("+0123456789"));
    }

    #[test]
    fn zulu_forms_round_trip() {
        let at = parse_rfc3339("2026-03-29T03:30:00.250+02:00").expect("valid instant");
        assert_eq!(zulu(at), "2026-03-29T01:30:00Z");
        assert_eq!(zulu_millis(at), "2026-03-29T01:30:00.250Z");
    }
}
