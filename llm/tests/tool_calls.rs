//! Does the default embedded model call tools? Camera-assistant questions that each need one of
//! a few tools, asked greedily with the tools in the prompt: every call must parse and name a
//! tool (the constraint sees to that), and the 0.5B must pick the right tool with the right key
//! arguments for a stated share of them.

mod common;

use llm::Sampling;
use llm::chat::{Message, Role, Tool, ToolCall};
use serde_json::{Value, json};

/// How many of [`CASES`] the 0.5B must answer with the right call. It gets 8 of 8 here, the
/// 1.5B 7 of 8.
const REQUIRED: usize = 6;

fn tools() -> Vec<Tool> {
    let tool = |name: &str, description: &str, parameters: Value| Tool {
        name: name.into(),
        description: description.into(),
        parameters,
    };
    vec![
        tool(
            "count_events",
            "Count how many times the cameras recognised a label in the last hours.",
            json!({"type": "object", "properties": {
                "label": {"type": "string", "description": "what was recognised, e.g. cat"},
                "hours": {"type": "integer", "description": "how many hours back"}
            }, "required": ["label", "hours"]}),
        ),
        tool(
            "last_seen",
            "When and on which camera a label was last recognised.",
            json!({"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}),
        ),
        tool(
            "list_alerts",
            "List the alerts the rules raised in the last hours.",
            json!({"type": "object", "properties": {"hours": {"type": "integer"}}, "required": ["hours"]}),
        ),
        tool(
            "create_rule",
            "Create a rule that raises an alert when a label is recognised with at least a confidence.",
            json!({"type": "object", "properties": {
                "label": {"type": "string"},
                "min_confidence": {"type": "number", "description": "between 0 and 1"}
            }, "required": ["label", "min_confidence"]}),
        ),
    ]
}

/// A question, the tool it needs, and what the arguments must hold.
struct Case {
    question: &'static str,
    tool: &'static str,
    right: fn(&Value) -> bool,
}

fn text_has(value: &Value, word: &str) -> bool {
    value.as_str().is_some_and(|text| text.to_lowercase().contains(word))
}

const CASES: [Case; 8] = [
    Case {
        question: "How many cats did the cameras see in the last 24 hours?",
        tool: "count_events",
        right: |a| text_has(&a["label"], "cat") && a["hours"] == 24,
    },
    Case {
        question: "How often was a dog recognised over the past 3 hours?",
        tool: "count_events",
        right: |a| text_has(&a["label"], "dog") && a["hours"] == 3,
    },
    Case {
        question: "When did a camera last see a person?",
        tool: "last_seen",
        right: |a| text_has(&a["label"], "person"),
    },
    Case {
        question: "Where was the bicycle last seen?",
        tool: "last_seen",
        right: |a| text_has(&a["label"], "bicycle"),
    },
    Case {
        question: "Which alerts were raised in the last 12 hours?",
        tool: "list_alerts",
        right: |a| a["hours"] == 12,
    },
    Case {
        question: "Show me today's alerts from the past 8 hours.",
        tool: "list_alerts",
        right: |a| a["hours"] == 8,
    },
    Case {
        question: "Alert me whenever a fox is recognised with at least 80% confidence.",
        tool: "create_rule",
        right: |a| {
            text_has(&a["label"], "fox")
                && a["min_confidence"].as_f64().is_some_and(|c| (c - 0.8).abs() < 1e-6)
        },
    },
    Case {
        question: "Make a rule: warn me when a car shows up with confidence 0.5 or more.",
        tool: "create_rule",
        right: |a| {
            text_has(&a["label"], "car")
                && a["min_confidence"].as_f64().is_some_and(|c| (c - 0.5).abs() < 1e-6)
        },
    },
];

#[test]
fn the_default_model_calls_the_right_tools() {
    let model = common::default_model();
    let tools = tools();
    let mut wrong = Vec::new();
    for case in &CASES {
        let prompt = model.chat_prompt(&[Message::new(Role::User, case.question)], &tools).unwrap();
        let mut generation = model.generate(&prompt, Sampling::greedy()).unwrap().with_tools(&tools).unwrap();
        // The first call is the answer; a reply without one within 60 tokens is wrong.
        let call: Option<ToolCall> = generation.by_ref().take(60).find_map(|token| token.unwrap().tool_call);
        let text = model.tokenizer().decode(generation.generated());
        assert!(call.iter().all(|call| tools.iter().any(|t| t.name == call.name)), "{text}");
        let right = call.is_some_and(|call| call.name == case.tool && (case.right)(&call.arguments));
        if !right {
            wrong.push(format!("{:?} → {text:?}", case.question));
        }
    }
    common::verdict(CASES.len(), REQUIRED, &wrong);
}
