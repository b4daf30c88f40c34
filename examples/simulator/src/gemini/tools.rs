//! What a Gemini request asks for beyond text: the functions it declares, its
//! function-calling mode, whether its last turn answers a call and the JSON it wants,
//! read into the simulator's shared terms ([`crate::output`]); and Gemini 3's rule that
//! replayed function calls carry their thought signature.

use serde_json::Value;

use crate::exchange::Failure;
use crate::output::{Ask, Choice, Tool};

/// The field `camel` of `object`, also found under its proto name (`snake_case`):
/// Google's JSON parser takes both, and its own SDK sends some fields
/// (`parameters_json_schema`) in the latter.
fn field<'a>(object: &'a Value, camel: &str) -> &'a Value {
    let value = &object[camel];
    if !value.is_null() {
        return value;
    }
    let mut snake = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    &object[snake.as_str()]
}

/// Whether `model` signs its function calls and checks the signatures sent back.
pub(super) fn signs_calls(model: &str) -> bool {
    model.starts_with("gemini-3")
}

/// Google's refusal of a Gemini 3 request that replays a function call of the current
/// turn without its `thoughtSignature`: the turn runs from the last user turn with
/// text, and in each model step only the first `functionCall` is signed. The position
/// named is the content's, counted from 1.
pub(super) fn check_signatures(contents: &[Value]) -> Result<(), Failure> {
    let parts = |turn: &Value| turn["parts"].as_array().cloned().unwrap_or_default();
    let turn_start = contents
        .iter()
        .rposition(|c| c["role"] != "model" && parts(c).iter().any(|p| p.get("text").is_some()))
        .unwrap_or(0);
    for (i, content) in contents.iter().enumerate().skip(turn_start) {
        if content["role"] != "model" {
            continue;
        }
        let first_call = parts(content)
            .into_iter()
            .find(|p| !field(p, "functionCall").is_null());
        if let Some(part) = first_call {
            if field(&part, "thoughtSignature")
                .as_str()
                .is_none_or(str::is_empty)
            {
                return Err(Failure::InvalidRequest(format!(
                    "Function call is missing a thought_signature in functionCall parts. This is \
                     required for tools to work correctly, and missing thought_signature may lead \
                     to degraded model performance. Additional data, function call `{}` , \
                     position {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures \
                     for more details.",
                    field(&part, "functionCall")["name"].as_str().unwrap_or(""),
                    i + 1
                )));
            }
        }
    }
    Ok(())
}

/// The declared functions of `request`: each with the JSON Schema of its arguments
/// (`parametersJsonSchema`, else `parameters`, else any object).
fn declarations<'a>(request: &'a Value, any_object: &'a Value) -> Vec<Tool<'a>> {
    request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tool| field(tool, "functionDeclarations").as_array())
        .flatten()
        .filter_map(|d| {
            let schema = [field(d, "parametersJsonSchema"), &d["parameters"]]
                .into_iter()
                .find(|s| s.is_object())
                .unwrap_or(any_object);
            Some(Tool {
                name: d["name"].as_str()?,
                schema,
            })
        })
        .collect()
}

/// What the request asks for, in the simulator's shared terms ([`crate::output`]).
/// `ANY` naming functions calls the first of them; a name that is not declared is
/// refused, as Google refuses it.
pub(super) fn ask<'a>(request: &'a Value, any_object: &'a Value) -> Result<Ask<'a>, Failure> {
    let tools = declarations(request, any_object);
    let config = field(field(request, "toolConfig"), "functionCallingConfig");
    let allowed = field(config, "allowedFunctionNames")
        .as_array()
        .and_then(|names| names.first())
        .and_then(Value::as_str);
    let choice = match config["mode"].as_str().unwrap_or("AUTO") {
        "NONE" => Choice::Never,
        "ANY" => match allowed {
            Some(name) => Choice::Named(name),
            None => Choice::Required,
        },
        // AUTO, VALIDATED, MODE_UNSPECIFIED.
        _ => Choice::Auto,
    };
    if let Choice::Named(name) = choice {
        if !tools.iter().any(|t| t.name == name) {
            return Err(Failure::InvalidRequest(format!(
                "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: \
                 `{name}` is not among the function declarations.\n"
            )));
        }
    }
    // The user asks unless the last turn answers a function call.
    let user_asks = request["contents"]
        .as_array()
        .and_then(|c| c.last())
        .is_some_and(|turn| {
            turn["role"] != "model"
                && !turn["parts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| !field(p, "functionResponse").is_null())
        });
    let generation = field(request, "generationConfig");
    let format = (field(generation, "responseMimeType") == "application/json").then(|| {
        [
            field(generation, "responseJsonSchema"),
            field(generation, "responseSchema"),
        ]
        .into_iter()
        .find(|s| s.is_object())
        .unwrap_or(any_object)
        .clone()
    });
    Ok(Ask {
        tools,
        choice,
        user_asks,
        format,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_are_read_under_either_name() {
        let request = json!({"tools": [{"function_declarations": [
            {"name": "f", "parameters_json_schema": {"type": "object", "required": ["a"]}}]}],
            "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["f"]}},
            "generation_config": {"response_mime_type": "application/json"},
            "contents": [{"role": "user", "parts": [{"text": "x"}]}]});
        let any = json!({"type": "object"});
        let ask = ask(&request, &any).unwrap();
        assert_eq!(ask.tools[0].schema["required"], json!(["a"]));
        assert_eq!(ask.choice, Choice::Named("f"));
        assert_eq!(ask.format, Some(any.clone()));
        assert!(ask.user_asks);
        assert_eq!(field(&json!({"aB": 1, "a_b": 2}), "aB"), 1);
    }
}
