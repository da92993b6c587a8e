//! Checks a Mail Send body against the `PostMailSend` schema of SendGrid's OpenAPI spec and the
//! rules SendGrid documents beside it (subject/content unless a template, at most 1000 recipients,
//! unique addresses per personalization, template id formats, `send_at` within 72 hours). Every
//! problem is reported, each naming its field as SendGrid does (`personalizations.0.to.0.email`).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::error::ErrorItem;
use crate::support::is_prefixed_hex32;

/// Most personalizations, and most recipients over all of them, one request may carry.
const MAX_RECIPIENTS: usize = 1000;
/// Furthest `send_at` may lie in the future.
const MAX_SCHEDULE_SECS: i64 = 72 * 3600;

const FROM_REQUIRED: &str = "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {\"email\" : \"example@example.com\"}  or {\"email\" : \"example@example.com\", \"name\" : \"Example Recipient\"}";
const PERSONALIZATIONS_REQUIRED: &str =
    "The personalizations field is required and must have at least one personalization.";
const TO_REQUIRED: &str = "The to array is required for all personalization objects, and must have at least one email object with a valid email address.";
const INVALID_ADDRESS: &str = "Does not contain a valid address.";
const TOO_MANY_RECIPIENTS: &str = "The total number of recipients must be no more than 1000. This includes all recipients defined within the to, cc, and bcc parameters, across each object that you include in the personalizations array.";
const SUBJECT_REQUIRED: &str = "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.";
const SUBJECT_FORMAT: &str =
    "The subject of your email must be a string at least one character in length.";
const CONTENT_REQUIRED: &str = "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.";
const CONTENT_ORDER: &str = "If present, text/plain and text/html may only be provided in the order of plain, html, and other";

/// Every problem of `body`, empty when SendGrid would accept it.
pub fn check(body: &Map<String, Value>) -> Vec<ErrorItem> {
    let mut errors = Vec::new();
    check_from(body.get("from"), "from", true, &mut errors);
    let subjects_everywhere = check_personalizations(body.get("personalizations"), &mut errors);
    let template = body.get("template_id");
    check_template_id(template, &mut errors);
    check_subject(
        body.get("subject"),
        template.is_some() || subjects_everywhere,
        &mut errors,
    );
    check_content(body.get("content"), template.is_some(), &mut errors);
    check_reply_to(body, &mut errors);
    check_categories(body.get("categories"), &mut errors);
    check_attachments(body.get("attachments"), &mut errors);
    check_send_at(body.get("send_at"), "send_at", &mut errors);
    check_objects(
        body,
        &["headers", "mail_settings", "tracking_settings", "asm"],
        "",
        &mut errors,
    );
    check_asm(body.get("asm"), &mut errors);
    check_ip_pool(body.get("ip_pool_name"), &mut errors);
    errors
}

/// Whether SendGrid would take `text` as an address: one `@`, a local part, a dotted domain.
pub fn valid_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    !local.is_empty()
        && text.len() <= 254
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
        && labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty())
}

fn push(errors: &mut Vec<ErrorItem>, field: &str, message: &str) {
    errors.push(ErrorItem::field(field, message));
}

fn non_empty_str(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn check_from(value: Option<&Value>, field: &str, required: bool, errors: &mut Vec<ErrorItem>) {
    match value {
        None if !required => {}
        Some(Value::Object(from)) if from.contains_key("email") => {
            if !from
                .get("email")
                .and_then(Value::as_str)
                .is_some_and(valid_email)
            {
                push(errors, &format!("{field}.email"), INVALID_ADDRESS);
            }
        }
        _ => push(errors, field, FROM_REQUIRED),
    }
}

/// Checks the envelopes; answers whether every one of them carries a subject.
fn check_personalizations(value: Option<&Value>, errors: &mut Vec<ErrorItem>) -> bool {
    let Some(list) = value.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        push(errors, "personalizations", PERSONALIZATIONS_REQUIRED);
        return false;
    };
    let mut recipients = 0;
    for (index, item) in list.iter().enumerate() {
        let field = format!("personalizations.{index}");
        match item.as_object() {
            Some(envelope) => recipients += check_envelope(envelope, &field, errors),
            None => push(errors, &field, TO_REQUIRED),
        }
    }
    if list.len() > MAX_RECIPIENTS || recipients > MAX_RECIPIENTS {
        push(errors, "personalizations", TOO_MANY_RECIPIENTS);
    }
    list.iter()
        .all(|p| non_empty_str(p.get("subject")).is_some())
}

/// Checks one personalization; answers its number of recipients.
fn check_envelope(
    envelope: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<ErrorItem>,
) -> usize {
    if envelope
        .get("to")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        push(errors, &format!("{field}.to"), TO_REQUIRED);
    }
    let mut seen = HashSet::new();
    let mut count = 0;
    for kind in ["to", "cc", "bcc"] {
        count += check_recipients(
            envelope.get(kind),
            &format!("{field}.{kind}"),
            &mut seen,
            errors,
        );
    }
    check_from(
        envelope.get("from"),
        &format!("{field}.from"),
        false,
        errors,
    );
    if envelope.contains_key("subject") && non_empty_str(envelope.get("subject")).is_none() {
        push(errors, &format!("{field}.subject"), SUBJECT_FORMAT);
    }
    check_send_at(envelope.get("send_at"), &format!("{field}.send_at"), errors);
    let objects = [
        "headers",
        "substitutions",
        "dynamic_template_data",
        "custom_args",
    ];
    check_objects(envelope, &objects, &format!("{field}."), errors);
    count
}

fn check_recipients(
    value: Option<&Value>,
    field: &str,
    seen: &mut HashSet<String>,
    errors: &mut Vec<ErrorItem>,
) -> usize {
    let Some(list) = value else { return 0 };
    let Some(list) = list.as_array() else {
        push(
            errors,
            field,
            "Recipients must be given as an array of email objects.",
        );
        return 0;
    };
    for (index, item) in list.iter().enumerate() {
        let Some(email) = item
            .get("email")
            .and_then(Value::as_str)
            .filter(|e| valid_email(e))
        else {
            push(errors, &format!("{field}.{index}.email"), INVALID_ADDRESS);
            continue;
        };
        if !seen.insert(email.to_lowercase()) {
            let envelope = field.rsplit_once('.').map_or(field, |(head, _)| head);
            let message = format!(
                "Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [{email}] in the {field} field."
            );
            push(errors, envelope, &message);
        }
    }
    list.len()
}

fn check_template_id(value: Option<&Value>, errors: &mut Vec<ErrorItem>) {
    let Some(value) = value else { return };
    let text = value.as_str().unwrap_or_default();
    let valid = if text.starts_with("d-") {
        is_prefixed_hex32(text, "d-")
    } else {
        is_guid(text)
    };
    if !valid {
        let message = format!("The template_id must be a valid GUID, you provided '{text}'.");
        push(errors, "template_id", &message);
    }
}

/// Legacy templates are ids like `13b8f94f-bcae-4ec6-b752-70d6cb59f932`.
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn check_subject(value: Option<&Value>, optional: bool, errors: &mut Vec<ErrorItem>) {
    match value {
        None if optional => {}
        None => push(errors, "subject", SUBJECT_REQUIRED),
        Some(subject) if non_empty_str(Some(subject)).is_none() => {
            push(errors, "subject", SUBJECT_FORMAT)
        }
        Some(_) => {}
    }
}

fn check_content(value: Option<&Value>, templated: bool, errors: &mut Vec<ErrorItem>) {
    let list = match value.map(Value::as_array) {
        None if templated => return,
        Some(Some(list)) if !list.is_empty() => list,
        _ => return push(errors, "content", CONTENT_REQUIRED),
    };
    let mut types = Vec::new();
    for (index, block) in list.iter().enumerate() {
        let field = format!("content.{index}");
        match non_empty_str(block.get("type")) {
            Some(kind) if kind.contains([';', '\r', '\n']) => push(
                errors,
                &format!("{field}.type"),
                "The content type cannot contain ';', or CRLF characters.",
            ),
            Some(kind) => types.push((index, kind.to_ascii_lowercase())),
            None => push(
                errors,
                &format!("{field}.type"),
                "The content type must be a string at least one character in length.",
            ),
        }
        if non_empty_str(block.get("value")).is_none() {
            let message = "The content value must be a string at least one character in length.";
            push(errors, &format!("{field}.value"), message);
        }
    }
    check_content_order(&types, errors);
}

/// `text/plain` must come first and `text/html` right after the plain block (or first).
fn check_content_order(types: &[(usize, String)], errors: &mut Vec<ErrorItem>) {
    let plain = types
        .iter()
        .find(|(_, t)| t == "text/plain")
        .map(|(i, _)| *i);
    let html = types
        .iter()
        .find(|(_, t)| t == "text/html")
        .map(|(i, _)| *i);
    let misplaced = match (plain, html) {
        (Some(p), _) if p != 0 => Some(p),
        (Some(_), Some(h)) if h != 1 => Some(h),
        (None, Some(h)) if h != 0 => Some(h),
        _ => None,
    };
    if let Some(index) = misplaced {
        push(errors, &format!("content.{index}.type"), CONTENT_ORDER);
    }
}

fn check_reply_to(body: &Map<String, Value>, errors: &mut Vec<ErrorItem>) {
    if let Some(reply_to) = body.get("reply_to")
        && !reply_to
            .get("email")
            .and_then(Value::as_str)
            .is_some_and(valid_email)
    {
        push(errors, "reply_to.email", INVALID_ADDRESS);
    }
    let Some(list) = body.get("reply_to_list") else {
        return;
    };
    let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
    if items.len() > MAX_RECIPIENTS || !list.is_array() {
        push(
            errors,
            "reply_to_list",
            "The reply_to_list must be an array of at most 1000 email objects.",
        );
    }
    if body.contains_key("reply_to") {
        push(
            errors,
            "reply_to_list",
            "The reply_to and reply_to_list properties are mutually exclusive.",
        );
    }
    for (index, item) in items.iter().enumerate() {
        if !item
            .get("email")
            .and_then(Value::as_str)
            .is_some_and(valid_email)
        {
            push(
                errors,
                &format!("reply_to_list.{index}.email"),
                INVALID_ADDRESS,
            );
        }
    }
}

fn check_categories(value: Option<&Value>, errors: &mut Vec<ErrorItem>) {
    let Some(value) = value else { return };
    let Some(list) = value.as_array() else {
        return push(
            errors,
            "categories",
            "The categories must be an array of strings.",
        );
    };
    if list.len() > 10 {
        push(
            errors,
            "categories",
            "Too many categories. You may only have 10 categories per request.",
        );
    }
    for (index, category) in list.iter().enumerate() {
        if category.as_str().is_none_or(|c| c.chars().count() > 255) {
            let message = "A category must be a string of at most 255 characters.";
            push(errors, &format!("categories.{index}"), message);
        }
    }
}

fn check_attachments(value: Option<&Value>, errors: &mut Vec<ErrorItem>) {
    let Some(list) = value.and_then(Value::as_array) else {
        return;
    };
    for (index, attachment) in list.iter().enumerate() {
        let field = format!("attachments.{index}");
        if non_empty_str(attachment.get("content")).is_none() {
            push(
                errors,
                &format!("{field}.content"),
                "The attachment content is required.",
            );
        }
        if non_empty_str(attachment.get("filename")).is_none() {
            push(
                errors,
                &format!("{field}.filename"),
                "The attachment filename is required.",
            );
        }
        let disposition = attachment
            .get("disposition")
            .map(|d| d.as_str().unwrap_or_default());
        if disposition.is_some_and(|d| !matches!(d, "inline" | "attachment")) {
            let message = "The disposition must be either inline or attachment.";
            push(errors, &format!("{field}.disposition"), message);
        }
    }
}

fn check_send_at(value: Option<&Value>, field: &str, errors: &mut Vec<ErrorItem>) {
    let Some(value) = value else { return };
    let latest = chrono::Utc::now().timestamp() + MAX_SCHEDULE_SECS;
    if value.as_i64().is_none_or(|at| at > latest) {
        let message =
            "The send_at parameter must be a unix timestamp no more than 72 hours in the future.";
        push(errors, field, message);
    }
}

/// The named members, when present, must be JSON objects.
fn check_objects(
    body: &Map<String, Value>,
    names: &[&str],
    prefix: &str,
    errors: &mut Vec<ErrorItem>,
) {
    for name in names {
        if body.get(*name).is_some_and(|v| !v.is_object()) {
            push(
                errors,
                &format!("{prefix}{name}"),
                &format!("The {name} parameter must be an object."),
            );
        }
    }
}

fn check_asm(value: Option<&Value>, errors: &mut Vec<ErrorItem>) {
    if value
        .is_some_and(|asm| asm.is_object() && asm.get("group_id").and_then(Value::as_i64).is_none())
    {
        push(
            errors,
            "asm.group_id",
            "The asm.group_id must be an integer.",
        );
    }
}

fn check_ip_pool(value: Option<&Value>, errors: &mut Vec<ErrorItem>) {
    let Some(value) = value else { return };
    if value
        .as_str()
        .is_none_or(|name| !(2..=64).contains(&name.chars().count()))
    {
        push(
            errors,
            "ip_pool_name",
            "The ip_pool_name must be between 2 and 64 characters.",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(valid_email("ann@example.com"));
        assert!(valid_email("ann.lee+x@mail.example.co.uk"));
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@ex..com",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn guids() {
        assert!(is_guid("13b8f94f-bcae-4ec6-b752-70d6cb59f932"));
        assert!(!is_guid("13b8f94f-bcae-4ec6-b752"));
    }
}
