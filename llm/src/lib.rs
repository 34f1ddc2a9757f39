//! A language-model engine for the CPU: it reads a GGUF file (Gemma 3, Qwen2), splits text into
//! the model's tokens, renders a conversation with the model's own chat template, and generates
//! token by token with the usual sampling on candle's quantised kernels, optionally bound to a
//! JSON Schema or calling tools. It has no web or async dependencies: a caller runs a
//! [`Generation`] on a thread of its own and stops it by dropping it.
//!
//! ```no_run
//! let model = llm::Model::load("models/gemma-3-270m-q4_k_m.gguf".as_ref())?;
//! let prompt = model.tokenizer().encode_prompt("The capital of France is");
//! for token in model.generate(&prompt, llm::Sampling::greedy())?.take(16) {
//!     print!("{}", token?.text);
//! }
//! # Ok::<(), llm::Error>(())
//! ```
#![warn(missing_docs)]

pub mod chat;
mod constraint;
mod decoder;
mod prefixes;
mod sampling;
mod tokenizer;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use candle_core::quantized::gguf_file;

use self::chat::{ChatTemplate, Message, Tool, ToolCall};
use self::constraint::{Constraint, Grammars};
pub use self::decoder::Architecture;
use self::decoder::{Cache, Decoder};
pub use self::prefixes::PrefixCache;
use self::sampling::Sampler;
pub use self::sampling::Sampling;
use self::tokenizer::TextStream;
pub use self::tokenizer::Tokenizer;

/// What can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be read, or is not a GGUF model this engine runs.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A computation failed.
    #[error("the model failed: {0}")]
    Compute(#[from] candle_core::Error),
    /// A generation was asked to read no tokens.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// The model has no chat template (a pre-trained model), or it failed on the conversation.
    #[error("{0}")]
    Chat(String),
    /// A JSON Schema cannot constrain the output (it is not a schema, or uses what the grammar
    /// engine does not support), or the constraint failed.
    #[error("{0}")]
    Schema(String),
}

/// A model loaded from a GGUF file: weights, tokenizer, and the tokens that end a reply.
pub struct Model {
    name: String,
    decoder: Decoder,
    template: Option<ChatTemplate>,
    tokenizer: Arc<Tokenizer>,
    /// The vocabulary indexed for constrained decoding, on first use.
    grammars: OnceLock<Result<Grammars, String>>,
    /// Tokens that end a generation: end of sequence, end of turn, start of another turn.
    ends: Vec<u32>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Control tokens that end a reply when the model writes them (Gemma's and Qwen's turn marks).
const END_PIECES: [&str; 5] =
    ["<end_of_turn>", "<start_of_turn>", "<|im_end|>", "<|im_start|>", "<|endoftext|>"];

impl Model {
    /// Reads the model in the GGUF file at `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let fail = |message: &dyn std::fmt::Display| Error::File {
            path: path.display().to_string(),
            message: message.to_string(),
        };
        let mut file = std::fs::File::open(path).map_err(|e| fail(&e))?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| fail(&e))?;
        let tokenizer = Tokenizer::from_gguf(&content).map_err(|e| fail(&e))?;
        let decoder = Decoder::read(&content, &mut file).map_err(|e| fail(&e))?;
        let mut ends = vec![tokenizer.eos];
        ends.extend(END_PIECES.iter().filter_map(|piece| tokenizer.control(piece)));
        let text = |key: &str| content.metadata.get(key).and_then(|v| v.to_string().ok()).cloned();
        let template =
            text("tokenizer.chat_template").map(ChatTemplate::new).transpose().map_err(|e| fail(&e))?;
        Ok(Self {
            name: text("general.name").unwrap_or_default(),
            decoder,
            template,
            tokenizer: Arc::new(tokenizer),
            grammars: OnceLock::new(),
            ends,
        })
    }

    /// Whether the model has a chat template: instruction-tuned models do, pre-trained ones do
    /// not (they continue text).
    pub fn has_chat_template(&self) -> bool {
        self.template.is_some()
    }

    /// The prompt for a conversation, by the model's chat template, ending where the model's
    /// reply starts; `tools` are listed for the model as the template says.
    pub fn chat_prompt(&self, messages: &[Message], tools: &[Tool]) -> Result<Vec<u32>, Error> {
        let template = self
            .template
            .as_ref()
            .ok_or_else(|| Error::Chat(format!("{} has no chat template", self.name)))?;
        let mut tokens = self.tokenizer.encode_prompt("");
        tokens.extend(template.prompt(&self.tokenizer, messages, tools).map_err(Error::Chat)?);
        Ok(tokens)
    }

    /// The model's name, as its file gives it (`general.name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model's architecture.
    pub fn architecture(&self) -> Architecture {
        self.decoder.architecture()
    }

    /// Tokens of context the model was trained on: a prompt and its reply must fit.
    pub fn context_length(&self) -> usize {
        self.decoder.context_length()
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Starts a generation of the tokens that follow `prompt`, one per iteration, chosen by
    /// `sampling`. The prompt is read with the first token (the slow part of it), together with
    /// whatever the generation's set-up writes before the model's own first token (a required
    /// call's opening). It ends when the model writes an end token (end of sequence or of its
    /// turn), unless [`ignoring_ends`](Generation::ignoring_ends); take as many as a reply may
    /// have.
    pub fn generate(&self, prompt: &[u32], sampling: Sampling) -> Result<Generation<'_>, Error> {
        self.generate_after(None, prompt, sampling)
    }

    /// As [`generate`](Self::generate), reading only the part of `prompt` that an earlier
    /// generation of this model did not: `prefix` ([`Generation::into_prefix`]) holds what that
    /// one computed for its tokens, and the tokens `prompt` starts with are not read again (the
    /// next turn of a conversation reads only the new turn).
    pub fn generate_after(
        &self,
        prefix: Option<Prefix>,
        prompt: &[u32],
        sampling: Sampling,
    ) -> Result<Generation<'_>, Error> {
        if prompt.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        let (cache, reused) = match prefix {
            Some(Prefix { tokens, mut cache }) => {
                // At least the last token is read, for the logits of the next.
                let common =
                    tokens.iter().zip(prompt).take_while(|(a, b)| a == b).count().min(prompt.len() - 1);
                cache.truncate(common);
                (cache, common)
            }
            None => (self.decoder.cache(), 0),
        };
        Ok(Generation {
            model: self,
            prompt: prompt.to_vec(),
            reused,
            cache,
            logits: Vec::new(),
            sampler: Sampler::new(sampling),
            generated: Vec::new(),
            unread: prompt[reused..].to_vec(),
            ahead: std::collections::VecDeque::new(),
            text: TextStream::default(),
            constraint: None,
            calls: None,
            stop_at_ends: true,
            ended: false,
        })
    }

    /// A constraint to documents `schema` accepts, over this model's vocabulary (indexed once,
    /// on first use).
    fn constraint(&self, schema: &serde_json::Value) -> Result<Constraint, Error> {
        let grammars = self.grammars.get_or_init(|| Grammars::new(self.tokenizer.clone()));
        grammars.as_ref().map_err(|e| Error::Schema(e.clone()))?.json(schema).map_err(Error::Schema)
    }
}

/// One generated token and the reply text it completes: empty while a character is split
/// across tokens, and, in a generation with tools, while it may be the start of a tool call's
/// markup (a call's markup and JSON are not reply text; the call comes whole in `tool_call`).
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The token's id. The last token of a generation with tools may be the end token, when it
    /// releases text that was held back.
    pub id: u32,
    /// The text it adds to the reply.
    pub text: String,
    /// The tool call this token completes, if it does.
    pub tool_call: Option<ToolCall>,
}

/// Where a tool call opens in a reply: the template's tag, a fenced JSON block (what Qwen's
/// coder models write), or a bare JSON object as the first thing written; the call's JSON
/// follows.
const FENCE_OPENING: &str = "```json\n";
/// How a fenced call closes.
const FENCE_CLOSING: &str = "\n```";

/// A generation's tools: where calls open, the constraint their JSON follows (compiled once,
/// copied fresh for each call), and the call being written.
struct Calls {
    grammar: Constraint,
    /// Whether reply text other than white space was written since the last call.
    wrote: bool,
    /// Reply text not shown yet: it may be the start of a fence that opens a call.
    held: String,
    /// The call being written: its JSON so far, and the tokens that will close it.
    open: Option<(String, Vec<u32>)>,
    /// Tokens written for the model before it goes on: a call's closing.
    forced: std::collections::VecDeque<u32>,
}

impl Calls {
    /// Adds reply text; returns what can be shown now, and whether a fence opened a call.
    fn push_text(&mut self, text: &str) -> (String, bool) {
        self.held.push_str(text);
        if let Some(before) = self.held.strip_suffix(FENCE_OPENING) {
            let shown = before.to_owned();
            self.held.clear();
            return (shown, true);
        }
        let keep = (1..=self.held.len().min(FENCE_OPENING.len()))
            .rev()
            .filter(|&n| self.held.is_char_boundary(self.held.len() - n))
            .find(|&n| FENCE_OPENING.starts_with(&self.held[self.held.len() - n..]))
            .unwrap_or(0);
        let shown: String = self.held.drain(..self.held.len() - keep).collect();
        self.wrote |= !shown.trim().is_empty();
        (shown, false)
    }
}

/// What a generation computed for the tokens it read and wrote, to start the next generation of
/// the same model sooner ([`Model::generate_after`]).
pub struct Prefix {
    tokens: Vec<u32>,
    cache: Cache,
}

impl std::fmt::Debug for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefix").field("tokens", &self.tokens.len()).finish_non_exhaustive()
    }
}

/// A generation in progress: an iterator over the tokens of the reply. Dropping it stops it.
pub struct Generation<'m> {
    model: &'m Model,
    /// The prompt, and how many of its first tokens an earlier generation had read.
    prompt: Vec<u32>,
    reused: usize,
    cache: Cache,
    /// The logits of the next token, once the last one has been read.
    logits: Vec<f32>,
    sampler: Sampler,
    generated: Vec<u32>,
    /// Tokens the model has not read yet: the prompt's (past those reused) until the first
    /// token, then those generated since the last step.
    unread: Vec<u32>,
    /// Tokens the constraint forces next, written without asking the model.
    ahead: std::collections::VecDeque<u32>,
    text: TextStream,
    /// Bound to a JSON Schema: only tokens that keep the output valid may come next.
    constraint: Option<Constraint>,
    /// The tools the model may call.
    calls: Option<Calls>,
    stop_at_ends: bool,
    ended: bool,
}

impl Generation<'_> {
    /// Binds the output to `schema` (a JSON Schema): the reply is a JSON document it accepts,
    /// and ends when the document does.
    pub fn following_schema(mut self, schema: &serde_json::Value) -> Result<Self, Error> {
        self.constraint = Some(forcing(self.model.constraint(schema)?, &mut self.ahead));
        Ok(self)
    }

    /// Lets the model call `tools` (listed in its prompt by [`Model::chat_prompt`]). Where a call
    /// opens (the template's `<tool_call>` tag, a fenced JSON block, or a JSON object the reply
    /// starts with), its JSON is bound to the tools' names and argument schemas, so every call
    /// parses and names a tool with the arguments it takes; the token that completes it carries
    /// the [`ToolCall`], and the call is closed for the model, which then goes on.
    pub fn with_tools(mut self, tools: &[Tool]) -> Result<Self, Error> {
        self.calls = Some(Calls {
            grammar: self.model.constraint(&chat::call_schema(tools))?,
            wrote: false,
            held: String::new(),
            open: None,
            forced: std::collections::VecDeque::new(),
        });
        Ok(self)
    }

    /// Makes the reply a call of one of the tools given to [`Generation::with_tools`] from its
    /// first token (OpenAI's `tool_choice: "required"`): the call's opening, and as much of its
    /// JSON as every call begins with, are written for the model (read with the prompt), and its
    /// JSON is bound to the tools at once.
    pub fn calling_first(mut self) -> Self {
        let tokenizer = &self.model.tokenizer;
        let Some(calls) = &mut self.calls else { return self };
        let closing = match tokenizer.user_defined("<tool_call>") {
            Some(opening) => {
                calls.forced.push_back(opening);
                tokenizer.user_defined("</tool_call>").into_iter().collect()
            }
            None => Vec::new(),
        };
        calls.open = Some((String::new(), closing));
        self.constraint = Some(forcing(calls.grammar.fresh(), &mut self.ahead));
        self
    }

    /// Carries on past end tokens (to measure speed over a fixed number of tokens).
    pub fn ignoring_ends(mut self) -> Self {
        self.stop_at_ends = false;
        self
    }

    /// The tokens generated so far.
    pub fn generated(&self) -> &[u32] {
        &self.generated
    }

    /// How many tokens the prompt starts with that an earlier generation had read (none
    /// were read again).
    pub fn reused(&self) -> usize {
        self.reused
    }

    /// Ends the generation, keeping what it computed for the next ([`Model::generate_after`]).
    pub fn into_prefix(self) -> Prefix {
        let mut tokens = self.prompt;
        tokens.extend(self.generated);
        // The last token written is read only when the next one is asked for.
        tokens.truncate(self.cache.positions());
        Prefix { tokens, cache: self.cache }
    }

    fn step(&mut self) -> Result<Option<Token>, Error> {
        if let Some(id) = self.calls.as_mut().and_then(|calls| calls.forced.pop_front()) {
            // A call's opening or closing: markup, not reply text.
            self.generated.push(id);
            self.unread.push(id);
            self.text.push(&self.model.tokenizer, id);
            return Ok(Some(Token { id, text: String::new(), tool_call: None }));
        }
        if let Some(id) = self.ahead.pop_front() {
            return self.write(id).map(Some);
        }
        if !self.unread.is_empty() {
            // The tokens written since the model last read (or the prompt), in one pass.
            self.logits = self.model.decoder.forward(&self.unread, &mut self.cache)?;
            self.unread.clear();
        }
        if let Some(constraint) = &mut self.constraint {
            constraint.mask(&mut self.logits).map_err(Error::Schema)?;
        }
        let id = self.sampler.next(&mut self.logits, &self.generated);
        if self.stop_at_ends && self.model.ends.contains(&id) {
            // The reply ends: text held back is reply text after all.
            let held = self.calls.as_mut().map(|calls| std::mem::take(&mut calls.held)).unwrap_or_default();
            return Ok((!held.is_empty()).then(|| {
                self.ended = true;
                Token { id, text: held, tool_call: None }
            }));
        }
        if let Some(constraint) = &mut self.constraint {
            constraint.advance(id).map_err(Error::Schema)?;
            self.ahead.extend(constraint.fast_forward());
        }
        self.write(id).map(Some)
    }

    /// Adds token `id` to the reply (the model reads it before it picks the next one).
    fn write(&mut self, id: u32) -> Result<Token, Error> {
        self.generated.push(id);
        self.unread.push(id);
        let text = self.text.push(&self.model.tokenizer, id);
        match self.calls.is_some() {
            true => self.follow_calls(id, text),
            false => Ok(Token { id, text, tool_call: None }),
        }
    }

    /// Tool calling after token `id` (which added `text`): opens a call where one starts, and
    /// carries the call it completes (then queues its closing). A call's markup and JSON are not
    /// reply text.
    fn follow_calls(&mut self, id: u32, text: String) -> Result<Token, Error> {
        let tokenizer = &self.model.tokenizer;
        let Some(calls) = &mut self.calls else { return Ok(Token { id, text, tool_call: None }) };
        let markup = |shown: String| Token { id, text: shown, tool_call: None };
        if let Some((json, closing)) = &mut calls.open {
            json.push_str(&text);
            let complete = self.constraint.as_mut().is_some_and(Constraint::accepting);
            let Some(call) = complete.then(|| serde_json::from_str::<ToolCall>(json).ok()).flatten() else {
                return Ok(markup(String::new()));
            };
            calls.forced.extend(closing.drain(..));
            calls.open = None;
            calls.wrote = false;
            self.constraint = None;
            return Ok(Token { id, text: String::new(), tool_call: Some(call) });
        }
        if !calls.wrote && calls.held.is_empty() && text.trim_start().starts_with('{') {
            // A bare JSON object as the first thing written: the call has begun with this token.
            let mut constraint = calls.grammar.fresh();
            if constraint.advance(id).is_ok() {
                calls.open = Some((text, Vec::new()));
                self.constraint = Some(forcing(constraint, &mut self.ahead));
                return Ok(markup(String::new()));
            }
        }
        if tokenizer.user_defined("<tool_call>") == Some(id) {
            let shown = std::mem::take(&mut calls.held);
            calls.open = Some((String::new(), tokenizer.user_defined("</tool_call>").into_iter().collect()));
            self.constraint = Some(forcing(calls.grammar.fresh(), &mut self.ahead));
            return Ok(markup(shown));
        }
        let (shown, fenced) = calls.push_text(&text);
        if fenced {
            calls.open = Some((String::new(), tokenizer.encode(FENCE_CLOSING)));
            self.constraint = Some(forcing(calls.grammar.fresh(), &mut self.ahead));
        }
        Ok(markup(shown))
    }
}

/// `constraint`, once the tokens it forces from where it stands are queued on `ahead` (written
/// without asking the model).
fn forcing(mut constraint: Constraint, ahead: &mut std::collections::VecDeque<u32>) -> Constraint {
    ahead.extend(constraint.fast_forward());
    constraint
}

impl Iterator for Generation<'_> {
    type Item = Result<Token, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let step = self.step().transpose();
        self.ended |= !matches!(step, Some(Ok(_)));
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Tool;

    /// The Gemma 3 270M file the project's set-up places in `models/`.
    pub(crate) fn gemma_path() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/gemma-3-270m-q4_k_m.gguf")
    }

    /// The Qwen2.5 Coder 0.5B Instruct file the project's set-up places in `models/`.
    pub(crate) fn qwen_path() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    }

    /// Gemma, loaded once for all the tests.
    fn gemma() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| Model::load(&gemma_path()).expect("the set-up places the GGUF in models/"))
    }

    /// Qwen 0.5B, loaded once for all the tests.
    fn qwen() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| Model::load(&qwen_path()).expect("the set-up places the GGUF in models/"))
    }

    #[test]
    fn the_network_picks_llama_cpp_s_tokens_wherever_llama_cpp_is_clear() {
        let model = gemma();
        // Prompts as llama.cpp splits them, and its greedy continuation with the same GGUF: each
        // token with how far its logit is above the next best one, in hundredths. Fed the same
        // tokens, this engine's best token must be llama.cpp's wherever llama.cpp's is ahead by
        // half a logit or more (the two programs' rounding differs by up to that much).
        type Continuation = &'static [(u32, u32)];
        let cases: [(&[u32], Continuation); 2] = [
            (
                &[2, 818, 5279, 529, 7001, 563], // "The capital of France is"
                &[
                    (506, 51),
                    (5279, 182),
                    (529, 264),
                    (506, 67),
                    (2891, 3),
                    (529, 31),
                    (7001, 63),
                    (236761, 87),
                    (1030, 57),
                    (563, 230),
                    (506, 57),
                    (7488, 3),
                    (3207, 206),
                    (528, 268),
                    (7001, 32),
                    (236761, 11),
                    (1030, 106),
                    (563, 186),
                    (506, 12),
                    (5279, 25),
                ],
            ),
            (
                &[2, 2063, 10779, 78113, 236769, 236749, 1473], // "def fibonacci(n):"
                &[
                    (107, 120),
                    (140, 303),
                    (584, 129),
                    (538, 390),
                    (1251, 17),
                    (236743, 426),
                    (236771, 96),
                    (236787, 27),
                    (107, 450),
                    (144, 653),
                    (2060, 162),
                    (236743, 232),
                    (236771, 229),
                    (107, 268),
                    (140, 628),
                    (36208, 45),
                    (538, 772),
                    (1251, 363),
                    (236743, 648),
                    (236770, 1028),
                ],
            ),
        ];
        let mut checked = 0;
        for (prompt, continuation) in cases {
            assert_eq!(model.tokenizer().encode_prompt(&model.tokenizer().decode(&prompt[1..])), prompt);
            let mut cache = model.decoder.cache();
            let mut logits = model.decoder.forward(prompt, &mut cache).unwrap();
            for &(expected, margin) in continuation {
                let best = (0u32..).zip(&logits).max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
                if margin >= 50 {
                    assert_eq!(best, expected, "after {checked} tokens checked");
                    checked += 1;
                }
                logits = model.decoder.forward(&[expected], &mut cache).unwrap();
            }
        }
        assert_eq!(checked, 30);
    }

    #[test]
    fn a_generation_streams_valid_text_and_stops_where_asked() {
        let model = gemma();
        assert!(matches!(model.generate(&[], Sampling::greedy()), Err(Error::EmptyPrompt)));
        let prompt = model.tokenizer().encode_prompt("Café, naïve, 東京:");
        let sampling = Sampling { temperature: 0.8, top_p: 0.95, repeat_penalty: 1.1, seed: 7 };
        let mut generation = model.generate(&prompt, sampling).unwrap().ignoring_ends();
        let text: String = generation.by_ref().take(40).map(|token| token.unwrap().text).collect();
        assert_eq!(generation.generated().len(), 40);
        assert!(!text.contains('\u{FFFD}'), "whole characters only: {text:?}");
        assert_eq!(text, model.tokenizer().decode(generation.generated()), "the pieces add up to the text");
    }

    #[test]
    fn qwen_continues_text_as_llama_cpp_does_on_the_same_file() {
        let model = qwen();
        // llama.cpp's greedy continuations of the same prompts with the same GGUF (the first
        // stops before a near tie: after " Paris." llama.cpp's logits for " The" and " Paris"
        // are 0.08 apart, which the two programs' rounding decides differently).
        let expected = [
            ("The capital of France is", " Paris."),
            (
                "def fibonacci(n):",
                "\n    if n <= 0:\n        return \"Invalid input\"\n    elif n == 1:\n        return ",
            ),
        ];
        for (prompt, continuation) in expected {
            let prompt = model.tokenizer().encode_prompt(prompt);
            let tokens: Vec<u32> = model
                .generate(&prompt, Sampling::greedy())
                .unwrap()
                .ignoring_ends()
                .take(if continuation.starts_with(' ') { 2 } else { 24 })
                .map(|token| token.unwrap().id)
                .collect();
            assert_eq!(model.tokenizer().decode(&tokens), continuation);
        }
    }

    #[test]
    fn qwen_answers_a_question_in_its_chat_format() {
        let model = qwen();
        assert_eq!((model.architecture(), model.context_length()), (Architecture::Qwen2, 32_768));
        let question = "What is the capital of France? Answer in one word.";
        let prompt = model.chat_prompt(&[Message::new(chat::Role::User, question)], &[]).unwrap();
        let expected = model.tokenizer().encode_with_controls(&format!(
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n\
             <|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
        ));
        assert_eq!(prompt, expected, "the template's own format");
        let reply: String = model
            .generate(&prompt, Sampling::greedy())
            .unwrap()
            .take(8)
            .map(|token| token.unwrap().text)
            .collect();
        assert_eq!(reply, "Paris");
    }

    #[test]
    fn a_reply_bound_to_a_schema_is_a_document_the_schema_accepts() {
        let model = qwen();
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "population_millions": {"type": "number"},
                "landmarks": {"type": "array", "items": {"type": "string"}, "maxItems": 3}
            },
            "required": ["city", "population_millions", "landmarks"],
            "additionalProperties": false
        });
        let question = "Tell me about the capital of France.";
        let prompt = model.chat_prompt(&[Message::new(chat::Role::User, question)], &[]).unwrap();
        // Sampled, at a high temperature: the constraint, not luck, keeps the output valid.
        let sampling = Sampling { temperature: 1.2, top_p: 1.0, repeat_penalty: 1.0, seed: 3 };
        let generation = model.generate(&prompt, sampling).unwrap().following_schema(&schema).unwrap();
        let text: String = generation.take(200).map(|token| token.unwrap().text).collect();
        let reply: serde_json::Value = serde_json::from_str(&text).expect("the reply parses");
        let keys: Vec<&str> = reply.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 3, "{text}");
        assert!(reply["city"].is_string() && reply["population_millions"].is_number(), "{text}");
        assert!(
            reply["landmarks"].as_array().is_some_and(|l| l.len() <= 3 && l.iter().all(|v| v.is_string()))
        );
        let not_a_schema = serde_json::json!({"type": "no such type"});
        let error = model.generate(&prompt, Sampling::greedy()).unwrap().following_schema(&not_a_schema);
        assert!(matches!(error, Err(Error::Schema(_))));
    }

    #[test]
    fn tool_calls_parse_and_name_a_tool_with_its_arguments() {
        let model = qwen();
        let tools = [
            Tool {
                name: "get_weather".into(),
                description: "The current weather in a city".into(),
                parameters: serde_json::json!({
                    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]
                }),
            },
            Tool {
                name: "count_events".into(),
                description: "How many times the cameras saw a label in the last hours".into(),
                parameters: serde_json::json!({
                    "type": "object",
                    "properties": {"label": {"type": "string"}, "hours": {"type": "integer"}},
                    "required": ["label", "hours"]
                }),
            },
        ];
        let cases = [
            ("What's the weather in Paris?", "get_weather", "city"),
            ("How many cats did the cameras see in the last 24 hours?", "count_events", "label"),
        ];
        // Greedy, and sampled hot (the constraint, not luck, keeps each call well-formed).
        let hot = Sampling { temperature: 1.0, top_p: 1.0, repeat_penalty: 1.0, seed: 11 };
        for sampling in [Sampling::greedy(), hot] {
            for (question, tool, key) in cases {
                let prompt = model.chat_prompt(&[Message::new(chat::Role::User, question)], &tools).unwrap();
                let mut generation = model.generate(&prompt, sampling).unwrap().with_tools(&tools).unwrap();
                let mut shown = String::new();
                let call = generation.by_ref().take(60).find_map(|token| {
                    let token = token.unwrap();
                    shown.push_str(&token.text);
                    token.tool_call
                });
                let text = model.tokenizer().decode(generation.generated());
                let call = call.unwrap_or_else(|| panic!("a call expected: {text}"));
                assert!(
                    !shown.contains("```") && !shown.contains('{'),
                    "the call is not reply text: {shown:?}"
                );
                assert!(tools.iter().any(|t| t.name == call.name), "{text}");
                if sampling == Sampling::greedy() {
                    assert_eq!(call.name, tool, "{text}");
                    assert!(call.arguments.get(key).is_some(), "{text}");
                }
            }
        }
    }

    #[test]
    fn text_that_may_open_a_fenced_call_is_held_until_it_is_clear() {
        let mut calls = Calls {
            grammar: qwen().constraint(&serde_json::json!({"type": "object"})).unwrap(),
            wrote: false,
            held: String::new(),
            open: None,
            forced: Default::default(),
        };
        assert_eq!(calls.push_text("Here:\n``"), ("Here:\n".into(), false));
        assert_eq!(calls.push_text("`js"), (String::new(), false), "still possibly a fence");
        assert_eq!(calls.push_text("on\n"), (String::new(), true), "a fence opens a call; it is not shown");
        assert_eq!(calls.push_text("```rust\nfn"), ("```rust\nfn".into(), false), "another fence is text");
    }

    #[test]
    fn a_conversation_s_next_turn_reads_only_what_is_new_and_answers_the_same() {
        let model = qwen();
        let first = [Message::new(chat::Role::User, "What is the capital of France?")];
        let prompt = model.chat_prompt(&first, &[]).unwrap();
        let mut generation = model.generate(&prompt, Sampling::greedy()).unwrap();
        let reply: String = generation.by_ref().map(|token| token.unwrap().text).collect();
        let prefix = generation.into_prefix();
        let next = [
            first[0].clone(),
            Message::new(chat::Role::Assistant, reply),
            Message::new(chat::Role::User, "And of Italy?"),
        ];
        let prompt = model.chat_prompt(&next, &[]).unwrap();
        let fresh: Vec<u32> =
            model.generate(&prompt, Sampling::greedy()).unwrap().take(12).map(|t| t.unwrap().id).collect();
        let mut reusing = model.generate_after(Some(prefix), &prompt, Sampling::greedy()).unwrap();
        assert!(
            reusing.reused() > prompt.len() / 2,
            "{} of {} tokens reused",
            reusing.reused(),
            prompt.len()
        );
        let reused: Vec<u32> = reusing.by_ref().take(12).map(|t| t.unwrap().id).collect();
        assert_eq!(model.tokenizer().decode(&reused), model.tokenizer().decode(&fresh));
        // A prompt that shares nothing reads everything.
        let other = model.tokenizer().encode_prompt("Once upon a time");
        let unrelated =
            model.generate_after(Some(reusing.into_prefix()), &other, Sampling::greedy()).unwrap();
        assert_eq!(unrelated.reused(), 0);
    }

    #[test]
    fn conversations_that_begin_alike_share_what_was_computed_within_the_budget() {
        let model = qwen();
        let instructions =
            "You answer questions about the user's security cameras, in one short sentence. ".repeat(6);
        let system = Message::new(chat::Role::System, instructions);
        let ask = |question: &str| {
            model.chat_prompt(&[system.clone(), Message::new(chat::Role::User, question)], &[]).unwrap()
        };
        let (first, second) = (ask("How many cats are there?"), ask("Which camera saw a dog?"));
        let mut cache = PrefixCache::new(64 << 20);
        assert!(cache.lookup(&first).is_none(), "an empty cache has nothing to share");
        let mut generation = model.generate(&first, Sampling::greedy()).unwrap();
        generation.by_ref().take(4).for_each(drop);
        cache.keep(generation.into_prefix());
        // Another conversation with the same instructions reads only its own question, and
        // answers as if it had read everything.
        let shared = cache.lookup(&second).expect("the instructions are shared");
        let fresh: Vec<u32> =
            model.generate(&second, Sampling::greedy()).unwrap().take(8).map(|t| t.unwrap().id).collect();
        let mut reusing = model.generate_after(Some(shared), &second, Sampling::greedy()).unwrap();
        let common = first.iter().zip(&second).take_while(|(a, b)| a == b).count();
        assert_eq!(reusing.reused(), common);
        let reused: Vec<u32> = reusing.by_ref().take(8).map(|t| t.unwrap().id).collect();
        assert_eq!(reused, fresh);
        assert_eq!(cache.len(), 2, "the first conversation stays, and the beginning they share is kept");
        cache.keep(reusing.into_prefix());
        assert_eq!(cache.len(), 3);
        // A conversation's next turn replaces the prefix it extends.
        let mut next = model.generate_after(cache.lookup(&second), &second, Sampling::greedy()).unwrap();
        next.by_ref().take(12).for_each(drop);
        cache.keep(next.into_prefix());
        assert_eq!(cache.len(), 3, "{cache:?}");
        let third = ask("What did the door see?");
        assert_eq!(cache.lookup(&third).map(|p| p.tokens.len()), Some(common), "from the shared beginning");
        // Over the budget, the least recently used go first.
        let read = |prompt: &[u32]| {
            let mut generation = model.generate(prompt, Sampling::greedy()).unwrap();
            generation.next();
            generation.into_prefix()
        };
        let mut measure = PrefixCache::new(usize::MAX);
        measure.keep(read(&first));
        let budget = measure.bytes() * 3 / 2;
        let mut small = PrefixCache::new(budget);
        small.keep(read(&first));
        small.keep(read(&second));
        assert_eq!(small.len(), 1);
        assert!(small.bytes() <= budget);
        assert_eq!(small.lookup(&second).map(|p| p.tokens.len()), Some(second.len()), "the latest is kept");
    }

    #[test]
    fn a_missing_or_foreign_file_is_a_clear_error() {
        let missing = Model::load(Path::new("/no/such/model.gguf")).unwrap_err();
        assert!(missing.to_string().starts_with("/no/such/model.gguf: "), "{missing}");
        let cargo_toml = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert!(matches!(Model::load(&cargo_toml), Err(Error::File { .. })));
    }
}
