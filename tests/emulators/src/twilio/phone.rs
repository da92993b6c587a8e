//! Address formats Twilio accepts for messages — E.164 numbers, `whatsapp:+E164` channel
//! addresses, short codes and alphanumeric sender ids — and SMS segment counting.

/// The channel prefix of WhatsApp addresses.
const WHATSAPP: &str = "whatsapp:";

/// Whether `number` is E.164: `+`, a non-zero digit, 7 to 15 digits in all.
pub fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// The channel of an address (`Some("whatsapp")`) or `None` for SMS.
pub fn channel(address: &str) -> Option<&'static str> {
    address.starts_with(WHATSAPP).then_some("whatsapp")
}

/// Whether `to` is a valid recipient: E.164, or `whatsapp:` + E.164.
pub fn valid_to(to: &str) -> bool {
    is_e164(to.strip_prefix(WHATSAPP).unwrap_or(to))
}

/// Whether `from` is a valid sender: a recipient form, a short code, or an alphanumeric sender id.
pub fn valid_from(from: &str) -> bool {
    if from.starts_with(WHATSAPP) {
        return valid_to(from);
    }
    let short_code = (5..=6).contains(&from.len()) && from.chars().all(|c| c.is_ascii_digit());
    let alphanumeric = (1..=11).contains(&from.len())
        && from.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        && from.chars().any(|c| c.is_ascii_alphabetic());
    is_e164(from) || short_code || alphanumeric
}

/// Segments an SMS body takes: GSM-7 (approximated as ASCII) fits 160 characters alone and 153
/// per part, otherwise UCS-2 fits 70 and 67; WhatsApp messages are always one.
pub fn num_segments(body: &str, whatsapp: bool) -> usize {
    let (units, single, part) = if body.is_ascii() {
        (body.len(), 160, 153)
    } else {
        (body.encode_utf16().count(), 70, 67)
    };
    if whatsapp || units <= single {
        1
    } else {
        units.div_ceil(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert!(is_e164("+14155552345"));
        assert!(!is_e164("14155552345"));
        assert!(!is_e164("+0415555"));
        assert!(!is_e164("+1415555234512345"));
        assert!(valid_to("whatsapp:+41791234567"));
        assert!(!valid_to("whatsapp:41791234567"));
        assert!(valid_from("CORBI"));
        assert!(valid_from("12345"));
        assert!(!valid_from("CORBI-SCHEDULER"));
    }

    #[test]
    fn segments() {
        assert_eq!(num_segments(&"a".repeat(160), false), 1);
        assert_eq!(num_segments(&"a".repeat(161), false), 2);
        assert_eq!(num_segments(&"é".repeat(71), false), 2);
        assert_eq!(num_segments(&"a".repeat(1600), true), 1);
    }
}
