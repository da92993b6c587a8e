//! Configurations that agent platforms paste: ElevenLabs webhook tools generated from the
//! hub's OpenAPI document (`hub ai-tools elevenlabs`), and the JSON an MCP client needs
//! (`hub ai-tools mcp-config`). The webhook tools are the MCP tools' REST twins: the same
//! names and descriptions, with URL, method and parameters taken from the document, so a
//! change to an endpoint changes them too.
//!
//! The ElevenLabs format is their `POST /v1/convai/tools` body, `{"tool_config": {...}}` of
//! type `webhook` (API reference: <https://elevenlabs.io/docs/api-reference/tools/create>);
//! `hub/tests/fixtures/elevenlabs_webhook_tool.schema.json` holds its JSON schema and a test
//! validates every generated tool against it.

use serde_json::{Map, Value, json};

use super::{MCP_PATH, tools};

/// One REST operation offered as a webhook tool.
struct Operation {
    /// The tool's name (the MCP tool of the same question).
    tool: &'static str,
    /// HTTP method.
    method: &'static str,
    /// Path template of the OpenAPI document.
    path: &'static str,
    /// The fields the tool exposes of the query or body (None: all of them).
    fields: Option<&'static [&'static str]>,
}

/// The REST operations behind the tools. `find_available_rooms` has no REST endpoint yet, so
/// it is offered over MCP only.
const OPERATIONS: [Operation; 7] = [
    Operation {
        tool: "find_free_slots",
        method: "get",
        path: "/api/v1/calendar/free-slots",
        fields: Some(&[
            "duration_minutes",
            "from",
            "to",
            "time_zone",
            "resource_id",
            "participants",
        ]),
    },
    Operation {
        tool: "book_meeting",
        method: "post",
        path: "/api/v1/calendar/events",
        fields: Some(&[
            "title",
            "start",
            "end",
            "time_zone",
            "resource_id",
            "participants",
            "description",
            "meeting_link",
        ]),
    },
    Operation {
        tool: "reschedule_meeting",
        method: "patch",
        path: "/api/v1/calendar/events/{id}",
        fields: Some(&["start", "end", "time_zone", "resource_id"]),
    },
    Operation {
        tool: "cancel_meeting",
        method: "post",
        path: "/api/v1/calendar/events/{id}/cancel",
        fields: None,
    },
    Operation {
        tool: "list_meetings",
        method: "get",
        path: "/api/v1/calendar/events",
        fields: Some(&["from", "to", "resource_id", "status", "participant"]),
    },
    Operation {
        tool: "get_meeting",
        method: "get",
        path: "/api/v1/calendar/events/{id}",
        fields: None,
    },
    Operation {
        tool: "list_resources",
        method: "get",
        path: "/api/v1/resources",
        fields: Some(&[]),
    },
];

/// Why tool configs could not be generated (the document lacks what a tool needs).
#[derive(Debug, thiserror::Error)]
#[error("the OpenAPI document has no {0}")]
pub struct MissingOperation(String);

/// The ElevenLabs webhook tools, as bodies of their create-tool call. `secret_id` names the
/// workspace secret whose value is `Bearer <CORBI API key>`.
pub fn elevenlabs_tools(
    openapi: &Value,
    base_url: &str,
    secret_id: &str,
) -> Result<Vec<Value>, MissingOperation> {
    let base = base_url.trim_end_matches('/');
    OPERATIONS
        .iter()
        .map(|op| {
            let operation = openapi
                .pointer(&format!("/paths/{}/{}", escape(op.path), op.method))
                .ok_or_else(|| MissingOperation(format!("{} {}", op.method, op.path)))?;
            let description = tools::find(op.tool)
                .and_then(|t| t.description.clone())
                .map(|d| d.to_string())
                .unwrap_or_default();
            let mut api_schema = Map::new();
            api_schema.insert("url".into(), json!(format!("{base}{}", op.path)));
            api_schema.insert("method".into(), json!(op.method.to_uppercase()));
            let params = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let (path_params, _) = literals(&params, "path", None, openapi);
            if !path_params.is_empty() {
                api_schema.insert("path_params_schema".into(), Value::Object(path_params));
            }
            let (query, required) = literals(&params, "query", op.fields, openapi);
            if !query.is_empty() {
                let mut schema = Map::new();
                schema.insert("properties".into(), Value::Object(query));
                if !required.is_empty() {
                    schema.insert("required".into(), json!(required));
                }
                api_schema.insert("query_params_schema".into(), Value::Object(schema));
            }
            if let Some(body) = operation.pointer("/requestBody/content/application~1json/schema") {
                let body = resolve(body, openapi);
                api_schema.insert(
                    "request_body_schema".into(),
                    object_property(&body, op.fields, openapi, "The request body."),
                );
            }
            api_schema.insert(
                "request_headers".into(),
                json!({"Authorization": {"secret_id": secret_id}}),
            );
            Ok(json!({"tool_config": {
                "type": "webhook",
                "name": op.tool,
                "description": description,
                "response_timeout_secs": 20,
                "api_schema": api_schema,
            }}))
        })
        .collect()
}

/// The JSON an MCP client (Claude, Cursor, VS Code, agent frameworks) needs to reach the hub;
/// the key comes from the environment variable `CORBI_API_KEY`.
pub fn mcp_client_config(base_url: &str) -> Value {
    let url = format!("{}{MCP_PATH}", base_url.trim_end_matches('/'));
    json!({"mcpServers": {"corbi": {
        "type": "http",
        "url": url,
        "headers": {"Authorization": "Bearer ${CORBI_API_KEY}"},
    }}})
}

/// A path as a JSON pointer segment.
fn escape(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

/// Follows a `$ref` into the document's components.
fn resolve(schema: &Value, openapi: &Value) -> Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(target) => openapi
            .pointer(target.trim_start_matches('#'))
            .map_or(Value::Null, |s| resolve(s, openapi)),
        None => schema.clone(),
    }
}

/// The JSON type of a schema without its `null` (ElevenLabs expresses optional by `required`).
fn plain_type(schema: &Value) -> Option<String> {
    match &schema["type"] {
        Value::String(t) => Some(t.clone()),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .map(str::to_string),
        _ => None,
    }
}

/// The parameters of one location as ElevenLabs literal properties, and the required ones.
fn literals(
    params: &[Value],
    location: &str,
    fields: Option<&[&str]>,
    openapi: &Value,
) -> (Map<String, Value>, Vec<String>) {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for param in params.iter().map(|p| resolve(p, openapi)) {
        let Some(name) = param["name"].as_str() else {
            continue;
        };
        if param["in"] != location || fields.is_some_and(|f| !f.contains(&name)) {
            continue;
        }
        let schema = resolve(&param["schema"], openapi);
        let description = param["description"]
            .as_str()
            .or_else(|| schema["description"].as_str())
            .unwrap_or(name);
        properties.insert(name.to_string(), literal(&schema, description));
        if param["required"] == true {
            required.push(name.to_string());
        }
    }
    (properties, required)
}

fn literal(schema: &Value, description: &str) -> Value {
    let kind = plain_type(schema)
        .filter(|t| matches!(t.as_str(), "boolean" | "integer" | "number"))
        .unwrap_or_else(|| "string".into());
    let mut property = json!({"type": kind, "description": description});
    if let Some(values) = schema.get("enum") {
        property["enum"] = values.clone();
    }
    property
}

/// A body schema as an ElevenLabs property: objects and arrays keep their shape, everything
/// else is a literal; every property has a description (the model fills it from it).
fn property(schema: &Value, openapi: &Value, fallback: &str) -> Value {
    let schema = resolve(schema, openapi);
    let description = schema["description"].as_str().unwrap_or(fallback);
    match plain_type(&schema).as_deref() {
        Some("object") => object_property(&schema, None, openapi, description),
        Some("array") => json!({
            "type": "array",
            "description": description,
            "items": property(&schema["items"], openapi, fallback),
        }),
        _ => literal(&schema, description),
    }
}

fn object_property(
    schema: &Value,
    fields: Option<&[&str]>,
    openapi: &Value,
    description: &str,
) -> Value {
    let mut properties = Map::new();
    if let Some(props) = schema["properties"].as_object() {
        for (name, prop) in props {
            if fields.is_none_or(|f| f.contains(&name.as_str())) {
                properties.insert(name.clone(), property(prop, openapi, name));
            }
        }
    }
    let required: Vec<Value> = schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter(|n| n.as_str().is_some_and(|n| properties.contains_key(n)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
    })
}
