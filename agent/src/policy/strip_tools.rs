//! The built-in `strip_tools` hook: removes tool declarations whose names match globs
//! (`mcp__github__*`) from a request body before it is sent, in every API's shape —
//! Anthropic and OpenAI Responses `tools[].name`, OpenAI Chat `tools[].function.name`,
//! Gemini `tools[].functionDeclarations[].name`. A `tool_choice` that named a removed
//! tool, or any `tool_choice` once no tool is left, is removed too, since providers
//! refuse a choice of a tool that is not declared.
use serde_json::Value;

use super::glob;

/// Removes matching tools from `body`; returns the names removed, in order.
pub fn strip(body: &mut Value, patterns: &[String]) -> Vec<String> {
    let hit = |name: &str| patterns.iter().any(|p| glob::matches(p, name));
    let mut removed = Vec::new();
    let Some(tools) = body.get_mut("tools").and_then(Value::as_array_mut) else { return removed };
    tools.retain_mut(|tool| {
        for key in ["functionDeclarations", "function_declarations"] {
            if let Some(decls) = tool.get_mut(key).and_then(Value::as_array_mut) {
                decls.retain(|d| match d.get("name").and_then(Value::as_str) {
                    Some(name) if hit(name) => {
                        removed.push(name.to_owned());
                        false
                    }
                    _ => true,
                });
                return !decls.is_empty();
            }
        }
        match tool_name(tool) {
            Some(name) if hit(name) => {
                removed.push(name.to_owned());
                false
            }
            _ => true,
        }
    });
    let none_left = tools.is_empty();
    if removed.is_empty() {
        return removed;
    }
    let Some(object) = body.as_object_mut() else { return removed };
    if none_left {
        object.remove("tools");
        object.remove("tool_choice");
        object.remove("parallel_tool_calls");
    } else if object.get("tool_choice").and_then(chosen_name).is_some_and(|name| removed.iter().any(|r| r == name)) {
        object.remove("tool_choice");
    }
    removed
}

/// A declared tool's name: `name` (Anthropic, OpenAI Responses) or `function.name`.
fn tool_name(tool: &Value) -> Option<&str> {
    tool.get("name").or_else(|| tool.get("function")?.get("name"))?.as_str()
}

/// The tool a `tool_choice` forces, in Anthropic's or OpenAI's shape.
fn chosen_name(choice: &Value) -> Option<&str> {
    choice.get("name").or_else(|| choice.get("function")?.get("name"))?.as_str()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn anthropic_tools_by_glob() {
        let mut body = json!({"model": "m", "tools": [
            {"name": "Bash", "input_schema": {}},
            {"name": "mcp__github__create_issue", "input_schema": {}},
            {"name": "mcp__github__list_prs", "input_schema": {}},
            {"name": "mcp__linear__search", "input_schema": {}},
        ], "tool_choice": {"type": "tool", "name": "mcp__github__list_prs"}});
        let removed = strip(&mut body, &["mcp__github__*".into()]);
        assert_eq!(removed, ["mcp__github__create_issue", "mcp__github__list_prs"]);
        let names: Vec<_> = body["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Bash", "mcp__linear__search"]);
        assert!(body.get("tool_choice").is_none());
    }

    #[test]
    fn openai_chat_function_tools_and_last_one_removed() {
        let mut body = json!({"tools": [{"type": "function", "function": {"name": "shell"}}], "tool_choice": "auto"});
        assert_eq!(strip(&mut body, &["shell".into()]), ["shell"]);
        assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
    }

    #[test]
    fn gemini_declarations_and_untouched_bodies() {
        let mut body =
            json!({"tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"}]}, {"googleSearch": {}}]});
        assert_eq!(strip(&mut body, &["a".into()]), ["a"]);
        assert_eq!(body["tools"][0]["functionDeclarations"], json!([{"name": "b"}]));
        let mut body = json!({"messages": []});
        assert!(strip(&mut body, &["*".into()]).is_empty());
        assert_eq!(body, json!({"messages": []}));
    }
}
