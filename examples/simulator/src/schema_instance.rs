//! A minimal value that validates against a JSON Schema: what the simulator puts in
//! tool-call arguments and structured-output answers, so clients that parse them
//! (SDK `parse` helpers, LangChain) get something their own models accept.
//!
//! Covered: `type` (one or a list), `enum`, `const`, `properties` with `required`,
//! `items` with `minItems`, string `minLength` and common `format`s, numeric
//! `minimum`/`exclusiveMinimum`/`multipleOf`, `$ref` into `$defs`/`definitions`, and
//! `anyOf`/`oneOf`/`allOf` (the first usable branch). Only required properties are
//! filled: a schema that allows leaving a property out accepts its absence.
//!
//! Gemini's own `Schema` (the OpenAPI subset of `parameters` and `responseSchema`)
//! spells types in capitals (`OBJECT`, `STRING`) and, as protobuf JSON does for
//! 64-bit integers, may write `minItems`/`minLength` as strings; both are read.

use serde_json::{json, Map, Value};

/// How deep `$ref`s may nest before a recursive schema is cut off with `null`.
const MAX_DEPTH: usize = 32;

/// A minimal instance of `schema`; `root` is the document `$ref`s resolve against.
pub fn instance(schema: &Value) -> Value {
    generate(schema, schema, 0)
}

fn generate(schema: &Value, root: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let Some(s) = schema.as_object() else {
        // `true` or an empty schema accepts anything.
        return json!({});
    };
    if let Some(target) = s.get("$ref").and_then(Value::as_str) {
        return resolve(target, root).map_or(Value::Null, |t| generate(t, root, depth + 1));
    }
    if let Some(value) = s.get("const") {
        return value.clone();
    }
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = s.get(key).and_then(Value::as_array) {
            // Prefer a branch that is not just `null`, as a model would.
            let branch = branches
                .iter()
                .find(|b| b.get("type") != Some(&json!("null")))
                .or(branches.first());
            if let Some(branch) = branch {
                return generate(branch, root, depth + 1);
            }
        }
    }
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(fields) = generate(part, root, depth + 1) {
                merged.extend(fields);
            }
        }
        return Value::Object(merged);
    }
    let kind = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| !t.eq_ignore_ascii_case("null"))
            .unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ if s.contains_key("items") => "array",
        _ => "object",
    };
    match kind.to_ascii_lowercase().as_str() {
        "object" => object(s, root, depth),
        "array" => {
            let count = count(s, "minItems");
            let item = s.get("items").unwrap_or(&Value::Bool(true));
            Value::Array(
                (0..count)
                    .map(|_| generate(item, root, depth + 1))
                    .collect(),
            )
        }
        "string" => string(s),
        "integer" => integer(s),
        "number" => number(s),
        "boolean" => Value::Bool(false),
        _ => Value::Null,
    }
}

fn object(s: &Map<String, Value>, root: &Value, depth: usize) -> Value {
    let properties = s.get("properties").and_then(Value::as_object);
    let mut out = Map::new();
    for name in s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let property = properties
            .and_then(|p| p.get(name))
            .unwrap_or(&Value::Bool(true));
        out.insert(name.to_owned(), generate(property, root, depth + 1));
    }
    Value::Object(out)
}

fn string(s: &Map<String, Value>) -> Value {
    let text = match s.get("format").and_then(Value::as_str) {
        Some("date-time") => "2025-01-01T00:00:00Z",
        Some("date") => "2025-01-01",
        Some("time") => "00:00:00Z",
        Some("email") => "sim@example.com",
        Some("uri" | "url") => "https://example.com/",
        Some("uuid") => "00000000-0000-4000-8000-000000000000",
        _ => "sim",
    };
    let min = count(s, "minLength") as usize;
    let mut text = text.to_owned();
    while text.chars().count() < min {
        text.push('x');
    }
    Value::String(text)
}

fn integer(s: &Map<String, Value>) -> Value {
    let mut n: i64 = 0;
    if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
        n = n.max(min.ceil() as i64);
    }
    if let Some(min) = s.get("exclusiveMinimum").and_then(Value::as_f64) {
        n = n.max(min.floor() as i64 + 1);
    }
    if let Some(step) = s
        .get("multipleOf")
        .and_then(Value::as_i64)
        .filter(|m| *m > 0)
    {
        n = n.div_euclid(step) * step + if n.rem_euclid(step) == 0 { 0 } else { step };
    }
    json!(n)
}

fn number(s: &Map<String, Value>) -> Value {
    let mut n = 0.0_f64;
    if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
        n = n.max(min);
    }
    if let Some(min) = s.get("exclusiveMinimum").and_then(Value::as_f64) {
        if n <= min {
            n = min + 1.0;
        }
    }
    if n.fract() == 0.0 && n.abs() < 1e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// A count such as `minItems`: a JSON number, or a decimal string (protobuf JSON's
/// form of a 64-bit integer).
fn count(s: &Map<String, Value>, key: &str) -> u64 {
    match s.get(key) {
        Some(Value::String(n)) => n.parse().unwrap_or(0),
        Some(n) => n.as_u64().unwrap_or(0),
        None => 0,
    }
}

/// A local `$ref` (`#/$defs/Name`, `#/definitions/Name`, or any JSON pointer into the
/// root); remote references resolve to nothing.
fn resolve<'a>(target: &str, root: &'a Value) -> Option<&'a Value> {
    let pointer = target.strip_prefix('#')?;
    root.pointer(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_properties_get_values_of_their_type() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 1},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "ratio": {"type": "number", "exclusiveMinimum": 0.5},
                "flags": {"type": "array", "items": {"type": "boolean"}, "minItems": 2},
                "optional": {"type": "string"}
            },
            "required": ["city", "days", "unit", "ratio", "flags"],
            "additionalProperties": false
        });
        assert_eq!(
            instance(&schema),
            json!({"city": "sim", "days": 1, "unit": "celsius", "ratio": 1.5, "flags": [false, false]})
        );
    }

    #[test]
    fn pydantic_refs_and_optionals_resolve() {
        // The shape pydantic's `model_json_schema()` gives a nested, optional model.
        let schema = json!({
            "$defs": {"Address": {"type": "object", "properties": {
                "street": {"type": "string", "minLength": 5},
                "zip": {"anyOf": [{"type": "null"}, {"type": "integer", "multipleOf": 7, "minimum": 1}]}
            }, "required": ["street", "zip"]}},
            "type": "object",
            "properties": {
                "home": {"$ref": "#/$defs/Address"},
                "others": {"type": ["array", "null"], "items": {"$ref": "#/$defs/Address"}, "minItems": 1},
                "kind": {"const": "person"},
                "when": {"type": "string", "format": "date-time"},
                "both": {"allOf": [{"$ref": "#/$defs/Address"}, {"type": "object", "properties": {"n": {"type": "null"}}, "required": ["n"]}]}
            },
            "required": ["home", "others", "kind", "when", "both"]
        });
        let address = json!({"street": "simxx", "zip": 7});
        assert_eq!(
            instance(&schema),
            json!({
                "home": address,
                "others": [address],
                "kind": "person",
                "when": "2025-01-01T00:00:00Z",
                "both": {"street": "simxx", "zip": 7, "n": null}
            })
        );
    }

    #[test]
    fn geminis_openapi_schema_is_read_too() {
        let schema = json!({"type": "OBJECT", "properties": {
            "city": {"type": "STRING", "minLength": "4"},
            "days": {"type": "ARRAY", "items": {"type": "INTEGER"}, "minItems": "2"},
            "unit": {"type": "STRING", "format": "enum", "enum": ["celsius", "fahrenheit"]}
        }, "required": ["city", "days", "unit"]});
        assert_eq!(
            instance(&schema),
            json!({"city": "simx", "days": [0, 0], "unit": "celsius"})
        );
    }

    #[test]
    fn empty_and_recursive_schemas_still_answer() {
        assert_eq!(instance(&json!({})), json!({}));
        assert_eq!(
            instance(&json!({"type": "object", "properties": {}})),
            json!({})
        );
        let recursive = json!({"$defs": {"Node": {"type": "object",
            "properties": {"next": {"$ref": "#/$defs/Node"}}, "required": ["next"]}},
            "$ref": "#/$defs/Node"});
        // Cut off rather than looping forever.
        assert!(instance(&recursive).is_object());
    }
}
