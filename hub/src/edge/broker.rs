//! The embedded rumqttd broker and its login check.
//!
//! rumqttd listens on loopback only. Devices reach it through the [gate](super::gate) on
//! `MQTT_BIND`, which checks each device's login against the database and confines it to its
//! topics (rumqttd has no topic ACLs), and terminates TLS when configured. rumqttd's own check
//! is then a comparison in memory: the hub's login made fresh at each start, or a device id
//! with the password the gate derives for it from that login's secret, so a process on the
//! machine cannot skip the gate by dialling rumqttd's port with a device's password.
//!
//! rumqttd binds the address itself and cannot report the port it got, so its loopback port
//! is found first by binding and releasing a free port (a tiny race with other processes).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{EdgeError, gate, keys};
use crate::{auth::tokens, db::Db, observability::Metrics};

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

    /// The password the gate gives rumqttd for a device it admitted.
    pub fn gate_password(&self, device_id: &str) -> String {
        tokens::hash(&format!("{}\0gate\0{device_id}", self.password))
    }
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

/// Starts rumqttd on loopback and the gate on `bind` (TLS-only there when `tls` is given)
/// and returns where they listen.
pub async fn start(
    bind: SocketAddr,
    tls: Option<Tls>,
    db: Db,
    metrics: Arc<Metrics>,
    internal: InternalLogin,
    shutdown: CancellationToken,
) -> Result<Listening, EdgeError> {
    let acceptor = tls.as_ref().map(acceptor).transpose()?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| EdgeError::Broker(format!("cannot listen on {bind}: {e}")))?;
    let devices = listener
        .local_addr()
        .map_err(|e| EdgeError::Broker(format!("cannot listen on {bind}: {e}")))?;
    let hub = resolve_port(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let servers = vec![("corbi-v4".to_owned(), server("corbi-v4", hub, &internal))];
    let mut broker = rumqttd::Broker::new(config(servers));
    std::thread::Builder::new()
        .name("corbi-mqtt".into())
        .spawn(move || {
            if let Err(err) = broker.start() {
                tracing::error!(error = %err, "embedded MQTT broker stopped");
            }
        })
        .map_err(|source| EdgeError::Broker(format!("cannot start the broker thread: {source}")))?;
    wait_until_listening(hub, &internal).await?;
    let gate = gate::Gate {
        db,
        upstream: hub,
        internal,
        tls: acceptor,
        metrics,
    };
    tokio::spawn(gate::serve(listener, gate, shutdown));
    tracing::info!(%devices, tls = tls.is_some(), "embedded MQTT broker listening");
    Ok(Listening { devices, hub })
}

/// The gate's TLS acceptor from the PEM files.
fn acceptor(tls: &Tls) -> Result<tokio_rustls::TlsAcceptor, EdgeError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let bad = |what: &str, path: &str, e: &dyn std::fmt::Display| {
        EdgeError::Broker(format!("TLS {what} {path}: {e}"))
    };
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad("certificate", &tls.cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| bad("key", &tls.key, &e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| bad("certificate", &tls.cert, &e))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
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

fn server(name: &str, addr: SocketAddr, internal: &InternalLogin) -> rumqttd::ServerSettings {
    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: MAX_PAYLOAD_BYTES,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let internal = Arc::new(internal.clone());
    connections.set_auth_handler(move |client_id, username, password| {
        let internal = internal.clone();
        async move { allowed(&internal, &client_id, &username, &password) }
    });
    rumqttd::ServerSettings {
        name: name.to_owned(),
        listen: addr,
        tls: None,
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

/// The hub itself (any client id, so it can take over a revoked device's session), or a device
/// the gate admitted (its client id and username are its id, its password the gate's).
fn allowed(internal: &InternalLogin, client_id: &str, username: &str, password: &str) -> bool {
    if keys::same_secret(username, &internal.username) {
        return keys::same_secret(password, &internal.password);
    }
    client_id == username && keys::same_secret(password, &internal.gate_password(username))
}
