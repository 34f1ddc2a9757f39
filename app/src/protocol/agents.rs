//! The agents' wire types: agent paths and descriptions, and the parts of a reply besides its
//! text — tool calls, their results, approval requests and widgets.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ApiError;

/// Where an agent is registered: segments of lowercase letters, digits, `_` and `-`, joined by
/// `/`, e.g. `support` or `sales/premium`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AgentPath(String);

impl AgentPath {
    /// The built-in agent that answers with a model: every session's agent unless another is chosen.
    pub const DEFAULT: &'static str = "chat";

    /// Checks a path.
    pub fn parse(path: &str) -> Result<Self, ApiError> {
        let valid_segment = |s: &str| {
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
        };
        if path.len() <= 100 && path.split('/').all(valid_segment) {
            Ok(Self(path.to_owned()))
        } else {
            Err(ApiError::bad_request(
                "an agent path is made of lowercase letters, digits, `_` and `-`, with `/` between parts",
            ))
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for AgentPath {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl std::fmt::Display for AgentPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AgentPath {
    type Error = String;

    fn try_from(path: String) -> Result<Self, String> {
        Self::parse(&path).map_err(|e| e.message)
    }
}

impl From<AgentPath> for String {
    fn from(path: AgentPath) -> Self {
        path.0
    }
}

/// An agent a session can be started with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AgentInfo {
    /// Where it is registered.
    pub path: AgentPath,
    /// A name for people.
    pub name: String,
    /// What it does.
    pub description: String,
    /// The JSON Schema of its start arguments (`context` when a session is started).
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub start_schema: Value,
}

/// The agents, and the one new sessions get.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AgentList {
    /// Every registered agent, by path.
    pub agents: Vec<AgentInfo>,
    /// The agent of sessions started without one.
    pub default_agent: AgentPath,
}

/// A call of one of the agent's tools, as the model asked for it (the parameters the agent's
/// context supplies are not shown).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolCallPart {
    /// The call's id within the reply.
    pub call_id: String,
    /// The tool.
    pub name: String,
    /// The arguments the model gave.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub arguments: Value,
}

/// What a tool call returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolResultPart {
    /// The call it answers.
    pub call_id: String,
    /// False when the tool failed, timed out or was denied; `result` is then `{"error": …}`.
    pub ok: bool,
    /// The tool's answer, as the model receives it.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub result: Value,
}

/// A call that changes something waits for the user: answer with `approve`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApprovalPart {
    /// The call waiting.
    pub call_id: String,
    /// What it will do, for people.
    pub summary: String,
}

/// Something an agent shows in the transcript besides text. The built-in kinds are described
/// by [`WidgetData`]; applications may send kinds of their own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WidgetPart {
    /// The kind: `image`, `table`, `chart`, `choices`, `form`, or an application's own.
    pub kind: String,
    /// What it shows, in the kind's shape.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub data: Value,
}

/// A part of a reply besides its text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ReplyPart {
    /// The model called a tool.
    ToolCall(ToolCallPart),
    /// A tool answered.
    ToolResult(ToolResultPart),
    /// A call waits for the user's approval.
    ApprovalRequest(ApprovalPart),
    /// A widget.
    Widget(WidgetPart),
}

/// A part in its place: after `at` bytes of the reply's text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlacedPart {
    /// Bytes of the reply's text before it.
    pub at: usize,
    /// The part.
    pub part: ReplyPart,
}

/// The built-in widgets' data, for agents that build them and the page that shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum WidgetData {
    /// A picture, e.g. an event's thumbnail.
    Image {
        /// Where it is (a path of this server, or a `data:` URL).
        url: String,
        /// A line under it.
        #[serde(default)]
        caption: String,
    },
    /// Rows under column headings.
    Table {
        /// The headings.
        columns: Vec<String>,
        /// The rows, one value per column.
        rows: Vec<Vec<Value>>,
    },
    /// Counts per label over time, drawn as the Events page draws them.
    Chart {
        /// A heading.
        title: String,
        /// The counts.
        activity: super::LabelActivity,
    },
    /// Buttons; pressing one sends its text as the user's message.
    Choices {
        /// The texts.
        options: Vec<String>,
    },
    /// Fields from a JSON Schema (`properties` of strings, numbers, booleans or `enum`s);
    /// submitting sends the values as the user's message, structured.
    Form {
        /// A heading.
        title: String,
        /// The fields.
        schema: Value,
        /// The button's text.
        #[serde(default)]
        submit_label: String,
    },
}

impl WidgetData {
    /// The widget as sent: its kind and data.
    pub fn into_part(self) -> WidgetPart {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut fields)) => WidgetPart {
                kind: fields.remove("kind").and_then(|k| k.as_str().map(str::to_owned)).unwrap_or_default(),
                data: fields.remove("data").unwrap_or(Value::Null),
            },
            _ => WidgetPart { kind: String::new(), data: Value::Null },
        }
    }

    /// A built-in widget from its kind and data; `None` for other kinds or data of another shape.
    pub fn from_part(part: &WidgetPart) -> Option<Self> {
        serde_json::from_value(serde_json::json!({"kind": part.kind, "data": part.data})).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_paths_are_checked() {
        assert_eq!(AgentPath::parse("sales/premium").unwrap().as_str(), "sales/premium");
        for bad in ["", "Sales", "a//b", "/a", "a b", &"a".repeat(101)] {
            assert!(AgentPath::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<AgentPath>(r#""../x""#).is_err());
        assert_eq!(AgentPath::default().as_str(), "chat");
    }

    #[test]
    fn parts_and_widgets_have_their_documented_shape() {
        let call = ReplyPart::ToolCall(ToolCallPart {
            call_id: "c1".into(),
            name: "count_events".into(),
            arguments: serde_json::json!({"label": "cat"}),
        });
        assert_eq!(
            serde_json::to_value(&call).unwrap(),
            serde_json::json!({"type": "tool_call", "call_id": "c1", "name": "count_events", "arguments": {"label": "cat"}})
        );
        let image = WidgetData::Image { url: "/api/events/1/thumbnail".into(), caption: "cat".into() };
        let part = image.clone().into_part();
        assert_eq!(part.kind, "image");
        assert_eq!(WidgetData::from_part(&part), Some(image));
        let custom = WidgetPart { kind: "appointment_form".into(), data: serde_json::json!({"slots": []}) };
        assert_eq!(WidgetData::from_part(&custom), None, "an application's own kind");
    }
}
