//! The embedded models, run in-process on the CPU by the [`llm`] engine, so the app chats
//! offline: Qwen2.5 Coder 0.5B and 1.5B Instruct, which follow instructions in their own chat
//! format, and Gemma 3 270M, a pre-trained model that continues a transcript.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use llm::chat::Message;
use llm::{Model, Sampling};
use tokio::sync::{OnceCell, Semaphore, mpsc};

use super::{
    ModelProvider, Prompt, ProviderError, ReplyEvent, ReplyStream, ToolCallDelta, ToolDefinition, Turn,
};
use crate::backend::ModelAssets;
use crate::protocol::{FinishReason, ModelInfo, ProviderKind, ResponseFormat, Usage};

/// The provider's name, the prefix of its model ids.
const PROVIDER: &str = "local";
/// Tokens of context a prompt and its reply may fill; older turns are dropped to fit.
const CONTEXT_TOKENS: usize = 4096;
/// Penalty on recently repeated tokens: small models loop without it.
const REPEAT_PENALTY: f32 = 1.1;
/// Nucleus sampling: the smallest set of tokens holding this much probability.
const TOP_P: f32 = 0.95;
/// Memory per model for what earlier prompts computed (about 5,000 tokens of the 0.5B, 2,300 of
/// the 1.5B): a conversation's next turn, and any session of an agent with the same instructions
/// and tools, read only what is new.
const PREFIX_CACHE_BYTES: usize = 128 << 20;
/// What a pre-trained model's transcript starts with when the session has no system prompt.
const PREAMBLE: &str = "The following is a conversation with a helpful, concise assistant.\n\n";
/// One exchange that shows a pre-trained model the format.
const EXAMPLE: &str = "User: What is the capital of Italy?\nAssistant: The capital of Italy is Rome.\n\n";
/// Where a pre-trained model's reply ends: where it starts writing the next turn itself, or at
/// a blank line (past its first paragraph the small model drifts off topic).
const TURN_MARKERS: [&str; 3] = ["\nUser:", "\nAssistant:", "\n\n"];

/// A model the app embeds: its id, its file, and how the model list presents it.
#[derive(Debug)]
struct Offered {
    id: &'static str,
    file: &'static str,
    name: &'static str,
    note: &'static str,
}

/// The embedded models, the default first.
const OFFERED: [Offered; 3] = [
    Offered {
        id: "qwen2.5-coder-0.5b",
        file: ModelAssets::INSTRUCT_MODEL,
        name: "Qwen2.5 Coder 0.5B Instruct (offline)",
        note: "A small instruction-tuned model on this server's CPU: answers questions and writes short programs, \
               quickly (about 43 tokens a second on two cores). Being small, it gets facts and arithmetic wrong at \
               times.",
    },
    Offered {
        id: "qwen2.5-coder-1.5b",
        file: ModelAssets::LARGER_INSTRUCT_MODEL,
        name: "Qwen2.5 Coder 1.5B Instruct (offline)",
        note: "The larger instruction-tuned model on this server's CPU: better answers than the 0.5B, at about half \
               its speed (about 24 tokens a second on two cores) and twice its memory.",
    },
    Offered {
        id: "gemma-3-270m",
        file: ModelAssets::CHAT_MODEL,
        name: "Gemma 3 270M (offline)",
        note: "A small pre-trained model running on this server's CPU: it continues text more than it follows \
               instructions, and is often wrong.",
    },
];

/// Cuts the reply where the model starts the next turn. Text that could be the start of a
/// marker is held back until it is clear; the leading space after `Assistant:` is dropped.
#[derive(Debug, Default)]
struct TurnEnd {
    held: String,
    started: bool,
}

impl TurnEnd {
    /// Adds decoded text; returns what can be shown now, and whether the reply has ended.
    fn push(&mut self, piece: &str) -> (String, bool) {
        self.held.push_str(piece);
        if !self.started {
            self.held = self.held.trim_start().to_owned();
            self.started = !self.held.is_empty();
        }
        if let Some(end) = TURN_MARKERS.iter().filter_map(|m| self.held.find(m)).min() {
            let shown = self.held[..end].trim_end().to_owned();
            self.held.clear();
            return (shown, true);
        }
        let keep = (1..=self.held.len())
            .rev()
            .filter(|&n| self.held.is_char_boundary(self.held.len() - n))
            .find(|&n| TURN_MARKERS.iter().any(|m| m.starts_with(&self.held[self.held.len() - n..])))
            .unwrap_or(0);
        let shown = self.held[..self.held.len() - keep].to_owned();
        self.held.drain(..self.held.len() - keep);
        (shown, false)
    }
}

/// The embedded models, in-process; each loads on first use.
#[derive(Clone, Debug)]
pub struct EmbeddedModels {
    inner: Arc<Embedded>,
}

#[derive(Debug)]
struct Embedded {
    models: Vec<Slot>,
    /// Generations running at once, over all models; the rest wait their turn.
    slots: Arc<Semaphore>,
}

/// What a model computed for the prompts it read lately, shared by its generations.
type Prefixes = Arc<std::sync::Mutex<llm::PrefixCache>>;

/// One embedded model and, once loaded, its weights.
#[derive(Debug)]
struct Slot {
    offered: &'static Offered,
    path: PathBuf,
    loaded: OnceCell<Arc<Model>>,
    prefixes: Prefixes,
}

impl EmbeddedModels {
    /// The models in `assets`, each loaded on first use; at most `concurrency` replies are
    /// generated at once (each takes a CPU core).
    pub fn new(assets: &ModelAssets, concurrency: usize) -> Self {
        let models = OFFERED
            .iter()
            .map(|offered| Slot {
                offered,
                path: assets.path(offered.file),
                loaded: OnceCell::new(),
                prefixes: Arc::new(std::sync::Mutex::new(llm::PrefixCache::new(PREFIX_CACHE_BYTES))),
            })
            .collect();
        Self { inner: Arc::new(Embedded { models, slots: Arc::new(Semaphore::new(concurrency.max(1))) }) }
    }

    /// The namespaced id of the default embedded model, e.g. for the default model setting.
    pub fn default_model_id() -> String {
        format!("{PROVIDER}/{}", OFFERED[0].id)
    }
}

impl Embedded {
    fn slot(&self, model: &str) -> Result<&Slot, ProviderError> {
        self.models
            .iter()
            .find(|slot| slot.offered.id == model)
            .ok_or_else(|| ProviderError::UnknownModel(format!("{PROVIDER}/{model}")))
    }
}

impl Slot {
    async fn load(&self) -> Result<Arc<Model>, ProviderError> {
        self.loaded
            .get_or_try_init(|| async {
                let path = self.path.clone();
                let started = Instant::now();
                let model = tokio::task::spawn_blocking(move || Model::load(&path))
                    .await
                    .map_err(|e| ProviderError::Model(e.to_string()))?
                    .map_err(|e| ProviderError::Model(e.to_string()))?;
                tracing::info!(
                    model = self.offered.id,
                    "embedded chat model loaded in {:?}",
                    started.elapsed()
                );
                Ok(Arc::new(model))
            })
            .await
            .cloned()
    }
}

/// The prompt for an instruction-tuned model: the session's system prompt (with `schema`, the
/// JSON Schema of the reply, when one is asked for), the turns and the tools in the model's own
/// chat format. The oldest turns are dropped when the prompt would not leave room for the reply
/// (the last one is always kept).
fn chat_tokens(
    model: &Model,
    prompt: &Prompt,
    schema: Option<&serde_json::Value>,
    tools: &[llm::chat::Tool],
) -> Result<Vec<u32>, llm::Error> {
    let budget = CONTEXT_TOKENS.saturating_sub(prompt.max_tokens as usize).max(256);
    let system = match schema {
        Some(schema) => format!(
            "{}\n\nAnswer with a JSON document that this JSON Schema accepts: {schema}",
            prompt.system
        )
        .trim()
        .to_owned(),
        None => prompt.system.trim().to_owned(),
    };
    let mut from = 0;
    loop {
        let mut messages = Vec::with_capacity(prompt.turns.len() + 1);
        if !system.is_empty() {
            messages.push(Message::new(llm::chat::Role::System, system.as_str()));
        }
        messages.extend(self::messages(&prompt.turns[from..]));
        let tokens = model.chat_prompt(&messages, tools)?;
        if tokens.len() <= budget || from + 1 >= prompt.turns.len() {
            return Ok(tokens);
        }
        from += 1;
    }
}

/// A tool as the engine lists it for the model.
fn engine_tool(tool: &ToolDefinition) -> llm::chat::Tool {
    llm::chat::Tool {
        name: tool.name.clone(),
        description: tool.description.clone(),
        parameters: tool.parameters.clone(),
    }
}

/// The turns as the engine's chat template reads them. The results of the tools called last are
/// told the model in a user message that asks the question again: given the template's own tool
/// turn, or results without the question, both Qwen coder models tend to call the same tool again
/// instead of answering. Earlier results, answered already, are the template's tool turns.
fn messages(turns: &[Turn]) -> Vec<Message> {
    use llm::chat::Role;
    let mut messages: Vec<Message> = Vec::with_capacity(turns.len());
    let mut question = "";
    let mut results = String::new();
    for (n, turn) in turns.iter().enumerate() {
        match turn {
            Turn::User(text) => {
                question = text;
                messages.push(Message::new(Role::User, text.as_str()));
            }
            Turn::Assistant { text, tool_calls } => messages.push(Message {
                tool_calls: tool_calls
                    .iter()
                    .map(|call| llm::chat::ToolCall {
                        name: call.name.clone(),
                        arguments: call.arguments.clone(),
                    })
                    .collect(),
                ..Message::new(Role::Assistant, text.as_str())
            }),
            Turn::ToolResult { content, .. }
                if turns[n..].iter().any(|t| !matches!(t, Turn::ToolResult { .. })) =>
            {
                messages.push(Message::new(Role::Tool, content.trim()));
            }
            Turn::ToolResult { name, content, .. } => {
                results.push_str(&format!("<tool_response>\n{name}: {}\n</tool_response>\n", content.trim()));
                if !matches!(turns.get(n + 1), Some(Turn::ToolResult { .. })) {
                    let ask = format!("{results}Using these results, answer in a sentence: {question}");
                    messages.push(Message::new(Role::User, ask));
                    results.clear();
                }
            }
        }
    }
    messages
}

/// Whether the model is to answer with tools' results: the conversation ends with them. The
/// embedded models are then offered no tools (offered them, they call the same tool again), so
/// they make one round of calls per question.
fn answering_with_results(prompt: &Prompt) -> bool {
    matches!(prompt.turns.last(), Some(Turn::ToolResult { .. }))
}

/// The prompt for a pre-trained model: the conversation as a plain transcript (`User: …` /
/// `Assistant: …` lines after a preamble and one example exchange), ending with `Assistant:` for
/// the model to continue. The pre-trained model never learned Gemma's turn tokens (given them,
/// it repeats the question); a transcript is text it has seen plenty of, and it answers. The
/// oldest turns are dropped when the prompt would not leave room for the reply.
fn transcript_tokens(model: &Model, prompt: &Prompt) -> Vec<u32> {
    let tokenizer = model.tokenizer();
    let preamble = match prompt.system.trim() {
        "" => PREAMBLE.to_owned(),
        system => format!("{system}\n\n"),
    };
    let budget = CONTEXT_TOKENS.saturating_sub(prompt.max_tokens as usize).max(256);
    let mut tokens = tokenizer.encode_prompt(&format!("{preamble}{EXAMPLE}"));
    let mut turns: Vec<Vec<u32>> = Vec::new();
    let mut used = tokens.len() + 2;
    for turn in prompt.turns.iter().rev() {
        let line = match turn {
            Turn::User(text) => format!("User: {}\n", text.trim()),
            Turn::Assistant { text, .. } => format!("Assistant: {}\n\n", text.trim()),
            Turn::ToolResult { name, content, .. } => format!("Tool {name}: {}\n", content.trim()),
        };
        let turn = tokenizer.encode(&line);
        if used + turn.len() > budget && !turns.is_empty() {
            break;
        }
        used += turn.len();
        turns.push(turn);
    }
    tokens.extend(turns.into_iter().rev().flatten());
    tokens.extend(tokenizer.encode("Assistant:"));
    tokens
}

/// Generates a reply, sending each piece of text and each tool call as it is decoded. Runs on
/// a blocking thread; returns early when the receiver is gone (the user stopped the reply).
fn generate(
    model: &Model,
    prompt: &Prompt,
    replies: &mpsc::Sender<Result<ReplyEvent, ProviderError>>,
    prefixes: &Prefixes,
) {
    if let Err(e) = try_generate(model, prompt, replies, prefixes) {
        let _ = replies.blocking_send(Err(ProviderError::Model(e.to_string())));
    }
}

fn try_generate(
    model: &Model,
    prompt: &Prompt,
    replies: &mpsc::Sender<Result<ReplyEvent, ProviderError>>,
    prefixes: &Prefixes,
) -> Result<(), llm::Error> {
    let schema = prompt.response_format.as_ref().and_then(ResponseFormat::schema);
    let offered = if answering_with_results(prompt) { &[][..] } else { &prompt.tools };
    let tools: Vec<llm::chat::Tool> = offered.iter().map(engine_tool).collect();
    if schema.is_some() && !tools.is_empty() {
        return Err(llm::Error::Schema(
            "a reply of the embedded model follows a schema or calls tools, not both".into(),
        ));
    }
    // A pre-trained model's reply ends where it starts the next turn (or where its JSON does);
    // an instruction-tuned one ends its turn with its end token.
    let (tokens, turn_end) = if model.has_chat_template() {
        (chat_tokens(model, prompt, schema.as_ref(), &tools)?, None)
    } else if !tools.is_empty() {
        return Err(llm::Error::Chat(format!("{} cannot call tools", model.name())));
    } else {
        (transcript_tokens(model, prompt), schema.is_none().then(TurnEnd::default))
    };
    let sampling = Sampling {
        temperature: prompt.temperature,
        top_p: TOP_P,
        repeat_penalty: REPEAT_PENALTY,
        seed: random_seed(),
    };
    let earlier = prefixes.lock().ok().and_then(|mut prefixes| prefixes.lookup(&tokens));
    let mut generation = model.generate_after(earlier, &tokens, sampling)?;
    if let Some(schema) = &schema {
        generation = generation.following_schema(schema)?;
    }
    if !tools.is_empty() {
        generation = generation.with_tools(&tools)?;
        if prompt.require_tool {
            generation = generation.calling_first();
        }
    }
    if replies.blocking_send(Ok(ReplyEvent::Answering)).is_err() {
        return Ok(());
    }
    let started = Instant::now();
    let calls = if prompt.parallel_tool_calls { usize::MAX } else { 1 };
    let streamed = stream(&mut generation, prompt.max_tokens, turn_end, calls, replies);
    let generated = generation.generated().len();
    tracing::debug!(
        prompt = tokens.len(),
        reused = generation.reused(),
        generated,
        "read the prompt and generated in {:?}",
        started.elapsed()
    );
    if let Ok(mut prefixes) = prefixes.lock() {
        prefixes.keep(generation.into_prefix());
    }
    let Some(finish_reason) = streamed? else { return Ok(()) };
    let usage = Usage {
        prompt_tokens: u32::try_from(tokens.len()).unwrap_or(u32::MAX),
        completion_tokens: u32::try_from(generated).unwrap_or(u32::MAX),
    };
    let _ = replies
        .blocking_send(Ok(ReplyEvent::Done { finish_reason: Some(finish_reason), usage: Some(usage) }));
    Ok(())
}

/// Sends the reply's text and tool calls as `generation` writes them, up to `max_tokens` and
/// `max_calls` calls; returns why it ended, or none when the receiver is gone (the user stopped
/// the reply).
fn stream(
    generation: &mut llm::Generation,
    max_tokens: u32,
    mut turn_end: Option<TurnEnd>,
    max_calls: usize,
    replies: &mpsc::Sender<Result<ReplyEvent, ProviderError>>,
) -> Result<Option<FinishReason>, llm::Error> {
    let mut finish_reason = FinishReason::Stop;
    let mut calls = 0;
    loop {
        if generation.generated().len() >= max_tokens as usize {
            finish_reason = FinishReason::Length;
            break;
        }
        let Some(token) = generation.next().transpose()? else { break };
        let (piece, ended) = match &mut turn_end {
            Some(turn_end) => turn_end.push(&token.text),
            None => (token.text, false),
        };
        let call = token.tool_call.map(|call| {
            calls += 1;
            ReplyEvent::ToolCall(Box::new(ToolCallDelta {
                index: calls - 1,
                id: Some(format!("call_{:016x}", random_seed())),
                name: Some(call.name),
                arguments: call.arguments.to_string(),
            }))
        });
        let text = (!piece.is_empty()).then_some(ReplyEvent::Delta(piece));
        if text.into_iter().chain(call).any(|event| replies.blocking_send(Ok(event)).is_err()) {
            return Ok(None);
        }
        if ended || calls >= max_calls {
            break;
        }
    }
    if calls > 0 && finish_reason == FinishReason::Stop {
        finish_reason = FinishReason::ToolCalls;
    }
    Ok(Some(finish_reason))
}

/// A seed for sampling that differs between replies (a fixed one if the system has none).
fn random_seed() -> u64 {
    getrandom::u64().unwrap_or(0x5EED)
}

impl ModelProvider for EmbeddedModels {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Embedded
    }

    fn discover_models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, ProviderError>> {
        let models = OFFERED
            .iter()
            .map(|offered| ModelInfo {
                id: format!("{PROVIDER}/{}", offered.id),
                provider: PROVIDER.into(),
                name: offered.name.into(),
                note: Some(offered.note.into()),
            })
            .collect();
        async move { Ok(models) }.boxed()
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ProviderError>> {
        async move {
            let missing: Vec<String> = self
                .inner
                .models
                .iter()
                .filter(|slot| !slot.path.is_file())
                .map(|slot| slot.path.display().to_string())
                .collect();
            if !missing.is_empty() {
                return Err(ProviderError::Model(format!(
                    "{} missing: run `make setup`",
                    missing.join(", ")
                )));
            }
            let loaded: Vec<&str> = self
                .inner
                .models
                .iter()
                .filter(|slot| slot.loaded.initialized())
                .map(|slot| slot.offered.id)
                .collect();
            Ok(match loaded.as_slice() {
                [] => format!("{} models present; each loads on first use", self.inner.models.len()),
                loaded => format!("loaded in memory: {}", loaded.join(", ")),
            })
        }
        .boxed()
    }

    fn warm_up(&self, model: &str) -> BoxFuture<'_, Result<(), ProviderError>> {
        let slot = self.inner.slot(model);
        async move { slot?.load().await.map(drop) }.boxed()
    }

    fn stream(&self, model: &str, prompt: Prompt) -> ReplyStream {
        let (replies, receiver) = mpsc::channel(64);
        let inner = self.inner.clone();
        let model = model.to_owned();
        tokio::spawn(async move {
            let loaded = match inner.slot(&model) {
                Ok(slot) => slot.load().await.map(|loaded| (loaded, slot.prefixes.clone())),
                Err(e) => Err(e),
            };
            let (loaded, prefixes) = match loaded {
                Ok(loaded) => loaded,
                Err(e) => {
                    let _ = replies.send(Err(e)).await;
                    return;
                }
            };
            let permit = tokio::select! {
                permit = inner.slots.clone().acquire_owned() => permit,
                () = replies.closed() => return,
            };
            let Ok(permit) = permit else { return };
            let _ = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                generate(&loaded, &prompt, &replies, &prefixes);
            })
            .await;
        });
        receiver.into()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ToolCall, ToolCalls};
    use super::*;

    fn models() -> EmbeddedModels {
        EmbeddedModels::new(&ModelAssets::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models")), 1)
    }

    /// A whole reply.
    struct Reply {
        text: String,
        calls: Vec<ToolCall>,
        finish_reason: Option<FinishReason>,
        usage: Option<Usage>,
    }

    /// The reply of `model` to `prompt`.
    async fn reply(model: &str, prompt: Prompt) -> Reply {
        let mut replies = models().stream(model, prompt);
        let mut text = String::new();
        let mut calls = ToolCalls::default();
        while let Some(event) = replies.recv().await {
            match event.expect("the model generates") {
                ReplyEvent::Answering => {}
                ReplyEvent::Delta(piece) => text.push_str(&piece),
                ReplyEvent::ToolCall(part) => calls.push(*part),
                ReplyEvent::Done { finish_reason, usage } => {
                    return Reply { text, calls: calls.finish().unwrap(), finish_reason, usage };
                }
            }
        }
        panic!("the reply ended without Done: {text:?}");
    }

    fn ask(question: &str, max_tokens: u32) -> Prompt {
        Prompt::new(vec![Turn::User(question.into())], 0.0, max_tokens)
    }

    #[test]
    fn a_reply_ends_where_the_model_starts_the_next_turn() {
        let mut end = TurnEnd::default();
        assert_eq!(end.push(" The capital"), ("The capital".into(), false));
        assert_eq!(end.push(" is Paris.\n"), (" is Paris.".into(), false), "a newline waits");
        assert_eq!(end.push("Us"), (String::new(), false));
        assert_eq!(end.push("er: and"), (String::new(), true));
        let mut end = TurnEnd::default();
        assert_eq!(end.push("a\nb"), ("a\nb".into(), false), "a newline that starts no turn is shown");
        assert_eq!(end.push(".\n\nThe following"), (".".into(), true), "a blank line ends the reply");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_instruct_model_follows_the_system_prompt_and_ends_its_turn() {
        let prompt = Prompt {
            system: "Answer with one word only.".into(),
            ..ask("What is the capital of France?", 24)
        };
        let Reply { text, finish_reason, usage, .. } = reply("qwen2.5-coder-0.5b", prompt).await;
        assert_eq!(text.trim_end_matches('.'), "Paris");
        assert_eq!(finish_reason, Some(FinishReason::Stop), "it ended its turn itself");
        assert!(usage.is_some_and(|u| u.prompt_tokens > 10 && u.completion_tokens > 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pretrained_model_continues_a_transcript_with_readable_text() {
        let Reply { text, finish_reason, .. } =
            reply("gemma-3-270m", ask("What is the capital of France?", 24)).await;
        assert!(matches!(finish_reason, Some(FinishReason::Stop | FinishReason::Length)));
        assert!(text.contains("Paris"), "a readable answer, got {text:?}");
        assert!(!text.contains('\u{FFFD}'), "valid text, got {text:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_turns_give_way_to_the_reply_and_unknown_models_are_refused() {
        let model = models().inner.slot("qwen2.5-coder-0.5b").unwrap().load().await.unwrap();
        let long = "word ".repeat(2000);
        let turns = vec![Turn::User(long.clone()), Turn::assistant(long), Turn::User("Hi".into())];
        let prompt = Prompt::new(turns, 0.0, 512);
        let tokens = chat_tokens(&model, &prompt, None, &[]).unwrap();
        // The oldest turn gives way; the reply still has its 512 tokens.
        assert!((2000..=CONTEXT_TOKENS - 512).contains(&tokens.len()), "{} tokens", tokens.len());
        assert!(model.tokenizer().decode(&tokens).ends_with("user\nHi\nassistant\n"));
        let mut refused = models().stream("no-such-model", prompt);
        assert!(
            matches!(refused.recv().await, Some(Err(ProviderError::UnknownModel(id))) if id == "local/no-such-model")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_model_calls_a_tool_then_answers_from_its_result() {
        let count_events = ToolDefinition {
            name: "count_events".into(),
            description: "How many times the cameras saw a label in the last hours".into(),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {"label": {"type": "string"}, "hours": {"type": "integer"}},
                "required": ["label", "hours"]
            }),
        };
        let question = Turn::User("How many cats did the cameras see in the last 24 hours?".into());
        let prompt =
            Prompt { tools: vec![count_events.clone()], ..Prompt::new(vec![question.clone()], 0.0, 80) };
        // Asked for exactly one call, the step is that call and ends with it.
        let one_call = Prompt { require_tool: true, parallel_tool_calls: false, ..prompt.clone() };
        let chosen = reply("qwen2.5-coder-0.5b", one_call).await;
        assert_eq!((chosen.finish_reason, chosen.calls.len()), (Some(FinishReason::ToolCalls), 1));
        assert_eq!(chosen.text, "");
        let first = reply("qwen2.5-coder-0.5b", prompt).await;
        assert_eq!(first.finish_reason, Some(FinishReason::ToolCalls), "{:?}", first.text);
        let [call] = first.calls.as_slice() else { panic!("one call: {:?}", first.calls) };
        assert_eq!(call.name, "count_events");
        assert!(call.arguments["label"].as_str().is_some_and(|l| l.contains("cat")), "{}", call.arguments);
        assert!(!first.text.contains("count_events"), "the call is not reply text: {:?}", first.text);
        let turns = vec![
            question,
            Turn::Assistant { text: first.text, tool_calls: first.calls.clone() },
            Turn::ToolResult {
                call_id: call.id.clone(),
                name: call.name.clone(),
                content: r#"{"count": 17}"#.into(),
            },
        ];
        let prompt = Prompt { tools: vec![count_events], ..Prompt::new(turns, 0.0, 60) };
        let answer = reply("qwen2.5-coder-0.5b", prompt).await;
        assert!(
            answer.text.contains("17"),
            "it answers from the result: {:?} {:?}",
            answer.text,
            answer.calls
        );
        assert!(answer.calls.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reply_asked_for_a_json_schema_is_a_document_it_accepts() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
            "required": ["city", "country"],
            "additionalProperties": false
        });
        let format = ResponseFormat::JsonSchema {
            json_schema: crate::protocol::JsonSchemaFormat {
                name: "place".into(),
                description: None,
                schema,
                strict: None,
            },
        };
        for model in ["qwen2.5-coder-0.5b", "gemma-3-270m"] {
            let prompt =
                Prompt { response_format: Some(format.clone()), ..ask("Where is the Eiffel Tower?", 60) };
            let Reply { text, finish_reason, .. } = reply(model, prompt).await;
            let document: serde_json::Value = serde_json::from_str(&text).expect("the reply parses");
            assert!(document["city"].is_string() && document["country"].is_string(), "{model}: {text}");
            assert_eq!(document.as_object().unwrap().len(), 2, "{model}: {text}");
            assert_eq!(finish_reason, Some(FinishReason::Stop), "{model}: it ends with the document");
        }
        let bad = ResponseFormat::JsonSchema {
            json_schema: crate::protocol::JsonSchemaFormat {
                name: "bad".into(),
                description: None,
                schema: serde_json::json!({"type": "no such type"}),
                strict: None,
            },
        };
        let prompt = Prompt { response_format: Some(bad), ..ask("Hi", 10) };
        let mut replies = models().stream("qwen2.5-coder-0.5b", prompt);
        assert!(
            matches!(replies.recv().await, Some(Err(ProviderError::Model(e))) if e.contains("JSON Schema"))
        );
    }
}
