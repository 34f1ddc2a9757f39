//! Choosing the next token from the model's logits: greedy at temperature 0, otherwise nucleus
//! (top-p) sampling; recently used tokens are penalised first, since small models loop.

/// How many of the last tokens the repeat penalty looks at.
const REPEAT_WINDOW: usize = 64;

/// How the next token is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// Flattens (above 1) or sharpens (below 1) the distribution; 0 always takes the most
    /// likely token.
    pub temperature: f32,
    /// Nucleus sampling: draw among the most likely tokens that together hold this much of the
    /// probability.
    pub top_p: f32,
    /// Divides the positive logits of tokens among the last 64 (multiplies negative ones):
    /// small models loop without it; 1 is none.
    pub repeat_penalty: f32,
    /// Seeds the random draws: the same seed and settings give the same reply.
    pub seed: u64,
}

impl Sampling {
    /// Always the most likely token, nothing penalised: the same reply every time, and what
    /// engines are compared with.
    pub fn greedy() -> Self {
        Self { temperature: 0.0, top_p: 1.0, repeat_penalty: 1.0, seed: 0 }
    }
}

/// Picks tokens for one reply.
pub(crate) struct Sampler {
    settings: Sampling,
    random: SplitMix64,
}

impl Sampler {
    pub(crate) fn new(settings: Sampling) -> Self {
        Self { settings, random: SplitMix64(settings.seed) }
    }

    /// The next token given the `logits` (which the penalty changes in place) and the tokens
    /// generated so far.
    pub(crate) fn next(&mut self, logits: &mut [f32], generated: &[u32]) -> u32 {
        let Sampling { temperature, top_p, repeat_penalty, .. } = self.settings;
        let mut seen = std::collections::HashSet::new();
        for &token in &generated[generated.len().saturating_sub(REPEAT_WINDOW)..] {
            if let Some(logit) = logits.get_mut(token as usize)
                && seen.insert(token)
            {
                *logit = if *logit >= 0.0 { *logit / repeat_penalty } else { *logit * repeat_penalty };
            }
        }
        if temperature <= f32::EPSILON {
            return argmax(logits);
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f32> = logits.iter().map(|l| ((l - max) / temperature).exp()).collect();
        let total: f32 = weights.iter().sum();
        // Tokens below this weight hold less than `1 - top_p` together, so the nucleus is among
        // the others: only they need sorting, not the whole vocabulary.
        let floor = (1.0 - top_p) * total / weights.len() as f32;
        let mut nucleus: Vec<(u32, f32)> =
            (0u32..).zip(weights).filter(|&(_, weight)| weight >= floor).collect();
        nucleus.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        let mut mass = 0.0;
        let kept = nucleus
            .iter()
            .position(|&(_, weight)| {
                mass += weight;
                mass >= top_p * total
            })
            .map_or(nucleus.len(), |last| last + 1);
        nucleus.truncate(kept);
        let mut draw = self.random.unit() * nucleus.iter().map(|&(_, weight)| weight).sum::<f32>();
        for &(token, weight) in &nucleus {
            if draw < weight {
                return token;
            }
            draw -= weight;
        }
        nucleus.last().map_or(0, |&(token, _)| token)
    }
}

/// The index of the largest logit: greedy decoding.
fn argmax(logits: &[f32]) -> u32 {
    let best = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
    u32::try_from(best).unwrap_or(0)
}

/// A small, fast generator (SplitMix64): plenty for sampling text.
struct SplitMix64(u64);

impl SplitMix64 {
    /// A number in `[0, 1)`.
    fn unit(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_best_token_after_the_repeat_penalty() {
        let mut sampler = Sampler::new(Sampling { repeat_penalty: 1.15, ..Sampling::greedy() });
        assert_eq!(sampler.next(&mut [1.0, 3.0, 2.9], &[]), 1);
        assert_eq!(sampler.next(&mut [1.0, 3.0, 2.9], &[1, 1]), 2, "3.0 / 1.15 falls below 2.9");
        assert_eq!(sampler.next(&mut [-1.0, -3.0, -1.1], &[0]), 2, "a negative logit is multiplied");
    }

    #[test]
    fn sampling_draws_only_from_the_nucleus_and_from_all_of_it() {
        // Two likely tokens share ~98% of the probability; the thousand others hold the rest.
        let mut logits = vec![0.0f32; 1002];
        logits[7] = 10.0;
        logits[500] = 10.0;
        let mut sampler =
            Sampler::new(Sampling { temperature: 1.0, top_p: 0.95, repeat_penalty: 1.0, seed: 42 });
        let drawn: Vec<u32> = (0..400).map(|_| sampler.next(&mut logits.clone(), &[])).collect();
        assert!(drawn.iter().all(|&t| t == 7 || t == 500), "only the nucleus is drawn");
        let sevens = drawn.iter().filter(|&&t| t == 7).count();
        assert!((120..=280).contains(&sevens), "both halves of the nucleus are drawn: {sevens} of 400");
    }

    #[test]
    fn a_flat_distribution_keeps_most_of_the_vocabulary() {
        let mut sampler =
            Sampler::new(Sampling { temperature: 1.0, top_p: 0.95, repeat_penalty: 1.0, seed: 7 });
        let drawn: std::collections::HashSet<u32> =
            (0..2000).map(|_| sampler.next(&mut vec![0.0; 100], &[])).collect();
        assert!(drawn.len() >= 90, "{} of 100 tokens drawn", drawn.len());
    }
}
