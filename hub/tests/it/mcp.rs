//! The MCP server end to end: the official Rust SDK's client (rmcp) and the official Python
//! SDK's client talk to a real hub over Streamable HTTP, against the emulated Google.

use std::process::Stdio;

use reqwest::{Method, header};
use rmcp::{
    ClientLifecycleMode, ClientServiceExt, RoleClient,
    model::{CallToolRequestParams, CallToolResult, ClientConfig, ProtocolVersion},
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

use crate::{
    on_both_engines,
    support::{Engine, World, booking},
};

type Client = RunningService<RoleClient, ClientConfig>;

const DAY: &str = "2030-06-04";

async fn connect(world: &World, key: &str, lifecycle: ClientLifecycleMode) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(world.hub.url("/mcp")).auth_header(key),
    );
    ClientConfig::default()
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .expect("MCP client connects")
}

async fn current(world: &World, key: &str) -> Client {
    connect(
        world,
        key,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::LATEST],
        },
    )
    .await
}

async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments are an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
        .expect("a tool result, not a protocol error")
}

fn texts(result: &CallToolResult) -> Vec<String> {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// The structured result of a call that must have succeeded.
fn ok(result: &CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(false), "{:?}", texts(result));
    result
        .structured_content
        .clone()
        .expect("structured content")
}

/// The spoken text of a call that must have failed with this code.
fn refused(result: &CallToolResult, code: &str) -> String {
    assert_eq!(result.is_error, Some(true), "{:?}", texts(result));
    let first = texts(result).into_iter().next().expect("a text");
    let prefix = format!("{code}: ");
    assert!(first.starts_with(&prefix), "{first}");
    first[prefix.len()..].to_string()
}

async fn an_ai_agent_finds_books_reads_reschedules_and_cancels(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas", "Borealis"]).await;
    let (atlas, borealis) = (world.rooms[0].clone(), world.rooms[1].clone());
    let client = current(&world, &world.acme.ai_key).await;

    let tools = client.list_tools(None).await.expect("tools").tools;
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, hub::mcp::tools::NAMES);
    let book = tools
        .iter()
        .find(|t| t.name == "book_meeting")
        .expect("book_meeting");
    let hints = book.annotations.clone().expect("annotations");
    assert_eq!(
        (hints.read_only_hint, hints.destructive_hint),
        (Some(false), Some(false))
    );
    assert!(book.output_schema.is_some());
    let required = &book.input_schema["required"];
    assert!(
        required
            .as_array()
            .is_some_and(|r| r.contains(&json!("time_zone")))
    );
    assert!(
        !Value::Object((*book.input_schema).clone())
            .to_string()
            .contains("$ref")
    );

    let found = ok(&call(
        &client,
        "find_free_slots",
        json!({"duration_minutes": 60, "from": format!("{DAY}T08:00:00Z"),
               "to": format!("{DAY}T18:00:00Z"), "time_zone": "Europe/Berlin", "resource_id": atlas}),
    )
    .await);
    let slot = found["slots"][0].clone();
    assert_eq!(slot["start"], format!("{DAY}T08:00:00Z"));

    let rooms = ok(&call(
        &client,
        "find_available_rooms",
        json!({"from": slot["start"], "to": slot["end"], "time_zone": "UTC", "min_capacity": 2}),
    )
    .await);
    assert_eq!(rooms["items"].as_array().map(Vec::len), Some(2));

    let args = json!({"title": "Voice booking", "start": slot["start"], "end": slot["end"],
        "time_zone": "Europe/Berlin", "resource_id": atlas, "idempotency_key": "call-1",
        "participants": [{"email": "ana@example.com", "name": "Ana"}]});
    let booked = call(&client, "book_meeting", args.clone()).await;
    let meeting = ok(&booked);
    assert_eq!(
        texts(&booked)[0],
        "Booked \"Voice booking\" in Atlas on Tuesday, 4 June 2030 from 10:00 to 11:00 (Europe/Berlin time)."
    );
    let id = meeting["id"].as_str().expect("id").to_string();
    let again = ok(&call(&client, "book_meeting", args).await);
    assert_eq!(
        again["id"], meeting["id"],
        "the idempotency key answers the first booking"
    );

    let read = ok(&call(&client, "get_meeting", json!({"meeting_id": id})).await);
    assert_eq!(
        (read["status"].clone(), read["created_by_type"].clone()),
        (json!("SCHEDULED"), json!("AI"))
    );

    let moved = ok(&call(
        &client,
        "reschedule_meeting",
        json!({"meeting_id": id, "start": format!("{DAY}T12:00:00Z"),
               "end": format!("{DAY}T13:00:00Z"), "resource_id": borealis}),
    )
    .await);
    assert_eq!(
        (moved["start"].clone(), moved["resource_id"].clone()),
        (json!(format!("{DAY}T12:00:00Z")), json!(borealis))
    );

    let listed = ok(&call(
        &client,
        "list_meetings",
        json!({"participant": "ANA@example.com"}),
    )
    .await);
    assert_eq!(listed["items"][0]["id"], json!(id));
    let nobody = ok(&call(
        &client,
        "list_meetings",
        json!({"participant": "bob@example.com"}),
    )
    .await);
    assert_eq!(nobody["items"], json!([]));

    let persons = world
        .book(
            &world.acme.member_token,
            booking(&atlas, "Planning", DAY, "14:00", "15:00"),
        )
        .await;
    assert_eq!(persons.status(), 201);
    let persons: Value = persons.json().await.expect("json");
    let clash = call(
        &client,
        "book_meeting",
        json!({"title": "Clash", "start": format!("{DAY}T14:30:00Z"), "end": format!("{DAY}T15:00:00Z"),
               "time_zone": "UTC", "resource_id": atlas}),
    )
    .await;
    let sentence = refused(&clash, "CONFLICT");
    assert!(sentence.contains("Atlas"), "{sentence}");
    let body: Value = serde_json::from_str(&texts(&clash)[1]).expect("error JSON");
    assert!(
        body["error"]["details"]["proposed_slot"].is_object(),
        "{body}"
    );

    let not_mine = call(
        &client,
        "cancel_meeting",
        json!({"meeting_id": persons["id"]}),
    )
    .await;
    assert!(refused(&not_mine, "CANCEL_NOT_ALLOWED").contains("AI"));

    let cancelled = call(
        &client,
        "cancel_meeting",
        json!({"meeting_id": id, "reason": "Plans changed"}),
    )
    .await;
    assert_eq!(ok(&cancelled)["status"], "CANCELLED");
    assert!(
        texts(&cancelled)[0].starts_with("Cancelled \"Voice booking\" on Tuesday, 4 June 2030")
    );

    let resources = ok(&call(&client, "list_resources", json!({})).await);
    assert_eq!(resources["items"].as_array().map(Vec::len), Some(2));

    let bad = call(
        &client,
        "book_meeting",
        json!({"title": "No zone", "start": "tomorrow", "end": format!("{DAY}T15:00:00Z"), "colour": "red"}),
    )
    .await;
    let sentence = refused(&bad, "VALIDATION_FAILED");
    assert!(
        sentence.contains("colour") && sentence.contains("time_zone"),
        "{sentence}"
    );
    let bad = call(
        &client,
        "book_meeting",
        json!({"title": "Bad time", "start": "tomorrow", "end": format!("{DAY}T15:00:00Z"), "time_zone": "UTC"}),
    )
    .await;
    assert!(refused(&bad, "VALIDATION_FAILED").contains("start"));

    let unknown = client
        .call_tool(CallToolRequestParams::new("delete_everything"))
        .await;
    assert!(unknown.is_err(), "an unknown tool is a protocol error");

    let globex = world.hub.seed("globex").await;
    let other = current(&world, &globex.ai_key).await;
    let theirs = call(&other, "get_meeting", json!({"meeting_id": id})).await;
    refused(&theirs, "NOT_FOUND");
    let theirs = call(&other, "cancel_meeting", json!({"meeting_id": id})).await;
    refused(&theirs, "NOT_FOUND");

    client.cancel().await.expect("client stops");
    other.cancel().await.expect("client stops");
    world.hub.stop().await;
}
on_both_engines!(an_ai_agent_finds_books_reads_reschedules_and_cancels);

async fn a_person_acts_as_themselves_and_an_older_client_negotiates_2025_11_25(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let atlas = world.rooms[0].clone();
    let legacy = ClientConfig::default().with_protocol_version(ProtocolVersion::V_2025_11_25);
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(world.hub.url("/mcp"))
            .auth_header(world.acme.member_token.clone()),
    );
    let client = legacy
        .serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
        .await
        .expect("a 2025-11-25 client connects");
    let info = client.peer_info().expect("server info");
    assert_eq!(info.protocol_version, ProtocolVersion::V_2025_11_25);
    let booked = ok(&call(
        &client,
        "book_meeting",
        json!({"title": "Mine", "start": format!("{DAY}T09:00:00Z"), "end": format!("{DAY}T10:00:00Z"),
               "time_zone": "UTC", "resource_id": atlas}),
    )
    .await);
    assert_eq!(booked["created_by_type"], "HUMAN");
    let cancelled = ok(&call(
        &client,
        "cancel_meeting",
        json!({"meeting_id": booked["id"]}),
    )
    .await);
    assert_eq!(cancelled["status"], "CANCELLED");
    client.cancel().await.expect("client stops");
    world.hub.stop().await;
}
on_both_engines!(a_person_acts_as_themselves_and_an_older_client_negotiates_2025_11_25);

async fn missing_invalid_and_device_keys_are_refused(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}});
    let metadata = world.hub.url("/.well-known/oauth-protected-resource");
    let device = {
        let mut tx = world.hub.db().pool().begin().await.expect("tx");
        let issued = hub::auth::store::issue_device_token(
            &mut tx,
            &world.acme.tenant_id,
            &world.rooms[0],
            "tablet",
        )
        .await
        .expect("device token");
        tx.commit().await.expect("commit");
        issued.token
    };
    for token in [
        None,
        Some("corbi_key_not-a-real-key".to_string()),
        Some(device),
    ] {
        let mut request = world
            .hub
            .client
            .post(world.hub.url("/mcp"))
            .header(header::ACCEPT, "application/json, text/event-stream")
            .json(&initialize);
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("sent");
        let is_device = token
            .as_deref()
            .is_some_and(|t| t.starts_with("corbi_dev_"));
        if is_device {
            assert_eq!(response.status(), 403);
            continue;
        }
        assert_eq!(response.status(), 401);
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .expect("WWW-Authenticate")
            .to_string();
        assert_eq!(
            challenge,
            format!("Bearer resource_metadata=\"{metadata}\"")
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
    }
    let document: Value = world
        .hub
        .call(
            Method::GET,
            "/.well-known/oauth-protected-resource",
            None,
            None,
        )
        .await
        .json()
        .await
        .expect("metadata");
    assert_eq!(document["resource"], world.hub.url("/mcp"));
    assert_eq!(document["bearer_methods_supported"], json!(["header"]));
    world.hub.stop().await;
}
on_both_engines!(missing_invalid_and_device_keys_are_refused);

/// Whether Python's `mcp` package can be imported here.
fn python_mcp_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import mcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

async fn the_official_python_sdk_holds_the_same_conversation(engine: Engine) {
    if !python_mcp_available() {
        assert!(
            std::env::var("CORBI_REQUIRE_PYTHON_TOOLS").as_deref() != Ok("1"),
            "CORBI_REQUIRE_PYTHON_TOOLS=1 but Python's mcp package is missing: pip install mcp"
        );
        eprintln!("skipped: Python's mcp package is not installed (pip install mcp)");
        return;
    }
    let world = World::with_rooms(engine, &["Atlas", "Borealis"]).await;
    let persons = world
        .book(
            &world.acme.member_token,
            booking(&world.rooms[0], "Planning", DAY, "14:00", "15:00"),
        )
        .await;
    assert_eq!(persons.status(), 201);
    let persons: Value = persons.json().await.expect("json");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp_client.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .arg(world.hub.url("/mcp"))
        .arg(&world.acme.ai_key)
        .env("CORBI_DAY", DAY)
        .env("CORBI_ROOM", &world.rooms[0])
        .env("CORBI_PERSONS_MEETING", persons["id"].as_str().expect("id"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("conversation complete"), "{stdout}");
    world.hub.stop().await;
}
on_both_engines!(the_official_python_sdk_holds_the_same_conversation);
