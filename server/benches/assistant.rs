//! The camera assistant's evaluation (`server/tests/camera_eval/`) with each embedded model, in
//! a release build: `cargo bench -p server --bench assistant [-- MODEL …]`. Prints, per model,
//! the development and held-out parts' figures (right tool, right tool and arguments, facts
//! stated, grounded answers, time to the first word and to the whole answer), the held-out part
//! per tool, the process's memory with the model loaded, and what went wrong in the development
//! part (never the held-out part's questions: it is not tuned on).
//!
//! `-- dev` runs only the development part, for tuning.
//!
//! Against an OpenAI-compatible server that supports tools, name it and its model:
//! `EVAL_BASE_URL=http://127.0.0.1:8080/v1 cargo bench -p server --bench assistant -- eval/MODEL`
//! (`EVAL_API_KEY` is sent as its bearer token).

#[path = "../tests/camera_eval/mod.rs"]
mod camera_eval;
#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../tests/api/sockets.rs"]
mod sockets;

use app::backend::chat::providers::{ApiKey, UpstreamConfig};

use camera_eval::{DEV, HEADING, HELD_OUT, failures, part, per_tool, row, run, score, seed};

/// The embedded instruction-tuned models, the default first.
const EMBEDDED: [&str; 2] = ["local/qwen2.5-coder-0.5b", "local/qwen2.5-coder-1.5b"];

/// The process's resident memory, in MiB.
fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    // `dev` runs only the development part (for tuning).
    let dev_only = args.iter().any(|a| a == "dev");
    let named: Vec<String> = args.into_iter().filter(|a| a != "dev").collect();
    let models: Vec<String> = match named.is_empty() {
        true => EMBEDDED.map(String::from).to_vec(),
        false => named,
    };
    let app = helpers::spawn_app_with(|config| {
        if let Ok(base_url) = std::env::var("EVAL_BASE_URL") {
            let mut upstream = UpstreamConfig::new("eval", &base_url);
            upstream.api_key = std::env::var("EVAL_API_KEY").ok().map(ApiKey);
            config.chat.providers = vec![upstream];
            config.chat.default_model = Some(models[0].clone());
        }
    })
    .await;
    let world = seed(&app).await;
    println!("The camera assistant's evaluation, {}", chrono::Local::now().format("%Y-%m-%d"));
    for model in &models {
        let dev = run(&app, &world, Some(model), &part(DEV)).await;
        println!("\n{model} (memory with it loaded: {:.0} MiB)\n{HEADING}", resident_mib());
        println!("{}", row("development", &score(&dev)));
        if !dev_only {
            let held_out = run(&app, &world, Some(model), &part(HELD_OUT)).await;
            println!(
                "{}\n\nheld-out, per tool:\n{}",
                row("held-out", &score(&held_out)),
                per_tool(&held_out)
            );
        }
        println!("development, what went wrong:\n{}", failures(&dev));
    }
}
