//! Test support: a fresh database per test on either backend, a running hub on port 0, seeded
//! tenants, the one `eventually` wait and a log capture that every test's logs go to; the edge
//! tests' MQTT harness is in [`mqtt`].

pub mod mqtt;

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use emulators::google::{GoogleConfig, GoogleEmulator};
use hub::{
    Hub,
    auth::{Role, store},
    config::{Config, JobsConfig, Secret},
    db::Db,
    jobs::Registry,
};
use reqwest::{Client, Method, Response};
use serde_json::Value;
use shared::ActorType;
use sqlx::Connection;

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A fresh, empty database for one test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(engine: Engine) -> TestDb {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("corbi.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                }
            }
            Engine::Postgres => {
                let admin_url = std::env::var("CORBI_TEST_POSTGRES_URL")
                    .expect("CORBI_TEST_POSTGRES_URL names the PostgreSQL server for these tests");
                let name = format!("corbi_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("PostgreSQL reachable at CORBI_TEST_POSTGRES_URL");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                let url = replace_database(&admin_url, &name);
                TestDb { url, _dir: None }
            }
        }
    }

    pub async fn connect(&self) -> Db {
        Db::connect_and_migrate(&self.url)
            .await
            .expect("database opens and migrates")
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("valid postgres URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// Runs the test function `name(engine: Engine)` above it once on SQLite and once on
/// PostgreSQL (ignored, with the reason, when `CORBI_TEST_POSTGRES_URL` was not set at build
/// time): `on_both_engines!(name);` makes the tests `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_engines {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Engine::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                not(corbi_postgres),
                ignore = "needs PostgreSQL: set CORBI_TEST_POSTGRES_URL"
            )]
            async fn postgres() {
                super::$name($crate::support::Engine::Postgres).await;
            }
        }
    };
}

/// Job settings fast enough for tests.
pub fn fast_jobs() -> JobsConfig {
    JobsConfig {
        workers: 4,
        poll_ms: 50,
        lease_secs: 30,
        max_attempts: 3,
        backoff_base_ms: 20,
        backoff_max_secs: 1,
    }
}

/// A hub running on port 0 over a fresh database.
/// The `METRICS_TOKEN` every test hub is started with.
pub const METRICS_TOKEN: &str = "test-metrics-token";

pub struct TestHub {
    pub hub: Hub,
    pub db: TestDb,
    pub client: Client,
}

/// A tenant with one credential of each kind.
pub struct Seeded {
    pub tenant_id: String,
    pub admin_token: String,
    pub member_token: String,
    pub ai_key: String,
}

impl TestHub {
    pub async fn start(engine: Engine) -> TestHub {
        TestHub::start_with(engine, Registry::new(), |_| {}).await
    }

    pub async fn start_with(
        engine: Engine,
        registry: Registry,
        adjust: impl FnOnce(&mut Config),
    ) -> TestHub {
        init_log_capture();
        let db = TestDb::new(engine).await;
        let mut config = Config {
            database_url: Secret::new(db.url.clone()),
            bind: "127.0.0.1:0".parse().expect("addr"),
            mqtt_bind: "127.0.0.1:0".parse().expect("addr"),
            jobs: fast_jobs(),
            metrics_token: Secret::new(METRICS_TOKEN),
            // Tests poll far faster than any client (every 20 ms, a call per meeting), so the
            // credential and tenant budgets are off; protection.rs sets the ones it tests.
            limits: hub::config::LimitsConfig {
                credential_per_second: 0,
                tenant_per_second: 0,
                ..Default::default()
            },
            ..Config::default()
        };
        adjust(&mut config);
        let hub = Hub::start(config, registry).await.expect("hub starts");
        TestHub {
            hub,
            db,
            client: no_redirects(),
        }
    }

    /// Stops this hub and starts another on the same database, with the configuration
    /// adjusted (a restart, a key rotation).
    pub async fn restart(self, adjust: impl FnOnce(&mut Config)) -> TestHub {
        let mut config = self.hub.state.config.as_ref().clone();
        config.bind = "127.0.0.1:0".parse().expect("addr");
        adjust(&mut config);
        let TestHub { hub, db, client } = self;
        hub.stop().await;
        let hub = Hub::start(config, Registry::new())
            .await
            .expect("hub restarts");
        TestHub { hub, db, client }
    }

    pub fn db(&self) -> &Db {
        &self.hub.state.db
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.hub.base_url(), path)
    }

    pub async fn seed(&self, slug: &str) -> Seeded {
        let db = self.db();
        let tenant = store::create_tenant(db, slug, slug).await.expect("tenant");
        let admin = store::create_user(
            db,
            &tenant.id,
            &format!("admin@{slug}.example.com"),
            Role::Admin,
        )
        .await
        .expect("admin");
        let member = store::create_user(
            db,
            &tenant.id,
            &format!("member@{slug}.example.com"),
            Role::Member,
        )
        .await
        .expect("member");
        Seeded {
            tenant_id: tenant.id.clone(),
            admin_token: store::issue_personal_token(db, &admin, "t")
                .await
                .expect("token")
                .token,
            member_token: store::issue_personal_token(db, &member, "t")
                .await
                .expect("token")
                .token,
            ai_key: store::issue_api_key(db, &tenant.id, "ai", ActorType::Ai)
                .await
                .expect("key")
                .token,
        }
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    pub async fn stop(self) {
        self.hub.stop().await;
    }
}

/// An HTTP client that shows redirects instead of following them.
pub fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The emulated Google of a test: the emulator plus the hub settings that point at it.
pub struct FakeGoogle {
    pub emulator: GoogleEmulator,
}

/// The account that owns the demo tenant's resource calendars in tests.
pub const ROOMS_ACCOUNT: &str = "rooms@acme.example.com";
pub const OAUTH_CLIENT: (&str, &str) = ("corbi-test-client", "corbi-test-secret");

impl FakeGoogle {
    pub async fn start() -> FakeGoogle {
        FakeGoogle::start_with(GoogleConfig {
            allow_http_loopback: true,
            ..GoogleConfig::default()
        })
        .await
    }

    pub async fn start_with(config: GoogleConfig) -> FakeGoogle {
        let emulator = GoogleEmulator::start(config)
            .await
            .expect("emulator starts");
        emulator.register_oauth_client(OAUTH_CLIENT.0, OAUTH_CLIENT.1);
        emulator.add_account(ROOMS_ACCOUNT);
        FakeGoogle { emulator }
    }

    /// Points a hub configuration at this emulator, with a fresh sealing key.
    pub fn configure(&self, config: &mut Config) {
        let base = self.emulator.base_url();
        config.google.client_id = OAUTH_CLIENT.0.into();
        config.google.client_secret = Secret::new(OAUTH_CLIENT.1);
        config.google.auth_url = format!("{base}/o/oauth2/auth");
        config.google.token_url = format!("{base}/token");
        config.google.revoke_url = format!("{base}/revoke");
        config.google.issuer = base.clone();
        config.google.api_base_url = base;
        config.google.retry_deadline_ms = 5_000;
        config.encryption.keys = Secret::new(hub::connections::seal::generate_key("k1"));
        config.encryption.active_key_id = String::new();
    }

    /// Counts requests the emulator served for a path suffix and method.
    pub fn count(&self, method: &str, path_suffix: &str) -> usize {
        self.emulator
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(path_suffix))
            .count()
    }
}

impl TestHub {
    /// A hub connected to a fresh emulated Google.
    pub async fn start_google(engine: Engine) -> (TestHub, FakeGoogle) {
        TestHub::start_google_with(engine, |_| {}).await
    }

    /// A hub connected to a fresh emulated Google, with the configuration adjusted further.
    pub async fn start_google_with(
        engine: Engine,
        adjust: impl FnOnce(&mut Config),
    ) -> (TestHub, FakeGoogle) {
        let google = FakeGoogle::start().await;
        let hub = TestHub::start_with(engine, Registry::new(), |c| {
            google.configure(c);
            adjust(c);
        })
        .await;
        (hub, google)
    }

    /// Runs the OAuth consent of `for` (tenant or user) as `token`'s person, signed in to
    /// Google as `email`; returns the callback's status.
    pub async fn consent(&self, token: &str, target: &str, email: &str) -> u16 {
        hub::demo::consent(&self.client, self.hub.base_url(), token, target, email)
            .await
            .expect("consent round trip")
            .as_u16()
    }
}

/// Asserts a contract error answer and returns its body.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    let actual = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(actual, status, "unexpected status; body: {body}");
    assert_eq!(body["error"]["code"], code, "body: {body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.ends_with('.') && message.len() > 10,
        "speakable message: {message}"
    );
    assert!(body["error"]["correlation_id"].is_string(), "body: {body}");
    assert!(body["error"]["details"].is_object(), "body: {body}");
    body
}

/// How often [`eventually`] asks again.
const POLL: Duration = Duration::from_millis(20);

/// What a condition polled by [`eventually`] answers: whether it holds yet and, if so, the value
/// the wait returns.
pub trait Holds {
    /// What the wait returns once the condition holds.
    type Value;

    /// The value when the condition holds; otherwise why not yet (shown if time runs out).
    fn holds(self) -> Result<Self::Value, String>;
}

/// `true` once it holds.
impl Holds for bool {
    type Value = ();

    fn holds(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("still false".into())
        }
    }
}

/// `Some(value)` once it holds.
impl<T> Holds for Option<T> {
    type Value = T;

    fn holds(self) -> Result<T, String> {
        self.ok_or_else(|| "still nothing".into())
    }
}

/// `Ok(value)` once it holds, `Err(why not)` until then.
impl<T, E: std::fmt::Display> Holds for Result<T, E> {
    type Value = T;

    fn holds(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Polls `check` every few milliseconds until it holds and returns its value; panics naming
/// `what` (and the last answer) once `within` has passed. The one place tests wait for
/// something to happen: no test sleeps otherwise.
pub async fn eventually<F, Fut>(
    within: Duration,
    what: &str,
    mut check: F,
) -> <Fut::Output as Holds>::Value
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Holds,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match check().await.holds() {
            Ok(value) => return value,
            Err(why) => why,
        };
        if tokio::time::Instant::now() >= deadline {
            if std::env::var_os("CORBI_TEST_DUMP_LOGS").is_some() {
                eprintln!("{}", captured_logs());
            }
            panic!("timed out after {within:?} waiting for: {what}; last answer: {last}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Everything every test logged, at debug level.
pub fn captured_logs() -> String {
    let buffer = log_buffer().lock().expect("log buffer");
    String::from_utf8_lossy(&buffer).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(Default::default)
}

struct CaptureWriter;

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log_buffer()
            .lock()
            .expect("log buffer")
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every log line of the test process, at debug level, to the capture buffer.
pub fn init_log_capture() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,sqlx=info,hyper=info,reqwest=info,h2=info")
            .with_writer(|| CaptureWriter)
            .with_ansi(false)
            .try_init();
    });
}

/// A tenant connected to the emulated Google with rooms onboarded.
pub struct World {
    pub hub: TestHub,
    pub google: FakeGoogle,
    pub acme: Seeded,
    /// Room ids, in the order of the names given.
    pub rooms: Vec<String>,
}

impl World {
    pub async fn with_rooms(engine: Engine, names: &[&str]) -> World {
        World::with_rooms_and(engine, names, |_| {}).await
    }

    /// Like [`World::with_rooms`], with the hub's configuration adjusted (e.g. an external broker).
    pub async fn with_rooms_and(
        engine: Engine,
        names: &[&str],
        adjust: impl FnOnce(&mut Config),
    ) -> World {
        let (hub, google) = TestHub::start_google_with(engine, adjust).await;
        let acme = hub.seed("acme").await;
        assert_eq!(
            hub.consent(&acme.admin_token, "tenant", ROOMS_ACCOUNT)
                .await,
            200
        );
        let mut rooms = Vec::new();
        for name in names {
            let body = serde_json::json!({
                "name": name,
                "kind": "ROOM",
                "capacity": 6,
                "calendar": {"mode": "CREATE"},
            });
            let created = hub
                .call(
                    Method::POST,
                    "/api/v1/resources",
                    Some(&acme.admin_token),
                    Some(body),
                )
                .await;
            assert_eq!(created.status(), 201);
            let room: Value = created.json().await.expect("json");
            rooms.push(room["id"].as_str().expect("id").to_string());
        }
        World {
            hub,
            google,
            acme,
            rooms,
        }
    }

    /// The Google calendar of a room.
    pub async fn calendar_of(&self, room_id: &str) -> String {
        hub::resources::get(self.hub.db(), &self.acme.tenant_id, room_id)
            .await
            .expect("room")
            .calendar_id
    }

    /// Books through the API and returns the response.
    pub async fn book(&self, token: &str, body: Value) -> Response {
        self.hub
            .call(
                Method::POST,
                "/api/v1/calendar/events",
                Some(token),
                Some(body),
            )
            .await
    }
}

/// A booking body for a room on a far-future date (`day` is `YYYY-MM-DD`, times `HH:MM` UTC).
pub fn booking(room: &str, title: &str, day: &str, from: &str, to: &str) -> Value {
    serde_json::json!({
        "title": title,
        "start": format!("{day}T{from}:00Z"),
        "end": format!("{day}T{to}:00Z"),
        "time_zone": "UTC",
        "resource_id": room,
        "participants": [{"email": "ana@example.com", "name": "Ana", "phone": "+4915112345678"}],
    })
}
