//! Constrained decoding: while a generation is bound to a JSON Schema, only the tokens that keep
//! the output a valid prefix of a document the schema accepts may be sampled, so even a small
//! model cannot write JSON that does not parse or does not match. The grammar engine is
//! llguidance; it sees the vocabulary as bytes, with control tokens marked so that no text can
//! stand for them.

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{TokRxInfo, TokTrie, TokenId, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};

use crate::tokenizer::Tokenizer;

/// The vocabulary as llguidance sees it, built once per model.
pub(crate) struct Grammars {
    factory: ParserFactory,
}

/// The model's tokens as bytes, for llguidance.
struct Vocabulary {
    trie: TokTrie,
    tokenizer: Arc<Tokenizer>,
}

impl TokenizerEnv for Vocabulary {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, bytes: &[u8]) -> Vec<TokenId> {
        self.tokenizer.encode(&String::from_utf8_lossy(bytes))
    }
}

impl Grammars {
    /// Indexes the vocabulary of `tokenizer`; a reply ends with its end-of-sequence token.
    pub(crate) fn new(tokenizer: Arc<Tokenizer>) -> Result<Self, String> {
        let words = tokenizer.token_bytes();
        let vocab_size = u32::try_from(words.len()).map_err(|_| "the vocabulary is too large")?;
        let info = TokRxInfo::new(vocab_size, tokenizer.eos);
        let trie = TokTrie::from(&info, &words);
        let vocabulary: llguidance::toktrie::TokEnv = Arc::new(Vocabulary { trie, tokenizer });
        let mut factory = ParserFactory::new_simple(&vocabulary).map_err(|e| e.to_string())?;
        factory.set_stderr_log_level(0);
        Ok(Self { factory })
    }

    /// A constraint to documents `schema` (a JSON Schema) accepts.
    pub(crate) fn json(&self, schema: &serde_json::Value) -> Result<Constraint, String> {
        let parser = self
            .factory
            .create_parser(TopLevelGrammar::from_json_schema(schema.clone()))
            .map_err(|e| format!("the JSON Schema cannot constrain a reply: {e}"))?;
        Ok(Constraint(Matcher::new(Ok(parser))))
    }
}

/// One generation's constraint: what it allows next, given what was written.
pub(crate) struct Constraint(Matcher);

impl Constraint {
    /// Sets the logits of the tokens that may not come next to minus infinity: once the document
    /// is complete, only the end-of-sequence token is left.
    pub(crate) fn mask(&mut self, logits: &mut [f32]) -> Result<(), String> {
        let allowed = self.0.compute_mask_or_eos().map_err(|e| e.to_string())?;
        for (token, logit) in (0u32..).zip(logits.iter_mut()) {
            if !allowed.is_allowed(token) {
                *logit = f32::NEG_INFINITY;
            }
        }
        Ok(())
    }

    /// An independent copy in this state (of a constraint not yet advanced: a fresh one, without
    /// compiling the grammar again).
    pub(crate) fn fresh(&self) -> Self {
        Self(self.0.deep_clone())
    }

    /// Records the token that came next.
    pub(crate) fn advance(&mut self, token: u32) -> Result<(), String> {
        self.0.consume_token(token).map_err(|e| e.to_string())
    }

    /// The tokens that must come next, whatever the model would pick (the rest of a tool's name,
    /// a property's name and its quotes), recorded as come: they are written without asking the
    /// model, which reads them with the next token it picks.
    pub(crate) fn fast_forward(&mut self) -> Vec<u32> {
        self.0.consume_ff_tokens()
    }

    /// Whether what was written so far is a whole document (more may still be allowed, such as
    /// trailing spaces).
    pub(crate) fn accepting(&mut self) -> bool {
        self.0.is_stopped() || self.0.is_accepting().unwrap_or(false)
    }
}
