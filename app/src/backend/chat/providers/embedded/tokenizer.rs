//! Gemma's SentencePiece tokenizer, built from the GGUF file's metadata (`tokenizer.ggml.*`):
//! byte-pair merges ranked by score, spaces as `▁`, bytes as `<0xNN>` tokens for anything the
//! vocabulary lacks. Control tokens (`<start_of_turn>`, …) are never produced from text, so
//! what a user types cannot forge a turn.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use candle_core::quantized::gguf_file::{Content, Value};

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

/// Gemma's tokenizer.
#[derive(Debug)]
pub struct Tokenizer {
    pieces: Vec<String>,
    scores: Vec<f32>,
    kinds: Vec<Kind>,
    /// Normal pieces by text, for merging.
    normal: HashMap<String, u32>,
    /// User-defined pieces (newlines, runs of spaces, …), longest first: matched before merging.
    user_defined: Vec<(String, u32)>,
    /// Control pieces by text, for the chat template.
    control: HashMap<String, u32>,
    bytes: [u32; 256],
    /// The beginning-of-sequence token.
    pub bos: u32,
    /// The end-of-sequence token.
    pub eos: u32,
}

impl Tokenizer {
    /// Reads the vocabulary from a GGUF file's metadata.
    pub fn from_gguf(content: &Content) -> Result<Self, String> {
        let get = |key: &str| content.metadata.get(key).ok_or_else(|| format!("the GGUF has no `{key}`"));
        let list = |key: &str| get(key)?.to_vec().map_err(|e| format!("`{key}`: {e}"));
        let number = |value: &Value| -> Option<i64> {
            match value {
                Value::I32(n) => Some(i64::from(*n)),
                Value::U32(n) => Some(i64::from(*n)),
                Value::I64(n) => Some(*n),
                Value::U8(n) => Some(i64::from(*n)),
                _ => None,
            }
        };
        let pieces: Vec<String> = list("tokenizer.ggml.tokens")?
            .iter()
            .map(|v| v.to_string().cloned().map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let scores: Vec<f32> =
            list("tokenizer.ggml.scores")?.iter().map(|v| v.to_f32().unwrap_or(0.0)).collect();
        let kinds: Vec<Kind> = list("tokenizer.ggml.token_type")?
            .iter()
            .map(|v| Kind::from_gguf(number(v).unwrap_or(1)))
            .collect();
        if scores.len() != pieces.len() || kinds.len() != pieces.len() {
            return Err("the GGUF's token, score and type lists differ in length".into());
        }
        let id = |key: &str| get(key).ok().and_then(number).and_then(|n| u32::try_from(n).ok());
        let mut tokenizer = Self {
            bos: id("tokenizer.ggml.bos_token_id").ok_or("the GGUF names no BOS token")?,
            eos: id("tokenizer.ggml.eos_token_id").ok_or("the GGUF names no EOS token")?,
            normal: HashMap::new(),
            user_defined: Vec::new(),
            control: HashMap::new(),
            bytes: [0; 256],
            pieces,
            scores,
            kinds,
        };
        for (id, (piece, kind)) in tokenizer.pieces.iter().zip(&tokenizer.kinds).enumerate() {
            let id = u32::try_from(id).map_err(|_| "the vocabulary is too large")?;
            match kind {
                Kind::Normal => drop(tokenizer.normal.insert(piece.clone(), id)),
                Kind::UserDefined => tokenizer.user_defined.push((piece.clone(), id)),
                Kind::Control => drop(tokenizer.control.insert(piece.clone(), id)),
                Kind::Byte => {
                    if let Some(byte) = byte_of(piece) {
                        tokenizer.bytes[usize::from(byte)] = id;
                    }
                }
                Kind::Unknown | Kind::Unused => {}
            }
        }
        tokenizer.user_defined.sort_by_key(|(piece, _)| std::cmp::Reverse(piece.len()));
        Ok(tokenizer)
    }

    /// The id of a control token such as `<start_of_turn>`.
    pub fn control(&self, piece: &str) -> Option<u32> {
        self.control.get(piece).copied()
    }

    /// Splits plain text into tokens (no BOS; control tokens are never produced).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut tokens = Vec::new();
        let mut plain_from = 0;
        let mut at = 0;
        while at < text.len() {
            let special = self.user_defined.iter().find(|(piece, _)| text[at..].starts_with(piece.as_str()));
            match special {
                Some((piece, id)) => {
                    self.encode_plain(&text[plain_from..at], &mut tokens);
                    tokens.push(*id);
                    at += piece.len();
                    plain_from = at;
                }
                None => at += text[at..].chars().next().map_or(1, char::len_utf8),
            }
        }
        self.encode_plain(&text[plain_from..], &mut tokens);
        tokens
    }

    /// SentencePiece BPE: start from characters and keep merging the adjacent pair whose
    /// union is the best-scored piece in the vocabulary.
    fn encode_plain(&self, text: &str, tokens: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        let text = text.replace(' ', "▁");
        let mut symbols: Vec<Symbol> = text
            .char_indices()
            .map(|(start, c)| Symbol { start, len: c.len_utf8(), prev: None, next: None })
            .collect();
        let count = symbols.len();
        for (i, symbol) in symbols.iter_mut().enumerate() {
            symbol.prev = i.checked_sub(1);
            symbol.next = (i + 1 < count).then_some(i + 1);
        }
        let mut queue = BinaryHeap::new();
        for left in 0..count.saturating_sub(1) {
            self.consider(&text, &symbols, left, &mut queue);
        }
        while let Some(pair) = queue.pop() {
            let left = symbols[pair.left];
            let Some(right_index) = left.next else { continue };
            let right = symbols[right_index];
            if left.len == 0 || right.len == 0 || left.len + right.len != pair.len {
                continue; // stale: one side has merged since
            }
            symbols[pair.left].len += right.len;
            symbols[pair.left].next = right.next;
            symbols[right_index].len = 0;
            if let Some(next) = right.next {
                symbols[next].prev = Some(pair.left);
            }
            if let Some(prev) = left.prev {
                self.consider(&text, &symbols, prev, &mut queue);
            }
            self.consider(&text, &symbols, pair.left, &mut queue);
        }
        let mut at = Some(0);
        while let Some(index) = at {
            let symbol = symbols[index];
            let piece = &text[symbol.start..symbol.start + symbol.len];
            match self.normal.get(piece) {
                Some(&id) => tokens.push(id),
                None => tokens.extend(piece.bytes().map(|b| self.bytes[usize::from(b)])),
            }
            at = symbol.next;
        }
    }

    fn consider(&self, text: &str, symbols: &[Symbol], left: usize, queue: &mut BinaryHeap<Pair>) {
        let Some(right) = symbols[left].next else { return };
        let start = symbols[left].start;
        let len = symbols[left].len + symbols[right].len;
        if let Some(&id) = self.normal.get(&text[start..start + len]) {
            queue.push(Pair { score: self.scores[id as usize], left, len });
        }
    }

    /// The bytes a token stands for in text (none for control tokens).
    pub fn bytes_of(&self, token: u32) -> Vec<u8> {
        let index = token as usize;
        match self.kinds.get(index) {
            Some(Kind::Normal | Kind::UserDefined) => self.pieces[index].replace('▁', " ").into_bytes(),
            Some(Kind::Byte) => byte_of(&self.pieces[index]).map(|b| vec![b]).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Turns tokens back into text.
    #[cfg(test)]
    pub fn decode(&self, tokens: &[u32]) -> String {
        let bytes: Vec<u8> = tokens.iter().flat_map(|&t| self.bytes_of(t)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The byte a byte token such as `<0x0A>` stands for.
fn byte_of(piece: &str) -> Option<u8> {
    piece.strip_prefix("<0x").and_then(|h| h.strip_suffix('>')).and_then(|h| u8::from_str_radix(h, 16).ok())
}

#[derive(Clone, Copy, Debug)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge: the best score first, then the leftmost.
#[derive(Debug)]
struct Pair {
    score: f32,
    left: usize,
    len: usize,
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pair {}

impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pair {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.left.cmp(&self.left))
    }
}

/// Turns a stream of tokens into text as it comes, holding back bytes of a character that
/// is split across tokens.
#[derive(Debug, Default)]
pub struct TextStream {
    pending: Vec<u8>,
}

impl TextStream {
    /// The text `token` completes (possibly empty).
    pub fn push(&mut self, tokenizer: &Tokenizer, token: u32) -> String {
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
