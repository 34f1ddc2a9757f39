//! Choosing the next token from the model's logits: greedy at temperature 0, otherwise nucleus
//! (top-p) sampling; recently used tokens are penalised first, since small models loop.

/// Picks tokens for one reply.
pub struct Sampler {
    temperature: f32,
    top_p: f32,
    repeat_penalty: f32,
    random: SplitMix64,
}

impl Sampler {
    /// A sampler at `temperature` (0 is greedy) keeping the most likely tokens that together
    /// hold `top_p` of the probability, dividing positive logits of recent tokens (multiplying
    /// negative ones) by `repeat_penalty`. `seed` seeds its random draws.
    pub fn new(temperature: f32, top_p: f32, repeat_penalty: f32, seed: u64) -> Self {
        Self { temperature, top_p, repeat_penalty, random: SplitMix64(seed) }
    }

    /// The next token given the `logits` (which the penalty changes in place) and the `recent`
    /// tokens.
    pub fn next(&mut self, logits: &mut [f32], recent: &[u32]) -> u32 {
        let mut seen = std::collections::HashSet::new();
        for &token in recent {
            if let Some(logit) = logits.get_mut(token as usize)
                && seen.insert(token)
            {
                *logit =
                    if *logit >= 0.0 { *logit / self.repeat_penalty } else { *logit * self.repeat_penalty };
            }
        }
        if self.temperature <= f32::EPSILON {
            return argmax(logits);
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f32> = logits.iter().map(|l| ((l - max) / self.temperature).exp()).collect();
        let total: f32 = weights.iter().sum();
        // Tokens below this weight hold less than `1 - top_p` together, so the nucleus is among
        // the others: only they need sorting, not the whole vocabulary.
        let floor = (1.0 - self.top_p) * total / weights.len() as f32;
        let mut nucleus: Vec<(u32, f32)> =
            (0u32..).zip(weights).filter(|&(_, weight)| weight >= floor).collect();
        nucleus.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        let mut mass = 0.0;
        let kept = nucleus
            .iter()
            .position(|&(_, weight)| {
                mass += weight;
                mass >= self.top_p * total
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
pub fn argmax(logits: &[f32]) -> u32 {
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
        let mut sampler = Sampler::new(0.0, 0.95, 1.15, 1);
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
        let mut sampler = Sampler::new(1.0, 0.95, 1.0, 42);
        let drawn: Vec<u32> = (0..400).map(|_| sampler.next(&mut logits.clone(), &[])).collect();
        assert!(drawn.iter().all(|&t| t == 7 || t == 500), "only the nucleus is drawn");
        let sevens = drawn.iter().filter(|&&t| t == 7).count();
        assert!((120..=280).contains(&sevens), "both halves of the nucleus are drawn: {sevens} of 400");
    }

    #[test]
    fn a_flat_distribution_keeps_most_of_the_vocabulary() {
        let mut sampler = Sampler::new(1.0, 0.95, 1.0, 7);
        let drawn: std::collections::HashSet<u32> =
            (0..2000).map(|_| sampler.next(&mut vec![0.0; 100], &[])).collect();
        assert!(drawn.len() >= 90, "{} of 100 tokens drawn", drawn.len());
    }
}
