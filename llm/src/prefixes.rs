//! What a model computed for earlier prompts, kept within a memory budget so that a prompt that
//! begins like an earlier one reads only the rest: the next turn of a conversation, and every
//! conversation of an agent whose instructions and tool list are the same.

use crate::Prefix;

/// The fewest tokens two prompts share for their beginning to be kept on its own.
const SHARED: usize = 64;

/// One kept prefix.
#[derive(Debug)]
struct Entry {
    /// When it was last used (a count of uses).
    used: u64,
    /// A beginning that prompts were seen to share, rather than one conversation so far.
    shared: bool,
    prefix: Prefix,
}

/// Computations of earlier prompts (each a [`Prefix`]), least recently used first out once they
/// take more than the budget. A beginning that two prompts share (an agent's instructions and
/// tools) is kept as a prefix of its own, so that it outlives the conversations that begin with it.
#[derive(Debug)]
pub struct PrefixCache {
    entries: Vec<Entry>,
    budget: usize,
    uses: u64,
}

impl PrefixCache {
    /// An empty cache that holds at most `budget` bytes of keys and values.
    pub fn new(budget: usize) -> Self {
        Self { entries: Vec::new(), budget, uses: 0 }
    }

    /// A copy of what was computed for the longest beginning that `prompt` shares with a kept
    /// prefix, to pass to [`Model::generate_after`](crate::Model::generate_after); none when no
    /// kept prefix starts like it. The kept one stays for other prompts; where `prompt` parts
    /// from it after a long shared beginning, that beginning is kept on its own too.
    pub fn lookup(&mut self, prompt: &[u32]) -> Option<Prefix> {
        let shared = |prefix: &Prefix| prefix.tokens.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        // The longest shared beginning, from the shortest prefix that has it.
        let (common, entry) = self
            .entries
            .iter_mut()
            .map(|entry| (shared(&entry.prefix), entry))
            .max_by_key(|(common, entry)| (*common, std::cmp::Reverse(entry.prefix.tokens.len())))
            .filter(|(common, _)| *common > 0)?;
        self.uses += 1;
        entry.used = self.uses;
        let prefix = &entry.prefix;
        let copy =
            Prefix { tokens: prefix.tokens[..common].to_vec(), cache: prefix.cache.copy_of_first(common) };
        if common < prefix.tokens.len() && common < prompt.len() && common >= SHARED {
            let beginning = Prefix { tokens: copy.tokens.clone(), cache: copy.cache.copy_of_first(common) };
            self.entries.push(Entry { used: self.uses, shared: true, prefix: beginning });
            self.fit(self.entries.len() - 1);
        }
        Some(copy)
    }

    /// Keeps `prefix` in place of the conversation it continues, then drops the least recently
    /// used others until the cache fits its budget (a prefix larger than the budget is not kept).
    pub fn keep(&mut self, prefix: Prefix) {
        if prefix.cache.bytes() > self.budget {
            return;
        }
        self.entries.retain(|kept| kept.shared || !prefix.tokens.starts_with(&kept.prefix.tokens));
        self.uses += 1;
        self.entries.push(Entry { used: self.uses, shared: false, prefix });
        self.fit(self.entries.len() - 1);
    }

    /// Drops the least recently used prefixes but the one at `keep` until the cache fits its
    /// budget.
    fn fit(&mut self, keep: usize) {
        while self.bytes() > self.budget {
            let oldest = self
                .entries
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != keep)
                .min_by_key(|(_, entry)| entry.used)
                .map(|(i, _)| i);
            let Some(oldest) = oldest else { break };
            self.entries.remove(oldest);
        }
    }

    /// The memory the kept prefixes take, in bytes.
    pub fn bytes(&self) -> usize {
        self.entries.iter().map(|entry| entry.prefix.cache.bytes()).sum()
    }

    /// How many prefixes are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
