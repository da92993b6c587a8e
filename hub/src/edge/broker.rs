//! The embedded rumqttd broker and its login check.
//!
//! rumqttd runs its router and listener on threads of its own, each with a private tokio
//! runtime, and calls the auth handler there. The handler therefore never touches the hub's
//! database pool itself: it sends the login over a channel to a task on the hub's runtime and
//! waits for the verdict. rumqttd has no topic ACLs; the payload seals are what confine a
//! device to its resource (see the module doc of `edge`).
//!
//! rumqttd binds the address itself and cannot report the port it got, so port 0 is resolved
//! here first by binding and releasing a free port (a tiny race with other processes).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{EdgeError, keys, store};
use crate::db::Db;

/// Largest MQTT payload accepted (a schedule snapshot plus the seal, with room to spare).
pub const MAX_PAYLOAD_BYTES: usize = shared::protocol::MAX_MESSAGE_BYTES + 1024;

/// The hub's own login on the embedded broker: made fresh at each start, known only in memory.
#[derive(Clone)]
pub struct InternalLogin {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

impl InternalLogin {
    /// A new random login.
    pub fn generate() -> Self {
        InternalLogin {
            username: format!("corbi-hub-{}", uuid::Uuid::new_v4().simple()),
            password: keys::secret(),
        }
    }
}

struct Login {
    client_id: String,
    username: String,
    password: String,
    verdict: oneshot::Sender<bool>,
}

/// Starts the broker on `bind` and returns the address it listens on.
pub async fn start(
    bind: SocketAddr,
    db: Db,
    internal: InternalLogin,
    shutdown: CancellationToken,
) -> Result<SocketAddr, EdgeError> {
    let addr = resolve_port(bind)?;
    let (logins, requests) = mpsc::channel::<Login>(256);
    tokio::spawn(check_logins(requests, db, internal, shutdown));
    let mut broker = rumqttd::Broker::new(config(addr, logins));
    std::thread::Builder::new()
        .name("corbi-mqtt".into())
        .spawn(move || {
            if let Err(err) = broker.start() {
                tracing::error!(error = %err, "embedded MQTT broker stopped");
            }
        })
        .map_err(|source| EdgeError::Broker(format!("cannot start the broker thread: {source}")))?;
    wait_until_listening(addr).await?;
    tracing::info!(%addr, "embedded MQTT broker listening");
    Ok(addr)
}

fn resolve_port(bind: SocketAddr) -> Result<SocketAddr, EdgeError> {
    let probe = std::net::TcpListener::bind(bind)
        .map_err(|e| EdgeError::Broker(format!("cannot listen on {bind}: {e}")))?;
    probe
        .local_addr()
        .map_err(|e| EdgeError::Broker(format!("cannot listen on {bind}: {e}")))
}

async fn wait_until_listening(addr: SocketAddr) -> Result<(), EdgeError> {
    for _ in 0..250 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(EdgeError::Broker(format!(
        "the embedded broker never listened on {addr}"
    )))
}

fn config(addr: SocketAddr, logins: mpsc::Sender<Login>) -> rumqttd::Config {
    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: MAX_PAYLOAD_BYTES,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let logins = Arc::new(logins);
    connections.set_auth_handler(move |client_id, username, password| {
        let logins = logins.clone();
        async move {
            let (verdict, answer) = oneshot::channel();
            let login = Login {
                client_id,
                username,
                password,
                verdict,
            };
            if logins.send(login).await.is_err() {
                return false;
            }
            answer.await.unwrap_or(false)
        }
    });
    let server = rumqttd::ServerSettings {
        name: "corbi-v4".to_owned(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    rumqttd::Config {
        router: rumqttd::RouterConfig {
            max_connections: 10_000,
            max_outgoing_packet_count: 200,
            max_segment_size: 4 * 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some([("corbi-v4".to_owned(), server)].into_iter().collect()),
        ..Default::default()
    }
}

/// Answers the broker's login checks on the hub's runtime until shutdown.
async fn check_logins(
    mut requests: mpsc::Receiver<Login>,
    db: Db,
    internal: InternalLogin,
    shutdown: CancellationToken,
) {
    loop {
        let login = tokio::select! {
            () = shutdown.cancelled() => return,
            login = requests.recv() => match login {
                Some(login) => login,
                None => return,
            },
        };
        let allowed = allowed(&db, &internal, &login).await;
        if !allowed {
            tracing::warn!(client_id = %login.client_id, "MQTT login refused");
        }
        let _ = login.verdict.send(allowed);
    }
}

/// The hub itself (any client id, so it can take over a revoked device's session), or an
/// enrolled, unrevoked device whose client id and username are its device id.
async fn allowed(db: &Db, internal: &InternalLogin, login: &Login) -> bool {
    if keys::same_secret(&login.username, &internal.username) {
        return keys::same_secret(&login.password, &internal.password);
    }
    if login.client_id != login.username {
        return false;
    }
    match store::mqtt_login_ok(db, &login.username, &login.password).await {
        Ok(ok) => ok,
        Err(err) => {
            tracing::warn!(error = %err, "MQTT login could not be checked");
            false
        }
    }
}
