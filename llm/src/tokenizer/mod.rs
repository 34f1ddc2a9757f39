//! The model's tokenizer, built from the GGUF file's metadata (`tokenizer.ggml.*`):
//! SentencePiece (`llama`, Gemma's) or byte-level BPE (`gpt2`, Qwen's). User-defined pieces
//! (Gemma's whitespace runs, Qwen's `<tool_call>`) are matched in text first, as llama.cpp does.
//! Control tokens (`<start_of_turn>`, `<|im_start|>`) are never produced from text by
//! [`Tokenizer::encode`], so what a user types cannot forge a turn; only
//! [`Tokenizer::encode_with_controls`], for the text of a chat template, produces them.

mod bpe;
mod sentencepiece;

use std::collections::HashMap;

use candle_core::quantized::gguf_file::{Content, Value};

use self::bpe::BytePairs;
use self::sentencepiece::SentencePiece;

/// Token types, as GGUF numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl Kind {
    fn from_gguf(value: i64) -> Self {
        match value {
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => Self::Normal,
        }
    }
}

/// How normal text becomes tokens.
#[derive(Debug)]
enum Vocabulary {
    SentencePiece(SentencePiece),
    BytePairs(Box<BytePairs>),
}

/// A model's tokenizer.
#[derive(Debug)]
pub struct Tokenizer {
    vocabulary: Vocabulary,
    pieces: Vec<String>,
    kinds: Vec<Kind>,
    /// User-defined pieces, longest first: matched in text before the vocabulary's encoding.
    user_defined: Vec<(String, u32)>,
    /// Control pieces by text.
    control: HashMap<String, u32>,
    /// Control pieces, longest first, for chat templates.
    control_by_length: Vec<(String, u32)>,
    /// The beginning-of-sequence token.
    pub bos: u32,
    /// The end-of-sequence token.
    pub eos: u32,
    /// Whether a prompt from scratch starts with [`bos`](Self::bos).
    add_bos: bool,
}

impl Tokenizer {
    /// Reads the vocabulary from a GGUF file's metadata.
    pub(crate) fn from_gguf(content: &Content) -> Result<Self, String> {
        let get = |key: &str| content.metadata.get(key).ok_or_else(|| format!("the GGUF has no `{key}`"));
        let list = |key: &str| get(key)?.to_vec().map_err(|e| format!("`{key}`: {e}"));
        let strings = |key: &str| -> Result<Vec<String>, String> {
            list(key)?.iter().map(|v| v.to_string().cloned().map_err(|e| e.to_string())).collect()
        };
        let number = |value: &Value| -> Option<i64> {
            match value {
                Value::I32(n) => Some(i64::from(*n)),
                Value::U32(n) => Some(i64::from(*n)),
                Value::I64(n) => Some(*n),
                Value::U8(n) => Some(i64::from(*n)),
                _ => None,
            }
        };
        let pieces = strings("tokenizer.ggml.tokens")?;
        let kinds: Vec<Kind> = list("tokenizer.ggml.token_type")?
            .iter()
            .map(|v| Kind::from_gguf(number(v).unwrap_or(1)))
            .collect();
        if kinds.len() != pieces.len() || u32::try_from(pieces.len()).is_err() {
            return Err("the GGUF's token and type lists differ in length".into());
        }
        let vocabulary = match get("tokenizer.ggml.model")?.to_string().map_err(|e| e.to_string())?.as_str() {
            "llama" => {
                let scores: Vec<f32> =
                    list("tokenizer.ggml.scores")?.iter().map(|v| v.to_f32().unwrap_or(0.0)).collect();
                if scores.len() != pieces.len() {
                    return Err("the GGUF's token and score lists differ in length".into());
                }
                Vocabulary::SentencePiece(SentencePiece::new(&pieces, &kinds, scores))
            }
            "gpt2" => {
                let pre = get("tokenizer.ggml.pre")?.to_string().map_err(|e| e.to_string())?;
                Vocabulary::BytePairs(Box::new(BytePairs::new(
                    &pieces,
                    &strings("tokenizer.ggml.merges")?,
                    pre,
                )?))
            }
            other => return Err(format!("the `{other}` tokenizer is not supported (llama and gpt2 are)")),
        };
        let id = |key: &str| get(key).ok().and_then(number).and_then(|n| u32::try_from(n).ok());
        let flag = |key: &str| get(key).ok().and_then(|v| v.to_bool().ok());
        let with_kind = |wanted: Kind| {
            let mut found: Vec<(String, u32)> = (0u32..)
                .zip(&pieces)
                .zip(&kinds)
                .filter(|(_, kind)| **kind == wanted)
                .map(|((id, piece), _)| (piece.clone(), id))
                .collect();
            found.sort_by_key(|(piece, _)| std::cmp::Reverse(piece.len()));
            found
        };
        let control_by_length = with_kind(Kind::Control);
        Ok(Self {
            vocabulary,
            bos: id("tokenizer.ggml.bos_token_id").ok_or("the GGUF names no BOS token")?,
            eos: id("tokenizer.ggml.eos_token_id").ok_or("the GGUF names no EOS token")?,
            add_bos: flag("tokenizer.ggml.add_bos_token").unwrap_or(true),
            user_defined: with_kind(Kind::UserDefined),
            control: control_by_length.iter().cloned().collect(),
            control_by_length,
            pieces,
            kinds,
        })
    }

    /// The id of a control token such as `<start_of_turn>`.
    pub fn control(&self, piece: &str) -> Option<u32> {
        self.control.get(piece).copied()
    }

    /// The id of a user-defined token such as `<tool_call>`.
    pub fn user_defined(&self, piece: &str) -> Option<u32> {
        self.user_defined.iter().find(|(text, _)| text == piece).map(|&(_, id)| id)
    }

    /// How many tokens the vocabulary has.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether the vocabulary is empty (never, for a model that loaded).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The tokens of `text` as a prompt from scratch: after the beginning-of-sequence token if
    /// the model wants one.
    pub fn encode_prompt(&self, text: &str) -> Vec<u32> {
        let mut tokens = if self.add_bos { vec![self.bos] } else { Vec::new() };
        tokens.extend(self.encode(text));
        tokens
    }

    /// Splits text into tokens (no BOS; control tokens are never produced).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut tokens = Vec::new();
        split_on(text, &self.user_defined, &mut tokens, |plain, tokens| match &self.vocabulary {
            Vocabulary::SentencePiece(pieces) => pieces.encode(plain, tokens),
            Vocabulary::BytePairs(pairs) => pairs.encode(plain, tokens),
        });
        tokens
    }

    /// Splits text in which control pieces (`<|im_start|>`) stand for their tokens: the text a
    /// chat template writes around the messages, never the messages themselves.
    pub fn encode_with_controls(&self, text: &str) -> Vec<u32> {
        let mut tokens = Vec::new();
        split_on(text, &self.control_by_length, &mut tokens, |plain, tokens| {
            tokens.extend(self.encode(plain))
        });
        tokens
    }

    /// The bytes a token stands for in text (none for control tokens).
    fn bytes_of(&self, token: u32) -> Vec<u8> {
        let index = token as usize;
        let piece = self.pieces.get(index).map_or("", String::as_str);
        match (self.kinds.get(index), &self.vocabulary) {
            (Some(Kind::UserDefined), Vocabulary::BytePairs(_)) => piece.as_bytes().to_vec(),
            (Some(Kind::Normal | Kind::UserDefined), Vocabulary::SentencePiece(_)) => {
                SentencePiece::text_bytes(piece)
            }
            (Some(Kind::Normal), Vocabulary::BytePairs(pairs)) => pairs.text_bytes(piece),
            (Some(Kind::Byte), _) => sentencepiece::byte_of(piece).map(|b| vec![b]).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Every token as the bytes it stands for in text; control and unused tokens (and any that
    /// stand for no text) as a 0xFF byte and their name, which no text contains.
    pub(crate) fn token_bytes(&self) -> Vec<Vec<u8>> {
        (0u32..)
            .zip(&self.pieces)
            .map(|(id, piece)| match self.bytes_of(id) {
                bytes if !bytes.is_empty() => bytes,
                _ => [&[0xFF], piece.as_bytes()].concat(),
            })
            .collect()
    }

    /// Turns tokens back into text (control tokens stand for none).
    pub fn decode(&self, tokens: &[u32]) -> String {
        let bytes: Vec<u8> = tokens.iter().flat_map(|&t| self.bytes_of(t)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Splits `text` at the `pieces` (longest first), each becoming its token; the text between goes
/// through `encode`.
fn split_on(
    text: &str,
    pieces: &[(String, u32)],
    tokens: &mut Vec<u32>,
    encode: impl Fn(&str, &mut Vec<u32>),
) {
    let mut plain_from = 0;
    let mut at = 0;
    while at < text.len() {
        match pieces.iter().find(|(piece, _)| text[at..].starts_with(piece.as_str())) {
            Some((piece, id)) => {
                if plain_from < at {
                    encode(&text[plain_from..at], tokens);
                }
                tokens.push(*id);
                at += piece.len();
                plain_from = at;
            }
            None => at += text[at..].chars().next().map_or(1, char::len_utf8),
        }
    }
    if plain_from < text.len() {
        encode(&text[plain_from..], tokens);
    }
}

/// Turns a stream of tokens into text as it comes, holding back bytes of a character that
/// is split across tokens.
#[derive(Debug, Default)]
pub(crate) struct TextStream {
    pending: Vec<u8>,
}

impl TextStream {
    /// The text `token` completes (possibly empty).
    pub(crate) fn push(&mut self, tokenizer: &Tokenizer, token: u32) -> String {
        self.pending.extend(tokenizer.bytes_of(token));
        match std::str::from_utf8(&self.pending) {
            Ok(text) => {
                let text = text.to_owned();
                self.pending.clear();
                text
            }
            Err(e) if e.error_len().is_none() => {
                // An incomplete character at the end: emit what is whole, keep the rest.
                let whole = e.valid_up_to();
                let text = String::from_utf8_lossy(&self.pending[..whole]).into_owned();
                self.pending.drain(..whole);
                text
            }
            Err(_) => {
                let text = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending.clear();
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen_splits_text_into_llama_cpp_s_tokens() {
        let tokenizer = tokenizer(&crate::tests::qwen_path());
        // llama.cpp's token ids for the same strings and file (llama-cpp-python 0.3.36,
        // `tokenize(text, add_bos=False, special=False)`).
        let expected: [(&str, &[u32]); 7] = [
            ("Hello world", &[9707, 1879]),
            ("def reverse(s):\n    return s[::-1]\n", &[750, 9931, 1141, 982, 262, 470, 274, 62154, 16, 921]),
            (
                "naïve café 東京 🦀 Ünïcödé",
                &[
                    3376, 37572, 586, 51950, 60596, 109, 46553, 11162, 99, 222, 30512, 77, 37572, 66, 2956,
                    128505,
                ],
            ),
            (
                "   leading and  multiple   spaces\t\ttabs\n\n\nnewlines  ",
                &[256, 6388, 323, 220, 5248, 256, 12621, 197, 3244, 3435, 1406, 931, 7969, 256],
            ),
            (
                "I've can't WE'LL 12345 3.14159 x+=1;",
                &[
                    40, 3003, 646, 944, 19677, 6, 4086, 220, 16, 17, 18, 19, 20, 220, 18, 13, 16, 19, 16, 20,
                    24, 856, 8496, 16, 26,
                ],
            ),
            (
                "<|im_start|>user <tool_call>{\"a\": 1}</tool_call>",
                &[27, 91, 318, 4906, 91, 29, 872, 220, 151657, 4913, 64, 788, 220, 16, 92, 151658],
            ),
            (
                "fn main() { println!(\"{}\", \"hi\"); } // 注释",
                &[8822, 1887, 368, 314, 13751, 79878, 330, 6023, 5038, 335, 442, 62579, 68862],
            ),
        ];
        for (text, ids) in expected {
            assert_eq!(tokenizer.encode(text), ids, "{text:?}");
            assert_eq!(tokenizer.decode(ids), text);
        }
        let start = tokenizer.control("<|im_start|>").unwrap();
        assert_eq!(tokenizer.encode_with_controls("<|im_start|>user")[0], start);
        assert_eq!(tokenizer.encode_prompt("Hi"), tokenizer.encode("Hi"), "Qwen takes no BOS");
    }

    fn tokenizer(path: &std::path::Path) -> Tokenizer {
        let mut file = std::fs::File::open(path).expect("the set-up places the GGUF in models/");
        Tokenizer::from_gguf(&Content::read(&mut file).unwrap()).unwrap()
    }

    #[test]
    fn gemma_round_trips_text_and_never_forges_control_tokens() {
        let tokenizer = tokenizer(&crate::tests::gemma_path());
        for text in
            ["Hello world", "  indented\n\ncode { x: 1 }", "naïve café 東京 🦀", "<start_of_turn>model"]
        {
            assert_eq!(tokenizer.decode(&tokenizer.encode(text)), text);
        }
        let start = tokenizer.control("<start_of_turn>").unwrap();
        assert!(!tokenizer.encode("<start_of_turn>model").contains(&start));
        assert_eq!(tokenizer.encode_with_controls("<start_of_turn>model")[0], start);
        // Common words are single tokens, as the model was trained on.
        assert_eq!(tokenizer.encode(" the").len(), 1);
        assert_eq!(tokenizer.encode("Hello").len(), 1);
        assert_eq!(tokenizer.encode_prompt("Hello")[0], tokenizer.bos);
    }
}
