//! A reply's parts in the transcript: each tool call as a compact card (expandable to its
//! arguments and result, with Approve / Deny while it waits), and widgets by kind — the built-in
//! ones, and a readable fallback for kinds the page does not know.

use leptos::prelude::*;
use serde_json::{Map, Value};

use super::conversation::Conversation;
use crate::protocol::{
    ChatMessage, ChatRequest, MessageStatus, PlacedPart, ReplyPart, ToolCallPart, WidgetData, WidgetPart,
};

/// Where a tool call stands, from the parts after it.
#[derive(Clone, Debug, PartialEq)]
enum CallState {
    /// Running (or cut short, once the reply ended).
    Running,
    /// Waiting for the user: what it will do.
    Waiting(String),
    /// Answered: whether it succeeded, and what it returned.
    Done(bool, Value),
}

fn call_state(parts: &[PlacedPart], call_id: &str) -> CallState {
    let mut state = CallState::Running;
    for placed in parts {
        match &placed.part {
            ReplyPart::ApprovalRequest(request) if request.call_id == call_id => {
                state = CallState::Waiting(request.summary.clone());
            }
            ReplyPart::ToolResult(result) if result.call_id == call_id => {
                state = CallState::Done(result.ok, result.result.clone());
            }
            _ => {}
        }
    }
    state
}

/// The text of a part's card as a line: the sentence the tool wrote for it (`summary`), or the
/// result's main number or message.
fn short_result(result: &Value) -> String {
    if let Some(summary) = result.get("summary").and_then(Value::as_str) {
        return summary.to_owned();
    }
    let text = match result {
        Value::Object(fields) if fields.len() == 1 => {
            fields.values().next().map(Value::to_string).unwrap_or_default()
        }
        other => other.to_string(),
    };
    let mut short: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        short.push('…');
    }
    short
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The part at `index` of `message`: a tool call's card or a widget (results and approval
/// requests show in their call's card).
#[component]
pub fn PartView(message: RwSignal<ChatMessage>, index: usize, conversation: Conversation) -> impl IntoView {
    let part = message.with_untracked(|m| m.parts.get(index).map(|p| p.part.clone()));
    match part {
        Some(ReplyPart::ToolCall(call)) => view! { <ToolCard message call conversation /> }.into_any(),
        Some(ReplyPart::Widget(widget)) => view! { <Widget widget conversation /> }.into_any(),
        _ => ().into_any(),
    }
}

#[component]
fn ToolCard(message: RwSignal<ChatMessage>, call: ToolCallPart, conversation: Conversation) -> impl IntoView {
    let call_id = call.call_id.clone();
    let state = Memo::new(move |_| message.with(|m| call_state(&m.parts, &call_id)));
    let live = move || message.with(|m| m.status == MessageStatus::Streaming);
    let state_name = move || match state.get() {
        CallState::Running if live() => "running",
        CallState::Running => "unfinished",
        CallState::Waiting(_) => "waiting",
        CallState::Done(true, _) => "ok",
        CallState::Done(false, _) => "error",
    };
    let line = move || match state.get() {
        CallState::Running if live() => "running…".to_owned(),
        CallState::Running => "did not finish".to_owned(),
        CallState::Waiting(_) => "waiting for your approval".to_owned(),
        CallState::Done(_, result) => short_result(&result),
    };
    let decide = {
        let call_id = call.call_id.clone();
        move |approved: bool| {
            conversation.request(ChatRequest::Approve { call_id: call_id.clone(), approved });
        }
    };
    let approve = decide.clone();
    let arguments = pretty(&call.arguments);
    view! {
        <details class="tool-card" data-tool=call.name.clone() data-state=state_name open=move || matches!(state.get(), CallState::Waiting(_))>
            <summary>
                <span class="tool-name">{call.name.clone()}</span>
                <span class="tool-line muted">{line}</span>
            </summary>
            <div class="tool-detail">
                <p class="muted">"Arguments"</p>
                <pre class="tool-arguments">{arguments}</pre>
                {move || match state.get() {
                    CallState::Done(_, result) => view! {
                        <p class="muted">"Result"</p>
                        <pre class="tool-result">{pretty(&result)}</pre>
                    }.into_any(),
                    CallState::Waiting(summary) if live() => {
                        let (approve, deny) = (approve.clone(), decide.clone());
                        view! {
                            <div class="approval" role="group" aria-label="Approval">
                                <p>{summary}</p>
                                <button class="primary" on:click=move |_| approve(true)>"Approve"</button>
                                <button on:click=move |_| deny(false)>"Deny"</button>
                            </div>
                        }.into_any()
                    }
                    _ => ().into_any(),
                }}
            </div>
        </details>
    }
}

/// A URL an image widget may show: a path of this server, or an inline picture.
fn safe_image_url(url: &str) -> bool {
    (url.starts_with('/') && !url.starts_with("//")) || url.starts_with("data:image/")
}

#[component]
fn Widget(widget: WidgetPart, conversation: Conversation) -> impl IntoView {
    let kind = widget.kind.clone();
    let body = match WidgetData::from_part(&widget) {
        Some(WidgetData::Image { url, caption }) if safe_image_url(&url) => view! {
            <figure class="widget-image">
                <img src=url alt=caption.clone() loading="lazy" />
                <figcaption class="muted">{caption}</figcaption>
            </figure>
        }
        .into_any(),
        Some(WidgetData::Table { columns, rows }) => view! {
            <table class="list">
                <thead><tr>{columns.into_iter().map(|c| view! { <th>{c}</th> }).collect_view()}</tr></thead>
                <tbody>
                    {rows.into_iter().map(|row| view! {
                        <tr>{row.into_iter().map(|cell| view! { <td>{cell_text(&cell)}</td> }).collect_view()}</tr>
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any(),
        Some(WidgetData::Chart { title, activity }) => view! {
            <h3 class="widget-title">{title}</h3>
            {crate::ui::chart::activity_chart(activity)}
        }
        .into_any(),
        Some(WidgetData::Choices { options }) => view! {
            <div class="choices" role="group">
                {options.into_iter().map(|option| {
                    let text = option.clone();
                    view! {
                        <button
                            disabled=move || conversation.streaming.get().is_some()
                            on:click=move |_| conversation.send(text.clone())
                        >{option}</button>
                    }
                }).collect_view()}
            </div>
        }
        .into_any(),
        Some(WidgetData::Form { title, schema, submit_label }) => {
            view! { <FormWidget title schema submit_label conversation /> }.into_any()
        }
        _ => view! {
            <p class="muted">{format!("A “{}” widget:", widget.kind)}</p>
            <pre>{pretty(&widget.data)}</pre>
        }
        .into_any(),
    };
    view! { <div class="widget" data-kind=kind>{body}</div> }
}

fn cell_text(cell: &Value) -> String {
    match cell {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A field of a form: its name, label, and kind.
#[derive(Clone, Debug, PartialEq)]
struct Field {
    name: String,
    label: String,
    kind: FieldKind,
    required: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum FieldKind {
    Text,
    Number,
    Flag,
    Choice(Vec<String>),
}

/// The fields a JSON Schema's `properties` describe, in order.
fn fields(schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else { return Vec::new() };
    properties
        .iter()
        .map(|(name, property)| {
            let kind = match (property["enum"].as_array(), property["type"].as_str()) {
                (Some(options), _) => FieldKind::Choice(options.iter().map(cell_text).collect()),
                (None, Some("number" | "integer")) => FieldKind::Number,
                (None, Some("boolean")) => FieldKind::Flag,
                _ => FieldKind::Text,
            };
            let label = property["title"].as_str().unwrap_or(name).to_owned();
            Field { name: name.clone(), label, kind, required: required.contains(&name.as_str()) }
        })
        .collect()
}

/// The values as the form sends them: numbers as numbers, flags as booleans, blanks left out.
fn form_values(fields: &[Field], entered: &Map<String, Value>) -> Map<String, Value> {
    let mut values = Map::new();
    for field in fields {
        let value = match (&field.kind, entered.get(&field.name)) {
            (FieldKind::Flag, value) => Value::Bool(value.and_then(Value::as_bool).unwrap_or(false)),
            (_, Some(Value::String(text))) if text.trim().is_empty() => continue,
            (FieldKind::Number, Some(Value::String(text))) => match text.trim().parse::<f64>() {
                Ok(number) => serde_json::json!(number),
                Err(_) => continue,
            },
            (_, Some(value)) => value.clone(),
            (_, None) => continue,
        };
        values.insert(field.name.clone(), value);
    }
    values
}

/// The message a submitted form sends, for people: `label: value` lines.
fn form_message(title: &str, fields: &[Field], values: &Map<String, Value>) -> String {
    let lines = fields
        .iter()
        .filter_map(|f| values.get(&f.name).map(|v| format!("{}: {}", f.label, cell_text(v))))
        .collect::<Vec<_>>()
        .join("\n");
    format!("{title}\n{lines}")
}

#[component]
fn FormWidget(
    title: String,
    schema: Value,
    submit_label: String,
    conversation: Conversation,
) -> impl IntoView {
    let fields = fields(&schema);
    let entered = RwSignal::new(Map::new());
    let sent = RwSignal::new(false);
    let submit = {
        let (fields, title) = (fields.clone(), title.clone());
        move |event: leptos::ev::SubmitEvent| {
            event.prevent_default();
            let values = entered.with_untracked(|entered| form_values(&fields, entered));
            conversation.send_with(
                form_message(&title, &fields, &values),
                Some(Value::Object(values)),
                Vec::new(),
            );
            sent.set(true);
        }
    };
    let inputs = fields.into_iter().map(|field| {
        let name = field.name.clone();
        let set = move |value: Value| entered.update(|e| drop(e.insert(name.clone(), value)));
        let input = match field.kind {
            FieldKind::Choice(options) => view! {
                <select required=field.required on:change=move |ev| set(Value::String(event_target_value(&ev)))>
                    <option value="">"Choose…"</option>
                    {options.into_iter().map(|o| { let value = o.clone(); view! { <option value=value>{o}</option> } }).collect_view()}
                </select>
            }
            .into_any(),
            FieldKind::Flag => view! {
                <input type="checkbox" on:change=move |ev| set(Value::Bool(event_target_checked(&ev))) />
            }
            .into_any(),
            kind => view! {
                <input
                    type=if kind == FieldKind::Number { "number" } else { "text" }
                    required=field.required
                    on:input=move |ev| set(Value::String(event_target_value(&ev)))
                />
            }
            .into_any(),
        };
        view! { <label class="form-field">{field.label} {input}</label> }
    });
    let label = if submit_label.is_empty() { "Send".to_owned() } else { submit_label };
    view! {
        <form class="widget-form" on:submit=submit>
            <h3 class="widget-title">{title}</h3>
            {inputs.collect_view()}
            <button type="submit" class="primary" disabled=move || sent.get() || conversation.streaming.get().is_some()>
                {label}
            </button>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_form_s_fields_and_values_follow_its_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "title": "Your name"},
                "guests": {"type": "integer"},
                "slot": {"type": "string", "enum": ["10:00", "14:00"]},
                "reminder": {"type": "boolean"},
            },
            "required": ["name", "slot"],
        });
        let fields = fields(&schema);
        let name = fields.iter().find(|f| f.name == "name").unwrap();
        assert_eq!((name.label.as_str(), name.required), ("Your name", true));
        assert!(fields.iter().any(|f| f.kind == FieldKind::Choice(vec!["10:00".into(), "14:00".into()])));
        let entered = json!({"name": "Ada", "guests": "2", "slot": "14:00"});
        let values = form_values(&fields, entered.as_object().unwrap());
        assert_eq!(
            Value::Object(values.clone()),
            json!({"name": "Ada", "guests": 2.0, "slot": "14:00", "reminder": false})
        );
        assert!(form_message("Book", &fields, &values).contains("Your name: Ada"));
    }

    #[test]
    fn a_call_s_state_comes_from_the_parts_after_it() {
        let part = |part: ReplyPart| PlacedPart { at: 0, part };
        let mut parts = vec![part(ReplyPart::ToolCall(ToolCallPart {
            call_id: "c1".into(),
            name: "t".into(),
            arguments: json!({}),
        }))];
        assert_eq!(call_state(&parts, "c1"), CallState::Running);
        parts.push(part(ReplyPart::ApprovalRequest(crate::protocol::ApprovalPart {
            call_id: "c1".into(),
            summary: "Do it".into(),
        })));
        assert_eq!(call_state(&parts, "c1"), CallState::Waiting("Do it".into()));
        parts.push(part(ReplyPart::ToolResult(crate::protocol::ToolResultPart {
            call_id: "c1".into(),
            ok: true,
            result: json!({"count": 3}),
        })));
        assert_eq!(call_state(&parts, "c1"), CallState::Done(true, json!({"count": 3})));
        assert_eq!(short_result(&json!({"count": 3})), "3");
        let counted = json!({"summary": "Counted “cat” on cam0 today: 7", "count": 7});
        assert_eq!(
            short_result(&counted),
            "Counted “cat” on cam0 today: 7",
            "a tool's sentence reads as it is"
        );
        assert!(
            safe_image_url("/api/events/1/thumbnail")
                && !safe_image_url("javascript:alert(1)")
                && !safe_image_url("//evil")
        );
    }
}
