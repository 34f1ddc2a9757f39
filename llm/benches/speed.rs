//! Speed benchmark, `cargo bench -p llm --bench speed [-- MODEL.gguf]` (Gemma 3 270M by
//! default): prompt and generation tokens per second, greedy, 128 tokens after a short prompt
//! (three runs), then as chat replies are made, then after a long prompt. Side by side, when
//! `BENCH_LLAMA_CPP_PYTHON` names a Python with llama-cpp-python (`make bench` installs one):
//! llama.cpp on the same file, prompt and token count.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use llm::{Model, Sampling};

/// The prompt after which tokens are generated.
const PROMPT: &str = "The history of Paris, its rivers, bridges and museums, and of the people who built them over \
                      many centuries, begins";
/// Tokens generated per run.
const TOKENS: usize = 128;
/// Runs of the greedy measurement.
const RUNS: usize = 3;

/// How fast one generation went.
struct Speed {
    prompt_tokens: usize,
    prompt_time: Duration,
    generated_tokens: usize,
    generation_time: Duration,
}

impl Speed {
    fn prompt_rate(&self) -> f64 {
        self.prompt_tokens as f64 / self.prompt_time.as_secs_f64()
    }

    fn generation_rate(&self) -> f64 {
        self.generated_tokens as f64 / self.generation_time.as_secs_f64()
    }
}

/// Reads `text` after the beginning-of-sequence token (the time to the first token) and
/// generates `tokens` tokens in all, past any end token.
fn measure(model: &Model, text: &str, tokens: usize, sampling: Sampling) -> Speed {
    let prompt = model.tokenizer().encode_prompt(text);
    let started = Instant::now();
    let mut generation = model.generate(&prompt, sampling).expect("a prompt").ignoring_ends();
    generation.next().expect("a first token").expect("the model reads the prompt");
    let prompt_time = started.elapsed();
    let started = Instant::now();
    for token in generation.take(tokens - 1) {
        token.expect("the model generates");
    }
    Speed {
        prompt_tokens: prompt.len(),
        prompt_time,
        generated_tokens: tokens - 1,
        generation_time: started.elapsed(),
    }
}

fn main() {
    let path = std::env::args().skip(1).find(|arg| !arg.starts_with('-')).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/gemma-3-270m-q4_k_m.gguf"),
        PathBuf::from,
    );
    let started = Instant::now();
    let model = Model::load(&path).expect("the model loads");
    println!(
        "{}: loaded in {:.1} s; greedy, {TOKENS} tokens after a short prompt, 2 cores",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    println!(" this engine:");
    let mut rates = Vec::new();
    for run in 1..=RUNS {
        let speed = measure(&model, PROMPT, TOKENS, Sampling::greedy());
        rates.push(speed.generation_rate());
        println!(
            "  run {run}: prompt {} tokens at {:.0} tokens/s; generation {} tokens at {:.1} tokens/s",
            speed.prompt_tokens,
            speed.prompt_rate(),
            speed.generated_tokens,
            speed.generation_rate()
        );
    }
    rates.sort_by(f64::total_cmp);
    let ours = rates[rates.len() / 2];
    let chat = Sampling { temperature: 0.7, top_p: 0.95, repeat_penalty: 1.15, seed: 1 };
    let sampled = measure(&model, PROMPT, TOKENS, chat);
    println!(
        "  as chat replies are made (temperature 0.7, top-p 0.95, repeat penalty): generation {:.1} tokens/s",
        sampled.generation_rate()
    );
    let long = measure(&model, &PROMPT.repeat(40), 32, Sampling::greedy());
    println!(
        "  a long prompt: {} tokens at {:.0} tokens/s; then generation at {:.1} tokens/s",
        long.prompt_tokens,
        long.prompt_rate(),
        long.generation_rate()
    );
    let Ok(python) = std::env::var("BENCH_LLAMA_CPP_PYTHON") else {
        println!(" llama.cpp baseline: skipped (run `make bench` to install llama-cpp-python and compare)");
        return;
    };
    println!(" llama.cpp (llama-cpp-python), same file, prompt and token count:");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/llama_cpp_baseline.py");
    let output = Command::new(python)
        .arg(script)
        .arg(&path)
        .arg(PROMPT)
        .arg(TOKENS.to_string())
        .arg(RUNS.to_string())
        .output()
        .expect("the baseline runs");
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");
    let baseline = text.lines().last().and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse::<f64>().ok());
    match baseline {
        Some(baseline) if baseline > 0.0 => println!(
            " generation, median: this engine {ours:.1} tokens/s, llama.cpp {baseline:.1} tokens/s: {:.2}× llama.cpp",
            ours / baseline
        ),
        _ => println!(" the baseline failed: {}", String::from_utf8_lossy(&output.stderr)),
    }
}
