//! In-memory state of the emulated Google: accounts, calendars with ACLs and events, OAuth grants,
//! push channels, the request log and queued faults. One `Store` sits behind a mutex in `Shared`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use serde_json::{Map, Value};

use super::faults::FaultQueue;
use super::push::{ChannelRecord, PushRecord};

/// Access a user has to a calendar, as Google's ACL roles name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// Sees only free/busy (`freeBusyReader`).
    FreeBusyReader,
    /// Reads events (`reader`).
    Reader,
    /// Reads and writes events (`writer`).
    Writer,
    /// Full control, including deleting the calendar (`owner`).
    Owner,
}

impl Role {
    /// The `accessRole` string Google uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::FreeBusyReader => "freeBusyReader",
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Owner => "owner",
        }
    }

    /// Parses Google's `accessRole` / `minAccessRole` strings.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "freeBusyReader" => Some(Role::FreeBusyReader),
            "reader" => Some(Role::Reader),
            "writer" => Some(Role::Writer),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

/// One event as stored: the full resource as Google would return it, plus ordering data.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The event resource (`kind`, `id`, `etag`, `status`, ...).
    pub body: Map<String, Value>,
    /// Calendar change counter value at the event's last change; drives sync tokens.
    pub seq: u64,
    /// Creation order inside the calendar; lists are ordered by it.
    pub order: u64,
}

impl StoredEvent {
    /// The event id.
    pub fn id(&self) -> &str {
        self.body
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Whether the event is deleted (`status: cancelled`).
    pub fn cancelled(&self) -> bool {
        self.body.get("status").and_then(Value::as_str) == Some("cancelled")
    }

    /// The id of the recurring event this is an exception of, if any.
    pub fn recurring_event_id(&self) -> Option<&str> {
        self.body.get("recurringEventId").and_then(Value::as_str)
    }
}

/// A calendar with its ACL and events.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// Calendar id (the owner's email for a primary calendar).
    pub id: String,
    /// Title.
    pub summary: String,
    /// Description, if set.
    pub description: Option<String>,
    /// IANA time zone.
    pub time_zone: String,
    /// Whether this is its owner's primary calendar.
    pub primary: bool,
    /// Opaque, stable id of the calendar's events collection, sent in push notifications.
    pub resource_id: String,
    /// email → role.
    pub acl: HashMap<String, Role>,
    /// Events by creation order.
    pub events: BTreeMap<u64, StoredEvent>,
    /// Event id → creation order.
    pub by_id: HashMap<String, u64>,
    /// Next creation order number.
    pub next_order: u64,
    /// Monotonic change counter; every event change takes the next value.
    pub seq: u64,
    /// Sync-token generation; bumping it makes every earlier sync token answer 410.
    pub epoch: u64,
    /// Calendar resource etag.
    pub etag: String,
}

impl Calendar {
    /// A new empty calendar owned by `owner`.
    pub fn new(id: &str, summary: &str, owner: &str, primary: bool) -> Self {
        Calendar {
            id: id.to_owned(),
            summary: summary.to_owned(),
            description: None,
            time_zone: "UTC".to_owned(),
            primary,
            resource_id: random_token(27),
            acl: HashMap::from([(owner.to_owned(), Role::Owner)]),
            events: BTreeMap::new(),
            by_id: HashMap::new(),
            next_order: 0,
            seq: 0,
            epoch: 0,
            etag: next_etag(),
        }
    }

    /// The caller's role on this calendar.
    pub fn role(&self, email: &str) -> Option<Role> {
        self.acl.get(email).copied()
    }

    /// The stored event with this id.
    pub fn event(&self, id: &str) -> Option<&StoredEvent> {
        self.by_id.get(id).and_then(|order| self.events.get(order))
    }

    /// Stores a new or changed event and advances the change counter.
    pub fn put_event(&mut self, body: Map<String, Value>) {
        self.seq += 1;
        let id = body
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let order = match self.by_id.get(&id) {
            Some(order) => *order,
            None => {
                self.next_order += 1;
                self.by_id.insert(id, self.next_order);
                self.next_order
            }
        };
        self.events.insert(
            order,
            StoredEvent {
                body,
                seq: self.seq,
                order,
            },
        );
    }
}

/// An issued OAuth access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// Account the token acts for.
    pub email: String,
    /// Granted scope URLs.
    pub scopes: Vec<String>,
    /// Expiry instant.
    pub expires_at: DateTime<Utc>,
    /// Refresh token it was minted from, so revoking the grant kills it too.
    pub refresh_token: Option<String>,
}

/// An issued OAuth refresh token (a grant).
#[derive(Debug, Clone)]
pub struct RefreshToken {
    /// Account of the grant.
    pub email: String,
    /// Client the grant belongs to.
    pub client_id: String,
    /// Granted scope URLs.
    pub scopes: Vec<String>,
    /// Set once revoked; then the token endpoint answers `invalid_grant`.
    pub revoked: bool,
}

/// A pending authorization code.
#[derive(Debug, Clone)]
pub struct AuthCode {
    /// Account that approved.
    pub email: String,
    /// Client that asked.
    pub client_id: String,
    /// redirect_uri given to the authorization endpoint; the token request must repeat it.
    pub redirect_uri: String,
    /// Requested scope URLs.
    pub scopes: Vec<String>,
    /// PKCE challenge and method, if sent.
    pub challenge: Option<(String, String)>,
    /// OpenID Connect `nonce` sent to the authorization endpoint, repeated in the ID token.
    pub nonce: Option<String>,
    /// Whether a refresh token is issued (`access_type=offline`).
    pub offline: bool,
    /// Expiry of the code.
    pub expires_at: DateTime<Utc>,
}

/// One served request, as `GET /_emulator/requests` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path as received.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// Email of the account whose access token was used.
    pub caller: Option<String>,
    /// Response status.
    pub status: u16,
    /// When the request was answered (RFC 3339).
    pub at: String,
}

/// Per-user request counter for the quota window.
#[derive(Debug, Clone, Copy)]
pub struct QuotaWindow {
    /// Minute (Unix time / 60) the count belongs to.
    pub minute: i64,
    /// Requests in that minute.
    pub count: u32,
}

/// All emulator state.
#[derive(Debug, Default)]
pub struct Store {
    /// Account emails (ordered, so "the first account" is well defined).
    pub accounts: Vec<String>,
    /// Calendars by id.
    pub calendars: HashMap<String, Calendar>,
    /// Access tokens by value.
    pub access_tokens: HashMap<String, AccessToken>,
    /// Refresh tokens by value.
    pub refresh_tokens: HashMap<String, RefreshToken>,
    /// Authorization codes by value.
    pub codes: HashMap<String, AuthCode>,
    /// Registered OAuth clients: id → secret.
    pub clients: HashMap<String, String>,
    /// Push channels by channel id.
    pub channels: HashMap<String, ChannelRecord>,
    /// Push deliveries attempted.
    pub pushes: Vec<PushRecord>,
    /// Request log, oldest first.
    pub requests: Vec<RequestRecord>,
    /// Queued faults.
    pub faults: FaultQueue,
    /// Quota windows by email.
    pub quota: HashMap<String, QuotaWindow>,
}

impl Store {
    /// Adds an account and its primary calendar (id = email); a no-op if it exists.
    pub fn add_account(&mut self, email: &str) {
        if self.accounts.iter().any(|a| a == email) {
            return;
        }
        self.accounts.push(email.to_owned());
        self.calendars
            .insert(email.to_owned(), Calendar::new(email, email, email, true));
    }

    /// Resolves the `primary` alias to the caller's own calendar id.
    pub fn resolve(&self, calendar_id: &str, caller: &str) -> String {
        if calendar_id == "primary" {
            caller.to_owned()
        } else {
            calendar_id.to_owned()
        }
    }

    /// Issues an access token for `email` with `scopes`, valid for `ttl`.
    pub fn issue_access_token(
        &mut self,
        email: &str,
        scopes: Vec<String>,
        ttl: chrono::Duration,
        refresh_token: Option<String>,
    ) -> String {
        let token = format!("ya29.{}", random_token(48));
        let record = AccessToken {
            email: email.to_owned(),
            scopes,
            expires_at: Utc::now() + ttl,
            refresh_token,
        };
        self.access_tokens.insert(token.clone(), record);
        token
    }
}

/// A fresh etag as Google formats it: a quoted decimal number, different on every change.
pub fn next_etag() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    let micros = u64::try_from(Utc::now().timestamp_micros()).unwrap_or_default();
    format!("\"{}\"", micros.saturating_mul(1000) + counter % 1000)
}

/// A random token of `len` URL-safe characters.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A random id in Google's event id alphabet (lowercase base32hex), 26 characters long.
pub fn random_event_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuv";
    let mut rng = rand::rng();
    (0..26)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
