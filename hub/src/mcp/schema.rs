//! JSON schemas of the tools, made from the API's own Rust types through utoipa — the same
//! derive that writes the OpenAPI document — so a tool's arguments and answers are described
//! once. utoipa refers to nested types by `$ref` into the document's components; a tool's
//! schema must stand alone, so the references are inlined here.

use std::collections::HashMap;

use rmcp::model::JsonObject;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

const COMPONENTS: &str = "#/components/schemas/";

/// The self-contained JSON schema of a type.
pub fn of<T: ToSchema>() -> JsonObject {
    let mut named = Vec::new();
    T::schemas(&mut named);
    let defs: HashMap<String, Value> = named
        .into_iter()
        .map(|(name, schema)| (name, json!(schema)))
        .collect();
    match inline(json!(T::schema()), &defs, 0) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Replaces every `$ref` into the components by the referenced schema (nesting is shallow in
/// this API; the depth bound only guards against a type that refers to itself).
fn inline(value: Value, defs: &HashMap<String, Value>, depth: usize) -> Value {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref")
                && let Some(name) = target.strip_prefix(COMPONENTS)
                && let Some(def) = defs.get(name)
                && depth < 8
            {
                return inline(def.clone(), defs, depth + 1);
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, inline(v, defs, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| inline(v, defs, depth)).collect())
        }
        other => other,
    }
}

/// An object schema being shaped into a tool's arguments.
#[derive(Default)]
pub struct Args {
    properties: Map<String, Value>,
    required: Vec<String>,
}

impl Args {
    /// Starts from the object schema of a type.
    pub fn from<T: ToSchema>() -> Args {
        Args::default().and::<T>()
    }

    /// An object without properties (a tool that takes no arguments).
    pub fn none() -> Args {
        Args::default()
    }

    /// Adds the properties (and requirements) of another type's object schema.
    pub fn and<T: ToSchema>(mut self) -> Args {
        let other = of::<T>();
        let (_, required) = property_names(&other);
        if let Some(Value::Object(props)) = other.get("properties") {
            self.properties
                .extend(props.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        self.required.extend(required);
        self
    }

    /// Keeps only these properties (what the tool exposes of a wider REST body).
    pub fn only(mut self, keep: &[&str]) -> Args {
        self.properties.retain(|k, _| keep.contains(&k.as_str()));
        self.required.retain(|name| keep.contains(&name.as_str()));
        self
    }

    /// Marks properties as required: a voice agent must state them (a zone, a range) rather
    /// than lean on a default it cannot see.
    pub fn require(mut self, names: &[&str]) -> Args {
        for name in names {
            if !self.required.iter().any(|r| r == name) {
                self.required.push((*name).to_string());
            }
        }
        self
    }

    /// The finished schema; unknown arguments are refused.
    pub fn build(self) -> JsonObject {
        let mut map = Map::new();
        map.insert("type".into(), json!("object"));
        map.insert("properties".into(), Value::Object(self.properties));
        if !self.required.is_empty() {
            map.insert("required".into(), json!(self.required));
        }
        map.insert("additionalProperties".into(), json!(false));
        map
    }
}

/// The names of a schema's properties and its required ones.
pub fn property_names(schema: &JsonObject) -> (Vec<String>, Vec<String>) {
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (props, required)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Inner {
        email: String,
    }

    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Outer {
        title: String,
        people: Vec<Inner>,
        note: Option<String>,
    }

    #[test]
    fn nested_types_are_inlined_and_arguments_shaped() {
        let schema = Args::from::<Outer>()
            .only(&["title", "people"])
            .require(&["people"])
            .build();
        let text = Value::Object(schema.clone()).to_string();
        assert!(!text.contains("$ref"), "{text}");
        assert_eq!(
            schema["properties"]["people"]["items"]["properties"]["email"]["type"],
            "string"
        );
        let (props, required) = property_names(&schema);
        assert_eq!(props, ["people", "title"]);
        assert_eq!(required, ["title", "people"]);
        assert_eq!(schema["additionalProperties"], false);
    }
}
