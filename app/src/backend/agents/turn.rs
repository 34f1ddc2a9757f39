//! A turn: what an agent answers one user message with. Text and widgets go out as the reply's
//! seq-numbered parts (streamed, persisted, replayed on resume); the model loop runs tools
//! between the model's steps; a stop reaches the agent as [`AgentError::Stopped`] from the
//! turn's calls, or through [`Output::is_stopped`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{AgentError, Tool};
use crate::backend::chat::Attachment;
use crate::backend::chat::providers::{
    Prompt, Providers, ReplyEvent, ToolCall, ToolCalls, Turn as ModelTurn,
};
use crate::protocol::{
    ApprovalPart, ChatMessage, ChatSessionId, ChatSettings, FinishReason, ReplyPart, ResponseFormat, Role,
    ToolCallPart, ToolResultPart, Usage, UserId, WidgetData, WidgetPart,
};

/// Model calls a turn may make: the last one is offered no tools, so it answers.
const MAX_STEPS: usize = 4;

/// What a turn sends to its reply.
#[derive(Clone, Debug, PartialEq)]
pub enum TurnEvent {
    /// More text.
    Text(String),
    /// A tool call, result, approval request or widget (boxed: the events of a turn wait in
    /// blocks of their largest kind's size, and most are text).
    Part(Box<ReplyPart>),
    /// A model step ended.
    ModelDone {
        /// Why the model stopped.
        finish_reason: Option<FinishReason>,
        /// Tokens used, when reported.
        usage: Option<Usage>,
    },
}

/// Says when a model server first answers a turn: from then on it has the model request.
#[derive(Clone, Debug, Default)]
pub struct Answering(Arc<Notify>);

impl Answering {
    fn tell(&self) {
        self.0.notify_one();
    }

    /// Resolves once a model server answers the turn (or did already), or after `at_most`.
    pub async fn wait(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.0.notified()).await;
    }
}

/// Where a turn's text and widgets go; cloneable, so tools can show widgets too.
#[derive(Clone, Debug)]
pub struct Output {
    events: mpsc::UnboundedSender<TurnEvent>,
    cancel: CancellationToken,
    answering: Answering,
}

impl Output {
    /// An output and the receiver of its events.
    pub fn new(cancel: CancellationToken) -> (Self, mpsc::UnboundedReceiver<TurnEvent>) {
        let (events, receiver) = mpsc::unbounded_channel();
        (Self { events, cancel, answering: Answering::default() }, receiver)
    }

    /// Says when a model server first answers the turn.
    pub fn answering(&self) -> Answering {
        self.answering.clone()
    }

    /// An output that nothing stops, for tests and direct tool calls.
    pub fn detached() -> (Self, mpsc::UnboundedReceiver<TurnEvent>) {
        Self::new(CancellationToken::new())
    }

    fn send(&self, event: TurnEvent) {
        // Nobody reading means the reply ended: what is sent after that is not wanted.
        let _ = self.events.send(event);
    }

    /// Streams `text` as the next chunk of the reply.
    pub fn write(&self, text: impl Into<String>) {
        let text = text.into();
        if !text.is_empty() {
            self.send(TurnEvent::Text(text));
        }
    }

    /// Shows a widget of `kind` (one of [`WidgetData`]'s, or the application's own) with `data`.
    pub fn display_widget(&self, kind: &str, data: impl Serialize) {
        let data = serde_json::to_value(data).unwrap_or(Value::Null);
        self.part(ReplyPart::Widget(WidgetPart { kind: kind.to_owned(), data }));
    }

    /// Shows a built-in widget.
    pub fn show(&self, widget: WidgetData) {
        self.part(ReplyPart::Widget(widget.into_part()));
    }

    fn part(&self, part: ReplyPart) {
        self.send(TurnEvent::Part(Box::new(part)));
    }

    /// True once the user stopped the reply.
    pub fn is_stopped(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Resolves when the user stops the reply.
    pub async fn stopped(&self) {
        self.cancel.cancelled().await;
    }
}

/// A user message as an agent receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct UserMessage {
    /// What the user wrote.
    pub text: String,
    /// The values of a submitted form.
    pub values: Option<Value>,
}

/// Per session, the call waiting for approval and where its decision goes.
type Waiting = HashMap<ChatSessionId, (String, oneshot::Sender<bool>)>;

/// Calls waiting for the user's approval, one per session at most.
#[derive(Clone, Debug, Default)]
pub struct Approvals {
    waiting: Arc<Mutex<Waiting>>,
}

impl Approvals {
    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait(&self, session_id: ChatSessionId, call_id: &str) -> oneshot::Receiver<bool> {
        let (decide, decision) = oneshot::channel();
        self.waiting().insert(session_id, (call_id.to_owned(), decide));
        decision
    }

    /// Answers the session's waiting call `call_id`; false when no such call waits.
    pub fn decide(&self, session_id: ChatSessionId, call_id: &str, approved: bool) -> bool {
        let mut waiting = self.waiting();
        match waiting.remove(&session_id) {
            Some((waiting_id, decide)) if waiting_id == call_id => decide.send(approved).is_ok(),
            Some(other) => {
                waiting.insert(session_id, other);
                false
            }
            None => false,
        }
    }
}

/// What an agent answers one user message with: its output, the conversation before the
/// message, its files, the session's model settings, and the model loop. The chat service
/// makes one per turn.
#[derive(Debug)]
pub struct Turn {
    /// Where it writes.
    pub(crate) output: Output,
    /// The session's owner.
    pub(crate) owner_id: UserId,
    /// The session.
    pub(crate) session_id: ChatSessionId,
    /// The conversation before the message.
    pub(crate) history: Vec<ModelTurn>,
    /// The files sent with the message.
    pub(crate) files: Vec<Attachment>,
    /// The session's model settings.
    pub(crate) settings: ChatSettings,
    /// The shape the reply must have.
    pub(crate) response_format: Option<ResponseFormat>,
    /// The models.
    pub(crate) providers: Providers,
    /// Where approvals are waited for.
    pub(crate) approvals: Approvals,
}

impl Turn {
    /// Streams `text` as the next chunk of the reply.
    pub fn write(&self, text: impl Into<String>) {
        self.output.write(text);
    }

    /// Shows a widget of `kind` with `data` (see [`Output::display_widget`]).
    pub fn display_widget(&self, kind: &str, data: impl Serialize) {
        self.output.display_widget(kind, data);
    }

    /// Shows a built-in widget.
    pub fn show(&self, widget: WidgetData) {
        self.output.show(widget);
    }

    /// The turn's output, for tools and tasks that write or show widgets.
    pub fn output(&self) -> &Output {
        &self.output
    }

    /// True once the user stopped the reply.
    pub fn is_stopped(&self) -> bool {
        self.output.is_stopped()
    }

    /// The session owner.
    pub fn owner_id(&self) -> UserId {
        self.owner_id
    }

    /// The conversation before the message, as a model reads it.
    pub fn history(&self) -> &[ModelTurn] {
        &self.history
    }

    /// The files sent with the message, with their text.
    pub fn files(&self) -> &[Attachment] {
        &self.files
    }

    /// The session's model settings.
    pub fn settings(&self) -> &ChatSettings {
        &self.settings
    }

    /// Asks the session's model to answer `message`, streaming its text into the reply.
    pub fn model<'t>(&'t self, message: &UserMessage) -> ModelCall<'t> {
        ModelCall {
            turn: self,
            text: message.text.clone(),
            instructions: String::new(),
            tools: &[],
            context: Value::Null,
            require_tool: false,
            history: None,
        }
    }
}

/// A model call being set up: instructions, tools and the context they draw on.
#[must_use = "a model call does nothing until it runs"]
pub struct ModelCall<'t> {
    turn: &'t Turn,
    text: String,
    instructions: String,
    tools: &'t [Tool],
    context: Value,
    require_tool: bool,
    /// The conversation before the message, when the agent words it for the model itself.
    history: Option<Vec<ModelTurn>>,
}

impl<'t> ModelCall<'t> {
    /// The conversation before the message as the model is to read it, instead of the
    /// session's as stored (say, with tools' results cut to what matters for the next step).
    pub fn history(mut self, turns: Vec<ModelTurn>) -> Self {
        self.history = Some(turns);
        self
    }

    /// Instructions before the session's own system prompt.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = instructions.into();
        self
    }

    /// Tools the model may call; their context parameters are filled from `context`.
    pub fn tools(mut self, tools: &'t [Tool], context: &impl Serialize) -> Self {
        self.tools = tools;
        self.context = serde_json::to_value(context).unwrap_or(Value::Null);
        self
    }

    /// Makes the model's first step a call of one of the tools (for an agent whose every
    /// answer needs data, and small models that would otherwise guess).
    pub fn require_tool(mut self) -> Self {
        self.require_tool = true;
        self
    }

    /// The instructions and the session's system prompt, as the model reads them.
    fn system(&self) -> String {
        [self.instructions.as_str(), self.turn.settings.system_prompt.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// The conversation before the message, and the message.
    fn turns(&self) -> Vec<ModelTurn> {
        let mut turns = self.history.clone().unwrap_or_else(|| self.turn.history.clone());
        turns.push(ModelTurn::User(self.text.clone()));
        turns
    }

    /// The prompt of a step that offers `tools`.
    fn prompt(&self, system: &str, turns: &[ModelTurn], tools: &[Tool], require_tool: bool) -> Prompt {
        let settings = &self.turn.settings;
        Prompt {
            system: system.to_owned(),
            tools: tools.iter().map(Tool::definition).collect(),
            require_tool,
            response_format: self.turn.response_format.clone(),
            ..Prompt::new(turns.to_vec(), settings.temperature, settings.max_tokens)
        }
    }

    /// Runs the model loop: the model answers or calls tools; the calls run (each shown, each
    /// result shown and given back to the model) and the model goes on, up to a step limit.
    /// Returns the text of the model's last step.
    pub async fn run(self) -> Result<String, AgentError> {
        let system = self.system();
        let mut turns = self.turns();
        for step in 1..=MAX_STEPS {
            let offered = if step < MAX_STEPS { self.tools } else { &[] };
            let prompt = self.prompt(&system, &turns, offered, self.require_tool && step == 1);
            let (text, calls) = self.step(prompt, true).await?;
            if calls.is_empty() || offered.is_empty() {
                return Ok(text);
            }
            turns.push(ModelTurn::Assistant { text, tool_calls: calls.clone() });
            for call in calls {
                let (_, result) = self.execute(&call).await?;
                let content = result.to_string();
                turns.push(ModelTurn::ToolResult { call_id: call.id, name: call.name, content });
            }
        }
        Ok(String::new())
    }

    /// One model step that picks a call of one of the tools, decoded greedily whatever the
    /// session's temperature (which tool, with which arguments, is no place for variety); the
    /// step ends with the call (a server that ignores that may send more), and what the model
    /// writes before it is not shown. The calls are not run: [`ModelCall::execute`] runs each,
    /// and the agent writes the answer from their results.
    pub async fn choose(&self) -> Result<Vec<ToolCall>, AgentError> {
        let prompt = Prompt {
            temperature: 0.0,
            parallel_tool_calls: false,
            ..self.prompt(&self.system(), &self.turns(), self.tools, self.require_tool)
        };
        Ok(self.step(prompt, false).await?.1)
    }

    /// One model step: its text (streamed as it comes when `shown`) and the tools it called.
    /// White space is written with the text that follows it: what ends a step (say, after its
    /// calls) is dropped.
    async fn step(&self, prompt: Prompt, shown: bool) -> Result<(String, Vec<ToolCall>), AgentError> {
        let output = &self.turn.output;
        let mut events = self.turn.providers.stream(&self.turn.settings.model, prompt);
        let (mut text, mut held, mut calls) = (String::new(), String::new(), ToolCalls::default());
        loop {
            let event = tokio::select! {
                biased;
                // Dropping `events` cancels the generation and the upstream request.
                () = output.stopped() => return Err(AgentError::Stopped),
                event = events.recv() => event,
            };
            match event {
                Some(Ok(ReplyEvent::Answering)) => output.answering.tell(),
                Some(Ok(ReplyEvent::Delta(delta))) if delta.trim().is_empty() => held.push_str(&delta),
                Some(Ok(ReplyEvent::Delta(delta))) => {
                    let delta = std::mem::take(&mut held) + &delta;
                    text.push_str(&delta);
                    if shown {
                        output.write(delta);
                    }
                }
                Some(Ok(ReplyEvent::ToolCall(delta))) => calls.push(*delta),
                Some(Ok(ReplyEvent::Done { finish_reason, usage })) => {
                    output.send(TurnEvent::ModelDone { finish_reason, usage });
                    return Ok((text, calls.finish()?));
                }
                Some(Err(error)) => return Err(error.into()),
                None => {
                    return Err(AgentError::Model(crate::backend::chat::providers::ProviderError::Protocol(
                        "the reply ended without finishing".into(),
                    )));
                }
            }
        }
    }

    /// Runs one call (after the user's approval when the tool needs it), shown in the reply as
    /// the call and its outcome; returns whether it succeeded, and its result or `{"error": …}`
    /// (what the model is told).
    pub async fn execute(&self, call: &ToolCall) -> Result<(bool, Value), AgentError> {
        let output = &self.turn.output;
        output.part(ReplyPart::ToolCall(ToolCallPart {
            call_id: call.id.clone(),
            name: call.name.clone(),
            arguments: call.arguments.clone(),
        }));
        let tool = self.tools.iter().find(|tool| tool.name() == call.name);
        let allowed = match tool.and_then(|tool| tool.approval_summary(&call.arguments)) {
            Some(summary) => self.approved(&call.id, summary).await?,
            None => true,
        };
        let outcome = match tool {
            None => Err(format!("there is no tool `{}`", call.name)),
            Some(_) if !allowed => Err("the user did not allow this".to_owned()),
            Some(tool) => tokio::select! {
                biased;
                () = output.stopped() => return Err(AgentError::Stopped),
                result = tool.call(&call.arguments, &self.context, output.clone()) => result.map_err(|e| e.0),
            },
        };
        let (ok, result) = match outcome {
            Ok(result) => (true, result),
            Err(error) => (false, serde_json::json!({ "error": error })),
        };
        output.part(ReplyPart::ToolResult(ToolResultPart {
            call_id: call.id.clone(),
            ok,
            result: result.clone(),
        }));
        Ok((ok, result))
    }

    /// Asks the user to approve a call and waits for the answer (or a stop).
    async fn approved(&self, call_id: &str, summary: String) -> Result<bool, AgentError> {
        let turn = self.turn;
        let decision = turn.approvals.wait(turn.session_id, call_id);
        turn.output.part(ReplyPart::ApprovalRequest(ApprovalPart { call_id: call_id.to_owned(), summary }));
        tokio::select! {
            biased;
            () = turn.output.stopped() => {
                turn.approvals.decide(turn.session_id, call_id, false);
                Err(AgentError::Stopped)
            }
            decision = decision => Ok(decision.unwrap_or(false)),
        }
    }
}

/// The conversation as a model reads it, from stored messages (oldest first): user messages,
/// and replies with their tool calls and results in place. Replies still being written are
/// left out.
pub fn model_turns(messages: Vec<ChatMessage>) -> Vec<ModelTurn> {
    let mut turns = Vec::new();
    for message in messages.into_iter().filter(|m| !m.status.is_streaming()) {
        match message.role {
            Role::User => turns.push(ModelTurn::User(message.content)),
            Role::Assistant => reply_turns(message, &mut turns),
            Role::System => {}
        }
    }
    turns
}

/// Tool calls made together, at `at` bytes of the reply's text, and the results so far.
type Batch = (usize, Vec<ToolCall>, Vec<ModelTurn>);

/// A reply's turns: its text up to each batch of calls, the calls, their results, and the text
/// after the last batch. A call left without a result (the reply was stopped) gets one saying so.
fn reply_turns(message: ChatMessage, turns: &mut Vec<ModelTurn>) {
    let content = message.content;
    let mut from = 0;
    let mut close = |(at, calls, mut results): Batch, from: &mut usize| {
        for call in &calls {
            let answered = results
                .iter()
                .any(|r| matches!(r, ModelTurn::ToolResult { call_id, .. } if *call_id == call.id));
            if !answered {
                let content =
                    serde_json::json!({"error": "the reply ended before the tool answered"}).to_string();
                results.push(ModelTurn::ToolResult {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    content,
                });
            }
        }
        let text = content.get(*from..at).unwrap_or_default().to_owned();
        turns.push(ModelTurn::Assistant { text, tool_calls: calls });
        turns.append(&mut results);
        *from = at;
    };
    let mut batch: Option<Batch> = None;
    for placed in message.parts {
        match placed.part {
            ReplyPart::ToolCall(call) => {
                if let Some(done) = batch.take_if(|(_, _, results)| !results.is_empty()) {
                    close(done, &mut from);
                }
                let call = ToolCall { id: call.call_id, name: call.name, arguments: call.arguments };
                batch.get_or_insert_with(|| (placed.at, Vec::new(), Vec::new())).1.push(call);
            }
            ReplyPart::ToolResult(result) => {
                if let Some((_, calls, results)) = &mut batch {
                    let name = calls.iter().find(|c| c.id == result.call_id).map(|c| c.name.clone());
                    let (call_id, content) = (result.call_id, result.result.to_string());
                    results.push(ModelTurn::ToolResult { call_id, name: name.unwrap_or_default(), content });
                }
            }
            ReplyPart::ApprovalRequest(_) | ReplyPart::Widget(_) => {}
        }
    }
    if let Some(done) = batch {
        close(done, &mut from);
    }
    let rest = content.get(from..).unwrap_or_default();
    if !rest.is_empty() {
        turns.push(ModelTurn::assistant(rest));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_for_the_model_ends_when_it_answered_or_at_the_limit() {
        let answering = Answering::default();
        answering.tell();
        let told = tokio::time::timeout(Duration::from_secs(30), answering.wait(Duration::from_secs(60)));
        told.await.expect("an answer told before the wait ends it at once");
        let started = tokio::time::Instant::now();
        answering.wait(Duration::from_millis(20)).await;
        assert!(
            started.elapsed() >= Duration::from_millis(20),
            "without an answer, the wait lasts its limit"
        );
    }
}
