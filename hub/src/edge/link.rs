//! The hub's side of MQTT: which broker (embedded or external), the hub's own client, and the
//! handle ([`Edge`]) the rest of the hub publishes through.

use std::{sync::Arc, time::Duration};

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{BrokerKind, DeviceRequests, EdgeError, broker, dynsec, inbound};
use crate::{
    config::{Config, EdgeConfig},
    connections::seal::Sealer,
    db::Db,
    jobs::Queue,
    observability::Metrics,
};

/// How to reach the broker as the hub.
#[derive(Clone)]
struct Endpoint {
    host: String,
    port: u16,
    login: Option<(String, String)>,
}

impl Endpoint {
    fn options(&self, client_id: &str) -> MqttOptions {
        let mut options = MqttOptions::new(client_id, &self.host, self.port);
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_clean_session(true)
            .set_max_packet_size(broker::MAX_PAYLOAD_BYTES, broker::MAX_PAYLOAD_BYTES);
        if let Some((username, password)) = &self.login {
            options.set_credentials(username, password);
        }
        options
    }
}

/// The edge capability as the rest of the hub sees it; cheap to clone.
#[derive(Clone)]
pub struct Edge {
    inner: Arc<Inner>,
}

struct Inner {
    client: AsyncClient,
    endpoint: Endpoint,
    broker: BrokerKind,
    device_url: String,
    sealer: Option<Sealer>,
    config: EdgeConfig,
    metrics: Arc<Metrics>,
    /// The hub's username on an external Mosquitto whose dynamic security plugin it drives.
    dynsec: Option<String>,
}

impl Edge {
    /// Starts the embedded broker (unless `MQTT_URL` names an external one) and creates the
    /// hub's client; the returned event loop is driven by [`Edge::spawn`] once the job queue and
    /// the device request handlers exist.
    pub async fn start(
        config: &Config,
        db: &Db,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Result<(Edge, EventLoop), EdgeError> {
        let sealer = if config.encryption.keys.expose().is_empty() {
            None
        } else {
            Some(Sealer::from_config(&config.encryption)?)
        };
        let (endpoint, broker) = if config.mqtt_url.trim().is_empty() {
            let login = broker::InternalLogin::generate();
            let listening = broker::start(
                config.mqtt_bind,
                tls(config)?,
                db.clone(),
                metrics.clone(),
                login.clone(),
                shutdown,
            )
            .await?;
            let endpoint = Endpoint {
                host: listening.hub.ip().to_string(),
                port: listening.hub.port(),
                login: Some((login.username, login.password)),
            };
            (endpoint, BrokerKind::Embedded(listening.devices))
        } else {
            (
                external_endpoint(config)?,
                BrokerKind::External(config.mqtt_url.clone()),
            )
        };
        let device_url = device_url(config, &broker);
        let dynsec = (config.mqtt_dynsec && matches!(broker, BrokerKind::External(_)))
            .then(|| config.mqtt_username.clone());
        let client_id = format!("corbi-hub-{}", uuid::Uuid::new_v4().simple());
        let (client, eventloop) = AsyncClient::new(endpoint.options(&client_id), 1024);
        let edge = Edge {
            inner: Arc::new(Inner {
                client,
                endpoint,
                broker,
                device_url,
                sealer,
                config: config.edge.clone(),
                metrics,
                dynsec,
            }),
        };
        Ok((edge, eventloop))
    }

    /// Drives the hub's MQTT connection and handles device messages until shutdown: stored in
    /// `db`, schedule requests queued on `jobs`, check-ins and walk-ups decided by `requests`.
    pub fn spawn(
        &self,
        db: Db,
        jobs: Queue,
        requests: Arc<dyn DeviceRequests>,
        eventloop: EventLoop,
        shutdown: CancellationToken,
    ) -> Vec<JoinHandle<()>> {
        let hub = inbound::Handles {
            db,
            jobs,
            metrics: self.inner.metrics.clone(),
            edge: self.clone(),
        };
        inbound::spawn(
            hub,
            requests,
            self.inner.client.clone(),
            eventloop,
            shutdown,
        )
    }

    /// The broker the hub uses.
    pub fn broker(&self) -> &BrokerKind {
        &self.inner.broker
    }

    /// The broker URL handed to devices at enrollment.
    pub fn device_url(&self) -> &str {
        &self.inner.device_url
    }

    /// The edge settings.
    pub fn config(&self) -> &EdgeConfig {
        &self.inner.config
    }

    /// The hub's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The sealer for keys at rest; enrollment needs `ENCRYPTION_KEYS`.
    pub fn sealer(&self) -> Result<&Sealer, EdgeError> {
        self.inner.sealer.as_ref().ok_or(EdgeError::NoSealer)
    }

    /// Queues a publish on the hub's connection (QoS 1; delivered once the broker is reachable).
    /// Never waits: when the queue is full (the broker has been away for long) it fails, so a
    /// publish job retries later instead of holding its transaction open.
    pub fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) -> Result<(), EdgeError> {
        self.inner
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .map_err(|e| EdgeError::Broker(e.to_string()))
    }

    /// On each connection to the broker: with the dynamic security plugin, the hub gives itself
    /// its role and listens for the plugin's answers.
    pub(super) fn on_connected(&self) {
        let Some(hub_username) = &self.inner.dynsec else {
            return;
        };
        if let Err(err) = self
            .inner
            .client
            .try_subscribe(dynsec::RESPONSE_TOPIC, QoS::AtLeastOnce)
        {
            tracing::error!(error = %err, "cannot subscribe to the dynamic security answers");
        }
        self.control(&dynsec::hub_role(hub_username));
    }

    /// Whether the message was the dynamic security plugin's answer (its failures logged).
    pub(super) fn control_answer(&self, topic: &str, payload: &[u8]) -> bool {
        if self.inner.dynsec.is_none() || topic != dynsec::RESPONSE_TOPIC {
            return false;
        }
        for failure in dynsec::failures(payload) {
            tracing::warn!(failure = %super::loggable(&failure), "dynamic security command failed");
        }
        true
    }

    /// With the dynamic security plugin, creates a new device's broker client and role.
    pub fn grant_device(
        &self,
        tenant_id: &str,
        resource_id: &str,
        device_id: &str,
        password: &str,
    ) -> Result<(), EdgeError> {
        if self.inner.dynsec.is_none() {
            return Ok(());
        }
        let commands = dynsec::grant(tenant_id, resource_id, device_id, password)
            .map_err(|e| EdgeError::Broker(format!("topic: {e}")))?;
        self.control(&commands);
        Ok(())
    }

    fn control(&self, commands: &serde_json::Value) {
        let sent = self.inner.client.try_publish(
            dynsec::CONTROL_TOPIC,
            QoS::AtLeastOnce,
            false,
            commands.to_string().into_bytes(),
        );
        if let Err(err) = sent {
            tracing::error!(error = %err, "dynamic security command not queued");
        }
    }

    /// Ends a revoked device's live session at once: connecting with its client id makes the
    /// broker drop the device's connection, and its login is refused from now on.
    pub async fn disconnect_device(&self, device_id: &str) {
        if self.inner.dynsec.is_some() {
            // Deleting its broker client ends the session and refuses every later login.
            self.control(&dynsec::withdraw(device_id));
            tracing::info!(device_id, "revoked device's broker client deleted");
            return;
        }
        let (client, mut eventloop) = AsyncClient::new(self.inner.endpoint.options(device_id), 8);
        let connected = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => return true,
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
        })
        .await
        .unwrap_or(false);
        if connected {
            let _ = client.disconnect().await;
            let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
        }
        tracing::info!(
            device_id,
            connected,
            "revoked device's MQTT session taken over"
        );
    }
}

fn external_endpoint(config: &Config) -> Result<Endpoint, EdgeError> {
    let bad = || EdgeError::Broker("MQTT_URL must look like mqtt://host:port".into());
    let url = url::Url::parse(config.mqtt_url.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "mqtt" | "tcp") {
        return Err(EdgeError::Broker(
            "MQTT_URL: only mqtt:// is supported by the hub today".into(),
        ));
    }
    let host = url.host_str().ok_or_else(bad)?.to_string();
    let login = (!config.mqtt_username.is_empty()).then(|| {
        (
            config.mqtt_username.clone(),
            config.mqtt_password.expose().to_string(),
        )
    });
    Ok(Endpoint {
        host,
        port: url.port().unwrap_or(1883),
        login,
    })
}

/// The embedded broker's TLS files: both or neither.
fn tls(config: &Config) -> Result<Option<broker::Tls>, EdgeError> {
    match (config.mqtt_tls_cert.trim(), config.mqtt_tls_key.trim()) {
        ("", "") => Ok(None),
        ("", _) | (_, "") => Err(EdgeError::Broker(
            "set both MQTT_TLS_CERT and MQTT_TLS_KEY, or neither".into(),
        )),
        (cert, key) => Ok(Some(broker::Tls {
            cert: cert.to_string(),
            key: key.to_string(),
        })),
    }
}

fn device_url(config: &Config, broker: &BrokerKind) -> String {
    if !config.mqtt_public_url.trim().is_empty() {
        return config.mqtt_public_url.trim().to_string();
    }
    let scheme = if config.mqtt_tls_cert.trim().is_empty() {
        "mqtt"
    } else {
        "mqtts"
    };
    match broker {
        BrokerKind::Embedded(addr) => format!("{scheme}://{addr}"),
        BrokerKind::External(url) => url.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_needs_both_files_or_neither() {
        let with = |cert: &str, key: &str| Config {
            mqtt_tls_cert: cert.into(),
            mqtt_tls_key: key.into(),
            ..Config::default()
        };
        assert!(tls(&with("", "")).is_ok_and(|t| t.is_none()));
        assert!(tls(&with("cert.pem", "")).is_err());
        assert!(tls(&with(" ", "key.pem")).is_err());
        let both = tls(&with("cert.pem", "key.pem")).ok().flatten();
        assert_eq!(
            both.map(|t| (t.cert, t.key)),
            Some(("cert.pem".into(), "key.pem".into()))
        );
        let embedded = BrokerKind::Embedded(std::net::SocketAddr::from(([127, 0, 0, 1], 8883)));
        assert_eq!(
            device_url(&with("cert.pem", "key.pem"), &embedded),
            "mqtts://127.0.0.1:8883"
        );
        assert_eq!(
            device_url(&with("", ""), &embedded),
            "mqtt://127.0.0.1:8883"
        );
    }
}
