//! Byte-level byte-pair encoding (GPT-2's scheme, Qwen's pre-tokenizer), from the GGUF
//! vocabulary and merges, run by Hugging Face's `tokenizers`.

use std::collections::HashMap;

use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{SplitDelimiterBehavior, Tokenizer};

/// How Qwen2 splits text into words before merging (`tokenizer.ggml.pre = qwen2`, as in
/// llama.cpp): contractions, letter runs with one leading non-letter, single digits, punctuation
/// runs, newlines, spaces.
const QWEN2_WORDS: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A byte-level BPE vocabulary.
pub(super) struct BytePairs {
    tokenizer: Tokenizer,
    /// The byte each character of the byte-level alphabet stands for.
    bytes: HashMap<char, u8>,
}

impl std::fmt::Debug for BytePairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BytePairs")
    }
}

impl BytePairs {
    /// The vocabulary `pieces` (in the byte-level alphabet) and the ranked `merges` (`"a b"`),
    /// split into words as `pre` (the GGUF's pre-tokenizer name) says.
    pub(super) fn new(pieces: &[String], merges: &[String], pre: &str) -> Result<Self, String> {
        if pre != "qwen2" {
            return Err(format!("the `{pre}` pre-tokenizer is not supported (qwen2 is)"));
        }
        let vocab: Vocab = (0u32..).zip(pieces).map(|(id, piece)| (piece.clone(), id)).collect();
        let merges = merges
            .iter()
            .map(|merge| {
                merge
                    .split_once(' ')
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .ok_or_else(|| format!("a merge without a space: {merge:?}"))
            })
            .collect::<Result<_, _>>()?;
        let model = BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| e.to_string())?;
        let words =
            Split::new(SplitPattern::Regex(QWEN2_WORDS.to_owned()), SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| e.to_string())?;
        let mut tokenizer = Tokenizer::new(model);
        tokenizer.with_pre_tokenizer(Some(PreTokenizerWrapper::Sequence(Sequence::new(vec![
            PreTokenizerWrapper::Split(words),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, false)),
        ]))));
        Ok(Self { tokenizer, bytes: byte_alphabet() })
    }

    /// Appends the tokens of `text` (nothing special in it).
    pub(super) fn encode(&self, text: &str, tokens: &mut Vec<u32>) {
        if let Ok(encoding) = self.tokenizer.encode_fast(text, false) {
            tokens.extend_from_slice(encoding.get_ids());
        }
    }

    /// The bytes a normal piece (in the byte-level alphabet) stands for.
    pub(super) fn text_bytes(&self, piece: &str) -> Vec<u8> {
        piece.chars().filter_map(|c| self.bytes.get(&c).copied()).collect()
    }
}

/// GPT-2's byte-level alphabet, reversed: printable bytes stand for themselves, the others for
/// the characters from U+0100 on, in order.
fn byte_alphabet() -> HashMap<char, u8> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut next = 0x100;
    (0..=u8::MAX)
        .map(|byte| {
            if printable(byte) {
                (char::from(byte), byte)
            } else {
                next += 1;
                (char::from_u32(next - 1).unwrap_or_default(), byte)
            }
        })
        .collect()
}
