//! The embedded rumqttd broker and its login check.
//!
//! rumqttd runs its router and listener on threads of its own, each with a private tokio
//! runtime, and calls the auth handler there. The handler therefore never touches the hub's
//! database pool itself: it sends the login over a channel to a task on the hub's runtime and
//! waits for the verdict. rumqttd has no topic ACLs; the payload seals are what confine a
//! device to its resource (see the module doc of `edge`).
//!
//! With TLS configured, devices get a TLS-only listener on `MQTT_BIND` and the hub's own client
//! a plain one on a free loopback port (it never leaves the machine, and needs no certificate
//! naming 127.0.0.1); both feed the same router, so the hub still sees every device.
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

/// The PEM files of the devices' TLS listener.
#[derive(Debug, Clone)]
pub struct Tls {
    /// Certificate chain path.
    pub cert: String,
    /// Private key path.
    pub key: String,
}

/// Where the started broker listens.
#[derive(Debug, Clone, Copy)]
pub struct Listening {
    /// The devices' listener (TLS when configured).
    pub devices: SocketAddr,
    /// The hub's own client's listener (the same one without TLS).
    pub hub: SocketAddr,
}

/// Starts the broker on `bind` (TLS-only there when `tls` is given) and returns where it
/// listens.
pub async fn start(
    bind: SocketAddr,
    tls: Option<Tls>,
    db: Db,
    internal: InternalLogin,
    shutdown: CancellationToken,
) -> Result<Listening, EdgeError> {
    let devices = resolve_port(bind)?;
    let hub = match &tls {
        Some(tls) => {
            for path in [&tls.cert, &tls.key] {
                if !std::path::Path::new(path).is_file() {
                    return Err(EdgeError::Broker(format!("TLS file {path} not found")));
                }
            }
            resolve_port(SocketAddr::from(([127, 0, 0, 1], 0)))?
        }
        None => devices,
    };
    let (logins, requests) = mpsc::channel::<Login>(256);
    let probe = internal.clone();
    tokio::spawn(check_logins(requests, db, internal, shutdown));
    let mut servers = vec![(
        "corbi-v4".to_owned(),
        server("corbi-v4", devices, tls.clone(), &logins),
    )];
    if tls.is_some() {
        servers.push((
            "corbi-hub".to_owned(),
            server("corbi-hub", hub, None, &logins),
        ));
    }
    let mut broker = rumqttd::Broker::new(config(servers));
    std::thread::Builder::new()
        .name("corbi-mqtt".into())
        .spawn(move || {
            if let Err(err) = broker.start() {
                tracing::error!(error = %err, "embedded MQTT broker stopped");
            }
        })
        .map_err(|source| EdgeError::Broker(format!("cannot start the broker thread: {source}")))?;
    wait_until_listening(hub, &probe).await?;
    if tls.is_some() {
        wait_until_accepting(devices).await?;
    }
    tracing::info!(%devices, tls = tls.is_some(), "embedded MQTT broker listening");
    Ok(Listening { devices, hub })
}

fn resolve_port(bind: SocketAddr) -> Result<SocketAddr, EdgeError> {
    let probe = std::net::TcpListener::bind(bind)
        .map_err(|e| EdgeError::Broker(format!("cannot listen on {bind}: {e}")))?;
    probe
        .local_addr()
        .map_err(|e| EdgeError::Broker(format!("cannot listen on {bind}: {e}")))
}

/// Waits until the broker answers an MQTT login on the plain listener. The probe is a whole
/// MQTT session with the hub's own login, ended by DISCONNECT: a bare TCP connection closed
/// before its CONNECT makes rumqttd log an ERROR at every start.
async fn wait_until_listening(addr: SocketAddr, login: &InternalLogin) -> Result<(), EdgeError> {
    for _ in 0..250 {
        let handshake = tokio::time::timeout(Duration::from_secs(1), mqtt_session(addr, login));
        if matches!(handshake.await, Ok(Ok(()))) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(EdgeError::Broker(format!(
        "the embedded broker never listened on {addr}"
    )))
}

/// Waits until the TLS listener accepts connections (it runs beside the plain one; a TLS
/// handshake would need the devices' CA here).
async fn wait_until_accepting(addr: SocketAddr) -> Result<(), EdgeError> {
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

/// Connects with MQTT 3.1.1, waits for an accepting CONNACK, pings (so the router has taken
/// the session in before it ends) and closes the connection. rumqttd 0.20 logs a closed
/// connection at INFO but a DISCONNECT packet as an ERROR ("router-drop"), so none is sent.
async fn mqtt_session(addr: SocketAddr, login: &InternalLogin) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(&connect_packet(login)).await?;
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack).await?;
    if connack[0] != 0x20 || connack[3] != 0 {
        return Err(std::io::Error::other("the broker refused the hub's login"));
    }
    stream.write_all(&[0xC0, 0x00]).await?;
    let mut pingresp = [0u8; 2];
    stream.read_exact(&mut pingresp).await?;
    Ok(())
}

/// An MQTT 3.1.1 CONNECT with a clean session, username and password; the client id is the
/// hub's username with a suffix, so it never takes over the hub client's session.
fn connect_packet(login: &InternalLogin) -> Vec<u8> {
    let client_id = format!("{}-ready", login.username);
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xC2, 0x00, 0x0A];
    for field in [client_id.as_str(), &login.username, &login.password] {
        let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
        body.extend_from_slice(&len.to_be_bytes());
        body.extend_from_slice(field.as_bytes());
    }
    let mut packet = vec![0x10];
    let mut remaining = body.len();
    loop {
        let mut byte = u8::try_from(remaining % 128).unwrap_or(0);
        remaining /= 128;
        if remaining > 0 {
            byte |= 0x80;
        }
        packet.push(byte);
        if remaining == 0 {
            break;
        }
    }
    packet.extend(body);
    packet
}

fn server(
    name: &str,
    addr: SocketAddr,
    tls: Option<Tls>,
    logins: &mpsc::Sender<Login>,
) -> rumqttd::ServerSettings {
    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: MAX_PAYLOAD_BYTES,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let logins = Arc::new(logins.clone());
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
    rumqttd::ServerSettings {
        name: name.to_owned(),
        listen: addr,
        tls: tls.map(|tls| rumqttd::TlsConfig::Rustls {
            capath: None,
            certpath: tls.cert,
            keypath: tls.key,
        }),
        next_connection_delay_ms: 1,
        connections,
    }
}

fn config(servers: Vec<(String, rumqttd::ServerSettings)>) -> rumqttd::Config {
    rumqttd::Config {
        router: rumqttd::RouterConfig {
            max_connections: 10_000,
            max_outgoing_packet_count: 200,
            max_segment_size: 4 * 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(servers.into_iter().collect()),
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
