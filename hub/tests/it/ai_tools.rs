//! `hub ai-tools`: the ElevenLabs webhook tools validate against the JSON schema of their
//! create-tool body (tests/fixtures, written from ElevenLabs' API reference) and name exactly
//! the URLs, methods and parameters of the OpenAPI document; the MCP client config points at
//! `/mcp`.

use serde_json::Value;

const BASE: &str = "https://hub.example.com";

fn generated() -> Vec<Value> {
    let text = hub::cli::elevenlabs_tools(&format!("{BASE}/"), "sec_corbi").expect("generated");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn elevenlabs_tools_validate_against_their_schema() {
    let schema: Value = serde_json::from_str(include_str!(
        "../fixtures/elevenlabs_webhook_tool.schema.json"
    ))
    .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let tools = generated();
    assert_eq!(tools.len(), 7);
    for tool in &tools {
        let problems: Vec<String> = validator
            .iter_errors(tool)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            problems.is_empty(),
            "{}: {problems:?}",
            tool["tool_config"]["name"]
        );
    }
    let broken = serde_json::json!({"tool_config": {"type": "webhook", "name": "bad name!",
        "description": "x", "api_schema": {"url": "ftp://x"}}});
    assert!(!validator.is_valid(&broken), "the schema can refuse");
}

fn placeholders(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

#[test]
fn elevenlabs_tools_match_the_openapi_document() {
    let openapi = serde_json::json!(hub::openapi());
    let mut names = Vec::new();
    for tool in generated() {
        let config = &tool["tool_config"];
        let name = config["name"].as_str().expect("name");
        names.push(name.to_string());
        let mcp = hub::mcp::tools::find(name).expect("an MCP tool of that name");
        assert_eq!(config["description"].as_str(), mcp.description.as_deref());
        let api = &config["api_schema"];
        let url = api["url"].as_str().expect("url");
        let path = url.strip_prefix(BASE).expect("the base URL");
        let method = api["method"].as_str().expect("method").to_lowercase();
        let operation = openapi["paths"][path][&method].clone();
        assert!(operation.is_object(), "{method} {path} is in the document");
        let params = operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let declared = |location: &str| -> Vec<String> {
            params
                .iter()
                .filter(|p| p["in"] == location)
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        };
        let path_params = keys(&api["path_params_schema"]);
        assert_eq!(path_params, placeholders(path), "{name}");
        assert_eq!(path_params, declared("path"), "{name}");
        for query in keys(&api["query_params_schema"]["properties"]) {
            assert!(declared("query").contains(&query), "{name}: query {query}");
        }
        if api["request_body_schema"].is_object() {
            let body = &operation["requestBody"]["content"]["application/json"]["schema"];
            let component = body["$ref"]
                .as_str()
                .and_then(|r| openapi.pointer(r.trim_start_matches('#')))
                .unwrap_or(body);
            let documented = keys(&component["properties"]);
            for field in keys(&api["request_body_schema"]["properties"]) {
                assert!(documented.contains(&field), "{name}: body field {field}");
            }
        } else {
            assert!(
                operation["requestBody"].is_null() || method == "get",
                "{name}"
            );
        }
        assert_eq!(
            api["request_headers"]["Authorization"]["secret_id"],
            "sec_corbi"
        );
    }
    let mut expected: Vec<String> = hub::mcp::tools::NAMES
        .iter()
        .filter(|n| **n != "find_available_rooms")
        .map(|n| n.to_string())
        .collect();
    expected.sort();
    names.sort();
    assert_eq!(names, expected);
}

#[test]
fn the_mcp_client_config_points_at_the_endpoint() {
    let config: Value =
        serde_json::from_str(&hub::cli::mcp_config("https://hub.example.com/")).expect("JSON");
    let server = &config["mcpServers"]["corbi"];
    assert_eq!(server["url"], "https://hub.example.com/mcp");
    assert_eq!(
        server["headers"]["Authorization"],
        "Bearer ${CORBI_API_KEY}"
    );
}
