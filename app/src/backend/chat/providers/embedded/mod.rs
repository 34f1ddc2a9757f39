//! The embedded model: Gemma 3 270M from the GGUF file, run in-process with candle on the CPU,
//! so the app chats offline. It is small and pre-trained (not instruction-tuned): it continues
//! text more than it follows instructions.

mod tokenizer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_gemma3::ModelWeights;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{OnceCell, Semaphore, mpsc};

use self::tokenizer::{TextStream, Tokenizer};
use super::{ModelProvider, Prompt, ProviderError, ReplyEvent, ReplyStream};
use crate::protocol::{ModelInfo, Role, Usage};

/// The embedded model's id within its provider.
pub const EMBEDDED_MODEL: &str = "gemma-3-270m";
/// The provider's name, the prefix of its model id.
const PROVIDER: &str = "local";
/// Tokens of context a prompt and its reply may fill; older turns are dropped to fit.
const CONTEXT_TOKENS: usize = 4096;
/// Penalty on tokens repeated within the last [`REPEAT_WINDOW`]: small models loop without it.
const REPEAT_PENALTY: f32 = 1.15;
/// How many recent tokens the repeat penalty looks at.
const REPEAT_WINDOW: usize = 64;
/// Nucleus sampling: the smallest set of tokens holding this much probability.
const TOP_P: f64 = 0.95;

/// Gemma 3 270M, in-process.
#[derive(Clone, Debug)]
pub struct EmbeddedModel {
    inner: Arc<Embedded>,
}

#[derive(Debug)]
struct Embedded {
    path: PathBuf,
    loaded: OnceCell<Arc<Loaded>>,
    /// Generations running at once; the rest wait their turn.
    slots: Arc<Semaphore>,
}

struct Loaded {
    weights: ModelWeights,
    tokenizer: Tokenizer,
    start_of_turn: u32,
    end_of_turn: u32,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Loaded(gemma-3)")
    }
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
    async fn load(&self) -> Result<Arc<Loaded>, ProviderError> {
        self.loaded
            .get_or_try_init(|| async {
                let path = self.path.clone();
                let started = Instant::now();
                let loaded = tokio::task::spawn_blocking(move || Loaded::read(&path))
                    .await
                    .map_err(|e| ProviderError::Model(e.to_string()))??;
                tracing::info!("embedded chat model loaded in {:?}", started.elapsed());
                Ok(Arc::new(loaded))
            })
            .await
            .cloned()
    }
}

impl Loaded {
    fn read(path: &std::path::Path) -> Result<Self, ProviderError> {
        let fail = |e: &dyn std::fmt::Display| ProviderError::Model(format!("{}: {e}", path.display()));
        let mut file = std::fs::File::open(path).map_err(|e| fail(&e))?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| fail(&e))?;
        let tokenizer = Tokenizer::from_gguf(&content).map_err(|e| fail(&e))?;
        let control =
            |piece: &str| tokenizer.control(piece).ok_or_else(|| fail(&format!("no `{piece}` token")));
        let (start_of_turn, end_of_turn) = (control("<start_of_turn>")?, control("<end_of_turn>")?);
        let weights = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).map_err(|e| fail(&e))?;
        Ok(Self { weights, tokenizer, start_of_turn, end_of_turn })
    }

    /// Gemma's chat template, as tokens: `<start_of_turn>user\n…<end_of_turn>\n` per turn (the
    /// system prompt leads the first user turn), then `<start_of_turn>model\n`. The oldest turns
    /// are dropped when the prompt would not leave room for the reply.
    fn prompt_tokens(&self, prompt: &Prompt) -> Vec<u32> {
        let turn = |role: &str, text: &str| {
            let mut tokens = vec![self.start_of_turn];
            tokens.extend(self.tokenizer.encode(&format!("{role}\n{}", text.trim())));
            tokens.push(self.end_of_turn);
            tokens.extend(self.tokenizer.encode("\n"));
            tokens
        };
        let opening = {
            let mut tokens = vec![self.start_of_turn];
            tokens.extend(self.tokenizer.encode("model\n"));
            tokens
        };
        let system = prompt.system.trim();
        let budget = CONTEXT_TOKENS.saturating_sub(prompt.max_tokens as usize).max(256);
        let mut turns: Vec<Vec<u32>> = Vec::new();
        let mut used = 1 + opening.len();
        for (index, (role, text)) in prompt.turns.iter().enumerate().rev() {
            let text = match (index, role) {
                (0, Role::User) if !system.is_empty() => format!("{system}\n\n{text}"),
                _ => text.clone(),
            };
            let tokens = turn(if *role == Role::Assistant { "model" } else { "user" }, &text);
            if used + tokens.len() > budget && !turns.is_empty() {
                break;
            }
            used += tokens.len();
            turns.push(tokens);
        }
        let mut tokens = vec![self.tokenizer.bos];
        tokens.extend(turns.into_iter().rev().flatten());
        tokens.extend(opening);
        tokens
    }

    /// Generates a reply, sending each piece of text as it is decoded. Runs on a blocking
    /// thread; returns early when the receiver is gone (the user stopped the reply).
    fn generate(&self, prompt: &Prompt, replies: &mpsc::Sender<Result<ReplyEvent, ProviderError>>) {
        let result = self.try_generate(prompt, replies);
        if let Err(e) = result {
            let _ = replies.blocking_send(Err(ProviderError::Model(e.to_string())));
        }
    }

    fn try_generate(
        &self,
        prompt: &Prompt,
        replies: &mpsc::Sender<Result<ReplyEvent, ProviderError>>,
    ) -> candle_core::Result<()> {
        let mut model = self.weights.clone();
        let tokens = self.prompt_tokens(prompt);
        let sampling = if prompt.temperature <= f32::EPSILON {
            Sampling::ArgMax
        } else {
            Sampling::TopP { p: TOP_P, temperature: f64::from(prompt.temperature) }
        };
        let mut sampler = LogitsProcessor::from_sampling(rand_seed(), sampling);
        let mut text = TextStream::default();
        let mut generated: Vec<u32> = Vec::new();
        let stops = [self.tokenizer.eos, self.end_of_turn, self.start_of_turn];
        let input = Tensor::new(tokens.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
        let mut logits = model.forward(&input, 0)?;
        let mut finish_reason = "length";
        while generated.len() < prompt.max_tokens as usize {
            let last = logits.squeeze(0)?;
            let recent = &generated[generated.len().saturating_sub(REPEAT_WINDOW)..];
            let last = candle_transformers::utils::apply_repeat_penalty(&last, REPEAT_PENALTY, recent)?;
            let next = sampler.sample(&last)?;
            if stops.contains(&next) {
                finish_reason = "stop";
                break;
            }
            generated.push(next);
            let piece = text.push(&self.tokenizer, next);
            if !piece.is_empty() && replies.blocking_send(Ok(ReplyEvent::Delta(piece))).is_err() {
                return Ok(());
            }
            let input = Tensor::new(&[next], &Device::Cpu)?.unsqueeze(0)?;
            logits = model.forward(&input, tokens.len() + generated.len() - 1)?;
        }
        let usage = Usage {
            prompt_tokens: u32::try_from(tokens.len()).unwrap_or(u32::MAX),
            completion_tokens: u32::try_from(generated.len()).unwrap_or(u32::MAX),
        };
        let _ = replies.blocking_send(Ok(ReplyEvent::Done {
            finish_reason: Some(finish_reason.into()),
            usage: Some(usage),
        }));
        Ok(())
    }
}

/// A seed for sampling that differs between replies.
fn rand_seed() -> u64 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    nanos as u64
}

impl ModelProvider for EmbeddedModel {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn kind(&self) -> &'static str {
        "embedded"
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
                loaded.generate(&prompt, &replies);
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
    fn the_tokenizer_round_trips_text_and_never_forges_control_tokens() {
        let mut file = std::fs::File::open(model_path()).expect("the set-up places the GGUF in models/");
        let content = gguf_file::Content::read(&mut file).unwrap();
        let tokenizer = Tokenizer::from_gguf(&content).unwrap();
        for text in
            ["Hello world", "  indented\n\ncode { x: 1 }", "naïve café 東京 🦀", "<start_of_turn>model"]
        {
            assert_eq!(tokenizer.decode(&tokenizer.encode(text)), text);
        }
        let start = tokenizer.control("<start_of_turn>").unwrap();
        assert!(!tokenizer.encode("<start_of_turn>model").contains(&start));
        // Common words are single tokens, as the model was trained on.
        assert_eq!(tokenizer.encode(" the").len(), 1);
        assert_eq!(tokenizer.encode("Hello").len(), 1);
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
        assert!(matches!(finish_reason.as_deref(), Some("stop" | "length")));
        assert!(usage.is_some_and(|u| u.prompt_tokens > 5 && u.completion_tokens > 0));
        let words = text.split_whitespace().filter(|w| w.chars().any(char::is_alphabetic)).count();
        assert!(words >= 2, "a readable answer, got {text:?}");
        assert!(!text.contains('\u{FFFD}'), "valid text, got {text:?}");
    }
}
