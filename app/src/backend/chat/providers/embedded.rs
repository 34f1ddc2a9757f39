//! The embedded model: Gemma 3 270M from the GGUF file, run in-process on the CPU by the
//! [`llm`] engine, so the app chats offline. It is small and pre-trained (not instruction-tuned):
//! it continues text more than it follows instructions.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use llm::{Model, Sampling};
use tokio::sync::{OnceCell, Semaphore, mpsc};

use super::{ModelProvider, Prompt, ProviderError, ReplyEvent, ReplyStream};
use crate::protocol::{FinishReason, ModelInfo, ProviderKind, Role, Usage};

/// The embedded model's id within its provider.
pub const EMBEDDED_MODEL: &str = "gemma-3-270m";
/// The provider's name, the prefix of its model id.
const PROVIDER: &str = "local";
/// Tokens of context a prompt and its reply may fill; older turns are dropped to fit.
const CONTEXT_TOKENS: usize = 4096;
/// Penalty on recently repeated tokens: small models loop without it.
const REPEAT_PENALTY: f32 = 1.15;
/// Nucleus sampling: the smallest set of tokens holding this much probability.
const TOP_P: f32 = 0.95;
/// What the transcript starts with when the session has no system prompt.
const PREAMBLE: &str = "The following is a conversation with a helpful, concise assistant.\n\n";
/// One exchange that shows the model the format.
const EXAMPLE: &str = "User: What is the capital of Italy?\nAssistant: The capital of Italy is Rome.\n\n";
/// Where the reply ends: where the model starts writing the next turn itself, or at a blank line
/// (past its first paragraph this small model drifts off topic).
const TURN_MARKERS: [&str; 3] = ["\nUser:", "\nAssistant:", "\n\n"];

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

/// Gemma 3 270M, in-process.
#[derive(Clone, Debug)]
pub struct EmbeddedModel {
    inner: Arc<Embedded>,
}

#[derive(Debug)]
struct Embedded {
    path: PathBuf,
    loaded: OnceCell<Arc<Model>>,
    /// Generations running at once; the rest wait their turn.
    slots: Arc<Semaphore>,
}

impl EmbeddedModel {
    /// The model in the GGUF file at `path`, loaded on first use; at most `concurrency`
    /// replies are generated at once (each takes a CPU core).
    pub fn new(path: PathBuf, concurrency: usize) -> Self {
        Self {
            inner: Arc::new(Embedded {
                path,
                loaded: OnceCell::new(),
                slots: Arc::new(Semaphore::new(concurrency.max(1))),
            }),
        }
    }

    /// The namespaced id of the model, e.g. for the default model setting.
    pub fn model_id() -> String {
        format!("{PROVIDER}/{EMBEDDED_MODEL}")
    }
}

impl Embedded {
    async fn load(&self) -> Result<Arc<Model>, ProviderError> {
        self.loaded
            .get_or_try_init(|| async {
                let path = self.path.clone();
                let started = Instant::now();
                let model = tokio::task::spawn_blocking(move || Model::load(&path))
                    .await
                    .map_err(|e| ProviderError::Model(e.to_string()))?
                    .map_err(|e| ProviderError::Model(e.to_string()))?;
                tracing::info!("embedded chat model loaded in {:?}", started.elapsed());
                Ok(Arc::new(model))
            })
            .await
            .cloned()
    }
}

/// The conversation as a plain transcript (`User: …` / `Assistant: …` lines after a preamble and
/// one example exchange), ending with `Assistant:` for the model to continue. The pre-trained
/// model never learned Gemma's turn tokens (given them, it repeats the question); a transcript
/// is text it has seen plenty of, and it answers. The oldest turns are dropped when the prompt
/// would not leave room for the reply.
fn prompt_tokens(model: &Model, prompt: &Prompt) -> Vec<u32> {
    let tokenizer = model.tokenizer();
    let preamble = match prompt.system.trim() {
        "" => PREAMBLE.to_owned(),
        system => format!("{system}\n\n"),
    };
    let budget = CONTEXT_TOKENS.saturating_sub(prompt.max_tokens as usize).max(256);
    let mut tokens = tokenizer.encode_prompt(&format!("{preamble}{EXAMPLE}"));
    let mut turns: Vec<Vec<u32>> = Vec::new();
    let mut used = tokens.len() + 2;
    for (role, text) in prompt.turns.iter().rev() {
        let speaker = if *role == Role::Assistant { "Assistant" } else { "User" };
        let blank = if *role == Role::Assistant { "\n\n" } else { "\n" };
        let turn = tokenizer.encode(&format!("{speaker}: {}{blank}", text.trim()));
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

/// Generates a reply, sending each piece of text as it is decoded. Runs on a blocking thread;
/// returns early when the receiver is gone (the user stopped the reply).
fn generate(model: &Model, prompt: &Prompt, replies: &mpsc::Sender<Result<ReplyEvent, ProviderError>>) {
    if let Err(e) = try_generate(model, prompt, replies) {
        let _ = replies.blocking_send(Err(ProviderError::Model(e.to_string())));
    }
}

fn try_generate(
    model: &Model,
    prompt: &Prompt,
    replies: &mpsc::Sender<Result<ReplyEvent, ProviderError>>,
) -> Result<(), llm::Error> {
    let tokens = prompt_tokens(model, prompt);
    let sampling = Sampling {
        temperature: prompt.temperature,
        top_p: TOP_P,
        repeat_penalty: REPEAT_PENALTY,
        seed: random_seed(),
    };
    let mut generation = model.generate(&tokens, sampling)?;
    let mut turn_end = TurnEnd::default();
    let mut finish_reason = FinishReason::Stop;
    loop {
        if generation.generated().len() >= prompt.max_tokens as usize {
            finish_reason = FinishReason::Length;
            break;
        }
        let Some(token) = generation.next().transpose()? else { break };
        let (piece, ended) = turn_end.push(&token.text);
        if !piece.is_empty() && replies.blocking_send(Ok(ReplyEvent::Delta(piece))).is_err() {
            return Ok(());
        }
        if ended {
            break;
        }
    }
    let usage = Usage {
        prompt_tokens: u32::try_from(tokens.len()).unwrap_or(u32::MAX),
        completion_tokens: u32::try_from(generation.generated().len()).unwrap_or(u32::MAX),
    };
    let _ = replies
        .blocking_send(Ok(ReplyEvent::Done { finish_reason: Some(finish_reason), usage: Some(usage) }));
    Ok(())
}

/// A seed for sampling that differs between replies (a fixed one if the system has none).
fn random_seed() -> u64 {
    getrandom::u64().unwrap_or(0x5EED)
}

impl ModelProvider for EmbeddedModel {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Embedded
    }

    fn discover_models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, ProviderError>> {
        let model = ModelInfo {
            id: Self::model_id(),
            provider: PROVIDER.into(),
            name: "Gemma 3 270M (offline)".into(),
            note: Some(
                "A small pre-trained model running on this server's CPU: it continues text more than it follows \
                 instructions. Configure an OpenAI-compatible server for a capable assistant."
                    .into(),
            ),
        };
        async move { Ok(vec![model]) }.boxed()
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ProviderError>> {
        async move {
            if self.inner.loaded.initialized() {
                Ok("loaded in memory".to_owned())
            } else if self.inner.path.is_file() {
                Ok(format!("{} present; loads on first use", self.inner.path.display()))
            } else {
                Err(ProviderError::Model(format!(
                    "{} is missing: run `make setup`",
                    self.inner.path.display()
                )))
            }
        }
        .boxed()
    }

    fn warm_up(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        async move { self.inner.load().await.map(drop) }.boxed()
    }

    fn stream(&self, model: &str, prompt: Prompt) -> ReplyStream {
        let (replies, receiver) = mpsc::channel(64);
        let inner = self.inner.clone();
        let known = model == EMBEDDED_MODEL;
        let model = model.to_owned();
        tokio::spawn(async move {
            if !known {
                let _ = replies.send(Err(ProviderError::UnknownModel(format!("{PROVIDER}/{model}")))).await;
                return;
            }
            let loaded = match inner.load().await {
                Ok(loaded) => loaded,
                Err(e) => {
                    let _ = replies.send(Err(e)).await;
                    return;
                }
            };
            let slot = tokio::select! {
                slot = inner.slots.clone().acquire_owned() => slot,
                () = replies.closed() => return,
            };
            let Ok(slot) = slot else { return };
            let _ = tokio::task::spawn_blocking(move || {
                let _slot = slot;
                generate(&loaded, &prompt, &replies);
            })
            .await;
        });
        receiver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(crate::backend::ModelAssets::CHAT_MODEL)
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
    async fn the_model_answers_a_short_prompt_with_readable_text() {
        let model = EmbeddedModel::new(model_path(), 1);
        let prompt = Prompt {
            system: String::new(),
            turns: vec![(Role::User, "What is the capital of France?".into())],
            temperature: 0.0,
            max_tokens: 24,
        };
        let mut replies = model.stream(EMBEDDED_MODEL, prompt);
        let mut text = String::new();
        let mut done = None;
        while let Some(event) = replies.recv().await {
            match event.expect("the model generates") {
                ReplyEvent::Delta(piece) => text.push_str(&piece),
                ReplyEvent::Done { finish_reason, usage } => done = Some((finish_reason, usage)),
            }
        }
        let (finish_reason, usage) = done.expect("the reply ends with Done");
        assert!(matches!(finish_reason, Some(FinishReason::Stop | FinishReason::Length)));
        assert!(usage.is_some_and(|u| u.prompt_tokens > 5 && u.completion_tokens > 0));
        assert!(text.contains("Paris"), "a readable answer, got {text:?}");
        assert!(!text.contains('\u{FFFD}'), "valid text, got {text:?}");
    }
}
