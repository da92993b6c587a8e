//! Each tenant's vendor credentials — SendGrid API key, Twilio account SID, auth token and
//! WhatsApp sender — stored as one JSON document sealed with the hub's [`Sealer`] (bound to the
//! tenant, so a copied ciphertext does not open elsewhere). They are written by admins and never
//! read back through the API: `GET` only says which are set.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::Row;

use super::NotifyError;
use crate::{
    connections::seal::Sealer,
    db::{Db, timestamp},
    error::FieldError,
    text::is_e164,
};

/// Longest secret accepted (vendor keys are far shorter).
const MAX_SECRET_CHARS: usize = 512;

/// The secrets of one tenant. `Debug` never shows them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// SendGrid API key (`Authorization: Bearer`).
    pub sendgrid_api_key: Option<String>,
    /// Twilio AccountSid (`AC` + 32 hex), the Basic auth user.
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token: the Basic auth password and the key of status-callback signatures.
    pub twilio_auth_token: Option<String>,
    /// The tenant's WhatsApp sender, E.164 (`+14155238886`).
    pub twilio_whatsapp_from: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("set", &self.view())
            .finish()
    }
}

/// What `GET /api/v1/tenant/notification-credentials` shows: which secrets are set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CredentialsView {
    /// Whether a SendGrid API key is stored.
    pub sendgrid_api_key_set: bool,
    /// Whether a Twilio account SID is stored.
    pub twilio_account_sid_set: bool,
    /// Whether a Twilio auth token is stored.
    pub twilio_auth_token_set: bool,
    /// Whether a WhatsApp sender is stored.
    pub twilio_whatsapp_from_set: bool,
}

/// The body of `PUT`: each field set to a string replaces the stored one, `null` removes it,
/// a missing field keeps it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CredentialsChange {
    /// SendGrid API key.
    pub sendgrid_api_key: Option<String>,
    /// Twilio AccountSid, `AC` + 32 hex digits.
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token.
    pub twilio_auth_token: Option<String>,
    /// WhatsApp sender, E.164 (`whatsapp:` prefix optional).
    pub twilio_whatsapp_from: Option<String>,
}

const FIELDS: [&str; 4] = [
    "sendgrid_api_key",
    "twilio_account_sid",
    "twilio_auth_token",
    "twilio_whatsapp_from",
];

impl Credentials {
    /// Which secrets are set.
    pub fn view(&self) -> CredentialsView {
        CredentialsView {
            sendgrid_api_key_set: self.sendgrid_api_key.is_some(),
            twilio_account_sid_set: self.twilio_account_sid.is_some(),
            twilio_auth_token_set: self.twilio_auth_token.is_some(),
            twilio_whatsapp_from_set: self.twilio_whatsapp_from.is_some(),
        }
    }

    fn slot(&mut self, field: &str) -> Option<&mut Option<String>> {
        match field {
            "sendgrid_api_key" => Some(&mut self.sendgrid_api_key),
            "twilio_account_sid" => Some(&mut self.twilio_account_sid),
            "twilio_auth_token" => Some(&mut self.twilio_auth_token),
            "twilio_whatsapp_from" => Some(&mut self.twilio_whatsapp_from),
            _ => None,
        }
    }

    /// Applies a change document (see [`CredentialsChange`]); every problem is named.
    pub fn apply(&mut self, change: &Map<String, Value>) -> Result<(), NotifyError> {
        let mut problems = Vec::new();
        for (field, value) in change {
            let Some(slot) = self.slot(field) else {
                problems.push(FieldError::new(
                    field.as_str(),
                    format!("unknown field; use {}", FIELDS.join(", ")),
                ));
                continue;
            };
            match value {
                Value::Null => *slot = None,
                Value::String(text) => match check(field, text.trim()) {
                    Ok(clean) => *slot = Some(clean),
                    Err(problem) => problems.push(FieldError::new(field.as_str(), problem)),
                },
                _ => problems.push(FieldError::new(field.as_str(), "give a string or null")),
            }
        }
        if problems.is_empty()
            && self.twilio_account_sid.is_some() != self.twilio_auth_token.is_some()
        {
            problems.push(FieldError::new(
                "twilio_auth_token",
                "set the Twilio account SID and auth token together",
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(NotifyError::Invalid(problems))
        }
    }
}

/// The stored form of one field, or why it is refused.
fn check(field: &str, text: &str) -> Result<String, &'static str> {
    if text.is_empty() || text.chars().count() > MAX_SECRET_CHARS {
        return Err("give a value of 1 to 512 characters");
    }
    if text.chars().any(char::is_whitespace) {
        return Err("must not contain spaces");
    }
    match field {
        "twilio_account_sid"
            if !(text.len() == 34
                && text.starts_with("AC")
                && text[2..].chars().all(|c| c.is_ascii_hexdigit())) =>
        {
            Err("a Twilio account SID is AC followed by 32 hex digits")
        }
        "twilio_whatsapp_from" => {
            let number = text.strip_prefix("whatsapp:").unwrap_or(text);
            if is_e164(number) {
                Ok(number.to_string())
            } else {
                Err("give the WhatsApp sender as an E.164 number such as +14155238886")
            }
        }
        _ => Ok(text.to_string()),
    }
}

fn context(tenant_id: &str) -> String {
    format!("notification_credentials/{tenant_id}")
}

/// The tenant's credentials (empty when none were stored).
pub async fn load(
    db: &Db,
    sealer: Option<&Sealer>,
    tenant_id: &str,
) -> Result<Credentials, NotifyError> {
    let row = sqlx::query(
        "SELECT key_id, secrets_sealed FROM notification_credentials WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(Credentials::default());
    };
    let sealer = sealer.ok_or(NotifyError::NoKey)?;
    let key_id: String = row.try_get("key_id")?;
    let blob: String = row.try_get("secrets_sealed")?;
    let text = sealer.open(&key_id, &blob, &context(tenant_id))?;
    serde_json::from_str(&text).map_err(|_| NotifyError::Unreadable)
}

/// Seals and stores the tenant's credentials under the active key.
pub async fn store(
    db: &Db,
    sealer: Option<&Sealer>,
    tenant_id: &str,
    credentials: &Credentials,
) -> Result<(), NotifyError> {
    let sealer = sealer.ok_or(NotifyError::NoKey)?;
    let text = serde_json::to_string(credentials).map_err(|_| NotifyError::Unreadable)?;
    let sealed = sealer.seal(&text, &context(tenant_id))?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO notification_credentials (tenant_id, key_id, secrets_sealed, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id) DO UPDATE SET key_id = excluded.key_id, secrets_sealed = excluded.secrets_sealed, \
             updated_at = excluded.updated_at",
    )
    .bind(tenant_id)
    .bind(&sealed.key_id)
    .bind(&sealed.blob)
    .bind(timestamp(Utc::now()))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Re-seals every tenant's credentials not sealed under the active key (`hub rotate-keys`);
/// answers how many were moved.
pub async fn reseal_all(db: &Db, sealer: &Sealer) -> Result<usize, NotifyError> {
    let rows = sqlx::query("SELECT tenant_id FROM notification_credentials WHERE key_id <> $1")
        .bind(sealer.active_key_id())
        .fetch_all(db.pool())
        .await?;
    let mut moved = 0;
    for row in &rows {
        let tenant_id: String = row.try_get("tenant_id")?;
        let credentials = load(db, Some(sealer), &tenant_id).await?;
        store(db, Some(sealer), &tenant_id, &credentials).await?;
        moved += 1;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn changes_set_clear_and_keep_fields() {
        let mut credentials = Credentials::default();
        credentials
            .apply(&change(json!({
                "sendgrid_api_key": "SG.key",
                "twilio_account_sid": format!("AC{}", "a".repeat(32)),
                "twilio_auth_token": "token",
                "twilio_whatsapp_from": "whatsapp:+14155238886",
            })))
            .expect("valid");
        assert_eq!(
            credentials.twilio_whatsapp_from.as_deref(),
            Some("+14155238886")
        );
        credentials
            .apply(&change(json!({"sendgrid_api_key": null})))
            .expect("valid");
        assert_eq!(credentials.sendgrid_api_key, None);
        assert_eq!(credentials.twilio_auth_token.as_deref(), Some("token"));
        assert!(!format!("{credentials:?}").contains("token\""));
    }

    #[test]
    fn bad_values_are_named_and_change_nothing_meaningful() {
        let mut credentials = Credentials::default();
        let Err(NotifyError::Invalid(problems)) = credentials.apply(&change(json!({
            "twilio_account_sid": "AC123",
            "twilio_whatsapp_from": "0151",
            "sendgrid_api_key": 5,
            "mailgun": "x",
        }))) else {
            panic!("refused");
        };
        let mut fields: Vec<String> = problems.into_iter().map(|p| p.field).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "mailgun",
                "sendgrid_api_key",
                "twilio_account_sid",
                "twilio_whatsapp_from"
            ]
        );
    }

    #[test]
    fn twilio_sid_and_token_go_together() {
        let mut credentials = Credentials::default();
        let refused = credentials.apply(&change(json!({"twilio_auth_token": "t"})));
        assert!(matches!(refused, Err(NotifyError::Invalid(_))));
    }
}
