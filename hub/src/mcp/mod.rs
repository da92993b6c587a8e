//! The MCP server: CORBI's scheduling tools for AI agents (ElevenLabs, Claude, agent
//! frameworks) at `POST /mcp`, over the Model Context Protocol's Streamable HTTP transport,
//! with the official Rust SDK (`rmcp`).
//!
//! It owns no data and no rules: every tool calls the same functions the REST handlers call
//! (`meetings::service`, `meetings::queries`, `resources`), so the same policies apply (an AI
//! cannot cancel a person's meeting) and an error is the API's code and sentence. Callers
//! authenticate with the API's bearer tokens (an AI key acts as the AI, a personal token as
//! the person; device tokens are refused); the tenant comes from the token. A 401 names the
//! protected-resource metadata (RFC 9728), which this module serves too.
//!
//! The server is stateless (no MCP sessions kept in memory), so any replica answers any call;
//! it speaks the current protocol revision and every earlier one the SDK knows, down to
//! 2024-11-05 (clients that still open with `initialize`, such as 2025-11-25, included).
//!
//! Files, one job each: `server.rs` (the MCP handler: server info, tool listing, the logged
//! call), `tools.rs` (the tool catalogue and what each calls), `schema.rs` (JSON schemas of
//! the tools from the API's own types), `sentences.rs` (the spoken summary of each result),
//! `agents.rs` (ElevenLabs webhook tools from the OpenAPI document, an MCP client's config).

pub mod agents;
pub mod schema;
pub mod sentences;
pub mod server;
pub mod tools;

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{FromRequestParts, Request, State},
    http::{HeaderValue, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
};
use serde_json::json;
use shared::{ActorType, ErrorCode};

use crate::{
    auth::Actor, db::Db, error::ApiError, handles::capability_handles, meetings::Meetings,
    observability::current_correlation_id,
};

capability_handles! {
    /// What the tools reach: the meetings capability's handles (database, queue, Google) and
    /// the URL the hub is reached at (for the 401's metadata link).
    pub struct McpState {
        /// The meetings capability.
        pub meetings: Meetings,
        /// The hub's public base URL.
        pub public_url: Arc<str>,
    }
}

/// The path of the MCP endpoint.
pub const MCP_PATH: &str = "/mcp";
/// Where the protected-resource metadata is served (RFC 9728).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The correlation id of the HTTP request that carried a tool call; the SDK runs the handler
/// on a task of its own, so the id travels in the request's extensions.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

/// The MCP endpoint and the protected-resource metadata, for a router of any state.
pub fn routes<S>(state: McpState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let factory_state = state.clone();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(allowed_hosts(&state.public_url));
    let service = StreamableHttpService::new(
        move || Ok(server::CorbiMcp::new(factory_state.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let metadata_state = state.clone();
    let metadata = get(move || {
        let url = metadata_state.public_url.clone();
        async move { Json(protected_resource(&url)) }
    });
    Router::new()
        .route_service(
            MCP_PATH,
            tower::ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(state, authenticate))
                .service(service),
        )
        .route(METADATA_PATH, metadata.clone())
        .route(&format!("{METADATA_PATH}{MCP_PATH}"), metadata)
}

/// The hosts a request may name: the public URL's, and loopback for local clients. The SDK
/// refuses others (its guard against DNS rebinding).
fn allowed_hosts(public_url: &str) -> Vec<String> {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Ok(url) = url::Url::parse(public_url)
        && let Some(host) = url.host_str()
    {
        hosts.push(host.trim_matches(['[', ']']).to_string());
    }
    hosts
}

/// The protected-resource metadata (RFC 9728): what the MCP endpoint is and how a client
/// authenticates (a bearer token made by `hub apikey create` or `hub user create`).
pub fn protected_resource(public_url: &str) -> serde_json::Value {
    json!({
        "resource": format!("{public_url}{MCP_PATH}"),
        "resource_name": "CORBI scheduling (MCP)",
        "bearer_methods_supported": ["header"],
        "resource_documentation": format!("{public_url}/api/v1/openapi.json"),
    })
}

/// Checks the bearer token before the MCP transport sees the request: a missing or unknown
/// token answers 401 with `WWW-Authenticate` naming the metadata; a device token answers 403.
async fn authenticate(State(state): State<McpState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let db: Db = state.meetings.db.clone();
    match Actor::from_request_parts(&mut parts, &db).await {
        Ok(actor) if actor.actor_type == ActorType::Device => ApiError::forbidden(
            "Devices cannot use the MCP server. Use an API key or a personal access token.",
        )
        .into_response(),
        Ok(actor) => {
            parts.extensions.insert(actor);
            if let Some(id) = current_correlation_id() {
                parts.extensions.insert(CorrelationId(id));
            }
            next.run(Request::from_parts(parts, body)).await
        }
        Err(err) if err.code() == ErrorCode::Unauthenticated => {
            let mut response = err.into_response();
            let challenge = format!(
                "Bearer resource_metadata=\"{}{METADATA_PATH}\"",
                state.public_url
            );
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            response
        }
        Err(err) => err.into_response(),
    }
}
