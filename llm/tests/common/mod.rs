//! What the evaluation tests share: the model they ask, and their verdict.

use std::path::Path;

use llm::Model;

/// The default embedded model, Qwen2.5 Coder 0.5B Instruct.
pub fn default_model() -> Model {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
    Model::load(&path).expect("the set-up places the GGUF in models/")
}

/// Prints the score, and fails unless at least `required` of `total` answers were right, listing
/// the `wrong` ones.
pub fn verdict(total: usize, required: usize, wrong: &[String]) {
    let right = total - wrong.len();
    println!("{right} of {total} right");
    assert!(right >= required, "{right} of {total} right, {required} required; wrong:\n{}", wrong.join("\n"));
}
