//! Enrollment against a canned hub: a one-shot HTTP server on port 0 that answers what the hub's
//! `POST /api/v1/devices/enroll` will answer.

use anyhow::Context;
use edge_agent::enroll::{CREDENTIALS_FILE, EnrollError, load_or_enroll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{Device, within};

/// Serves one request with `body` as JSON; returns the request text.
async fn serve_once(listener: TcpListener, body: String) -> anyhow::Result<String> {
    let (mut stream, _) = listener.accept().await?;
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    while !request_complete(&request) {
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "client closed early");
        request.extend_from_slice(&chunk[..n]);
    }
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    Ok(String::from_utf8_lossy(&request).into_owned())
}

fn request_complete(request: &[u8]) -> bool {
    let text = String::from_utf8_lossy(request);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    body.len() >= length
}

#[tokio::test]
async fn enrolls_once_then_uses_the_saved_credentials() -> anyhow::Result<()> {
    let device = Device::new();
    let dir = tempfile::tempdir()?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let hub_url = format!("http://{}", listener.local_addr()?);
    let body = serde_json::to_string(&device.enrollment("mqtt://127.0.0.1:1883"))?;
    let server = tokio::spawn(serve_once(listener, body));

    let identity = load_or_enroll(dir.path(), &hub_url, Some("ABCD-1234")).await?;
    let request = within("the enrollment request", server).await???;
    assert!(
        request.starts_with("POST /api/v1/devices/enroll "),
        "{request}"
    );
    assert!(
        request.contains(r#"{"enrollment_code":"ABCD-1234"}"#),
        "{request}"
    );
    assert_eq!(identity.enrollment.device_id, device.device);
    assert_eq!(identity.device_key, device.device_key);

    let path = dir.path().join(CREDENTIALS_FILE);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path)?.permissions());
    assert_eq!(mode & 0o777, 0o600);

    let again = load_or_enroll(dir.path(), "http://127.0.0.1:9", None)
        .await
        .context("saved credentials, no hub needed")?;
    assert_eq!(again.enrollment, identity.enrollment);
    Ok(())
}

#[tokio::test]
async fn refuses_to_start_without_code_or_credentials() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let err = load_or_enroll(dir.path(), "http://127.0.0.1:9", None).await;
    assert!(matches!(err, Err(EnrollError::NotEnrolled)));
    Ok(())
}

#[tokio::test]
async fn rejects_mismatched_topics_and_bad_keys() -> anyhow::Result<()> {
    let device = Device::new();
    let mut wrong_topic = device.enrollment("mqtt://127.0.0.1:1883");
    wrong_topic.mqtt.topics.up = "corbi/v1/x/res/y/up/z".to_owned();
    assert!(matches!(
        edge_agent::DeviceIdentity::from_enrollment(wrong_topic),
        Err(EnrollError::TopicMismatch("up"))
    ));
    let mut short_key = device.enrollment("mqtt://127.0.0.1:1883");
    short_key.keys.device_key = edge_agent::enroll::Secret::new("c2hvcnQ=");
    assert!(matches!(
        edge_agent::DeviceIdentity::from_enrollment(short_key),
        Err(EnrollError::BadKey("device key"))
    ));
    Ok(())
}
