//! The MCP handler: who the server is, which tools it lists, and one tool call — the actor
//! taken from the authenticated HTTP request, the call run, logged like an API request, and
//! its outcome turned into a tool result. A refusal is a result with `isError: true` whose
//! text is the API's code and sentence, so the agent can say it; only an unknown tool name is
//! a protocol error (the request names nothing that could run).

use std::time::Instant;

use axum::http::request::Parts;
use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
};
use serde_json::json;

use super::{CorrelationId, McpState, tools};
use crate::{auth::Actor, error::ApiError};

/// What the server tells an agent on connecting.
const INSTRUCTIONS: &str = "CORBI books rooms, devices and meetings in the organisation's \
Google Calendar. To book: find_free_slots (or find_available_rooms), then book_meeting with an \
idempotency_key. To change or cancel: list_meetings to find the meeting_id, then \
reschedule_meeting or cancel_meeting. Every result has a sentence you can say as it is; an \
error result's sentence says what went wrong and what to do next.";

/// One MCP server instance (the transport makes one per request; it holds only handles).
#[derive(Clone)]
pub struct CorbiMcp {
    state: McpState,
}

impl CorbiMcp {
    /// A handler over the hub's handles.
    pub fn new(state: McpState) -> Self {
        CorbiMcp { state }
    }
}

/// The actor and correlation id the authentication layer put on the HTTP request.
fn caller(context: &RequestContext<RoleServer>) -> Option<(Actor, String)> {
    let parts = context.extensions.get::<Parts>()?;
    let actor = parts.extensions.get::<Actor>()?.clone();
    let correlation = parts
        .extensions
        .get::<CorrelationId>()
        .map_or_else(String::new, |c| c.0.clone());
    Some((actor, correlation))
}

fn error_result(err: &ApiError, correlation_id: &str) -> CallToolResult {
    let body = json!({"error": {
        "code": err.code().as_str(),
        "message": err.message(),
        "details": err.details(),
        "correlation_id": correlation_id,
    }});
    CallToolResult::error(vec![
        ContentBlock::text(format!("{}: {}", err.code().as_str(), err.message())),
        ContentBlock::text(body.to_string()),
    ])
}

impl ServerHandler for CorbiMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("corbi-hub", env!("CARGO_PKG_VERSION"))
                    .with_title("CORBI Scheduling"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools::catalogue().to_vec()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(tool) = tools::find(&request.name) else {
            return Err(McpError::invalid_params(
                format!(
                    "There is no tool named {}. The tools are {}.",
                    request.name,
                    tools::NAMES.join(", ")
                ),
                None,
            ));
        };
        let Some((actor, correlation_id)) = caller(&context) else {
            return Err(McpError::internal_error("the caller is not known", None));
        };
        let started = Instant::now();
        let outcome = tools::call(
            &self.state,
            &actor,
            tool,
            request.arguments.unwrap_or_default(),
        )
        .await;
        let code = match &outcome {
            Ok(_) => "OK",
            Err(err) => err.code().as_str(),
        };
        tracing::info!(
            correlation_id = %correlation_id,
            tenant_id = %actor.tenant_id,
            actor_type = actor.actor_type.as_str(),
            actor_id = %actor.id,
            tool = %tool.name,
            outcome = code,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "tool call"
        );
        let result = match outcome {
            Ok(answer) => {
                let mut result = CallToolResult::success(vec![
                    ContentBlock::text(answer.summary),
                    ContentBlock::text(answer.structured.to_string()),
                ]);
                result.structured_content = Some(answer.structured);
                result
            }
            Err(err) => {
                err.log_cause();
                error_result(&err, &correlation_id)
            }
        };
        Ok(result.into())
    }
}
