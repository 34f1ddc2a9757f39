//! Conversations as a model's prompt: the model's own chat template (`tokenizer.chat_template`,
//! Jinja, as llama.cpp and transformers render it) run by minijinja. The messages' text never
//! becomes control tokens: the template is rendered with a placeholder for each message, the
//! template's own text is split with its control pieces (`<|im_start|>`) as tokens, and each
//! message is split as plain text in its place.

use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::tokenizer::Tokenizer;

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the whole conversation.
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call, for the model to read.
    Tool,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text.
    pub content: String,
    /// The tools an assistant message called.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl Message {
    /// A message of `role` with `content`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into(), tool_calls: Vec::new() }
    }
}

/// A tool the model may call: templates list them for the model as JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tool {
    /// The function's name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// A JSON Schema of its arguments.
    pub parameters: serde_json::Value,
}

/// A call of a tool, as the model wrote it.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ToolCall {
    /// The tool's name.
    pub name: String,
    /// Its arguments, a JSON object.
    pub arguments: serde_json::Value,
}

/// The JSON Schema of a call of one of `tools`: its name and arguments — only the arguments
/// the tool declares (an open object would let a model write property names without end). The
/// separators are the ones the chat templates write calls with (`", "`, `": "`), fixed rather
/// than any white space: everything between the name's first token and an argument's value is
/// then forced, written for the model without a step of its own.
pub(crate) fn call_schema(tools: &[Tool]) -> serde_json::Value {
    let calls: Vec<serde_json::Value> = tools
        .iter()
        .map(|tool| {
            let mut arguments = tool.parameters.clone();
            if let Some(fields) = arguments.as_object_mut() {
                fields.entry("additionalProperties").or_insert(serde_json::Value::Bool(false));
            }
            serde_json::json!({
                "type": "object",
                "properties": {"name": {"const": tool.name}, "arguments": arguments},
                "required": ["name", "arguments"],
                "additionalProperties": false,
            })
        })
        .collect();
    serde_json::json!({
        "anyOf": calls,
        "x-guidance": {"whitespace_flexible": false, "item_separator": ", ", "key_separator": ": "},
    })
}

/// A tool as templates expect it (the Chat Completions shape).
#[derive(Serialize)]
struct FunctionTool<'a> {
    r#type: &'static str,
    function: &'a Tool,
}

/// A model's chat template.
pub(crate) struct ChatTemplate {
    environment: Environment<'static>,
}

/// What stands in for the `n`-th message while the template renders: characters from Unicode's
/// private use area, which tokenizers split like any others.
fn placeholder(n: usize) -> String {
    format!("\u{F8F0}{n}\u{F8F1}")
}

impl ChatTemplate {
    /// The template `source` (Jinja), checked.
    pub(crate) fn new(source: String) -> Result<Self, String> {
        let mut environment = Environment::new();
        minijinja_contrib::add_to_environment(&mut environment);
        environment.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        environment.add_function("raise_exception", |message: String| -> Result<(), minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message))
        });
        environment.add_template_owned("chat", source).map_err(|e| format!("the chat template: {e}"))?;
        Ok(Self { environment })
    }

    /// The prompt for `messages` and `tools`, ending where the model's reply starts.
    pub(crate) fn prompt(
        &self,
        tokenizer: &Tokenizer,
        messages: &[Message],
        tools: &[Tool],
    ) -> Result<Vec<u32>, String> {
        let stand_ins: Vec<Message> = messages
            .iter()
            .enumerate()
            .map(|(n, message)| Message { content: placeholder(n), ..message.clone() })
            .collect();
        let tools: Vec<FunctionTool> =
            tools.iter().map(|function| FunctionTool { r#type: "function", function }).collect();
        let rendered = self
            .environment
            .get_template("chat")
            .and_then(|template| {
                template.render(context! {
                    messages => Value::from(Serde(&stand_ins)),
                    tools => (!tools.is_empty()).then(|| Value::from(Serde(&tools))),
                    add_generation_prompt => true,
                    bos_token => "",
                    eos_token => "",
                })
            })
            .map_err(|e| format!("the chat template: {e}"))?;
        let mut tokens = Vec::new();
        let mut rest = rendered.as_str();
        while let Some((n, at)) = (0..messages.len())
            .filter_map(|n| rest.find(&placeholder(n)).map(|at| (n, at)))
            .min_by_key(|&(_, at)| at)
        {
            tokens.extend(tokenizer.encode_with_controls(&rest[..at]));
            tokens.extend(tokenizer.encode(&messages[n].content));
            rest = &rest[at + placeholder(n).len()..];
        }
        tokens.extend(tokenizer.encode_with_controls(rest));
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_takes_only_the_arguments_its_tool_declares() {
        let tool = |parameters| Tool { name: "t".into(), description: String::new(), parameters };
        let open = call_schema(&[tool(
            serde_json::json!({"type": "object", "properties": {"a": {"type": "string"}}}),
        )]);
        assert_eq!(open["anyOf"][0]["properties"]["arguments"]["additionalProperties"], false);
        let said = call_schema(&[tool(serde_json::json!({"type": "object", "additionalProperties": true}))]);
        assert_eq!(
            said["anyOf"][0]["properties"]["arguments"]["additionalProperties"], true,
            "what a tool says stands"
        );
    }
}
