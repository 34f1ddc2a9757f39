//! SentencePiece byte-pair encoding (Gemma's), from the GGUF vocabulary: pieces merged by score,
//! spaces as `▁`, bytes as `<0xNN>` tokens for anything the vocabulary lacks.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use super::Kind;

/// The vocabulary as SentencePiece uses it.
#[derive(Debug)]
pub(super) struct SentencePiece {
    scores: Vec<f32>,
    /// Normal pieces by text, for merging.
    normal: HashMap<String, u32>,
    /// The token of each byte.
    bytes: Box<[u32; 256]>,
}

impl SentencePiece {
    pub(super) fn new(pieces: &[String], kinds: &[Kind], scores: Vec<f32>) -> Self {
        let mut normal = HashMap::new();
        let mut bytes = Box::new([0; 256]);
        for ((id, piece), kind) in (0u32..).zip(pieces).zip(kinds) {
            match kind {
                Kind::Normal => drop(normal.insert(piece.clone(), id)),
                Kind::Byte => {
                    if let Some(byte) = byte_of(piece) {
                        bytes[usize::from(byte)] = id;
                    }
                }
                _ => {}
            }
        }
        Self { scores, normal, bytes }
    }

    /// The bytes of a normal or user-defined piece.
    pub(super) fn text_bytes(piece: &str) -> Vec<u8> {
        piece.replace('▁', " ").into_bytes()
    }

    /// SentencePiece BPE: start from characters and keep merging the adjacent pair whose
    /// union is the best-scored piece in the vocabulary.
    pub(super) fn encode(&self, text: &str, tokens: &mut Vec<u32>) {
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
}

/// The byte a byte token such as `<0x0A>` stands for.
pub(super) fn byte_of(piece: &str) -> Option<u8> {
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
