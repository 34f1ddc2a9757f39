//! Whether an answer is grounded: every number, time, camera name and label it states is one
//! the tools returned in that turn, and it is prose, not a call's markup or JSON.

use std::collections::BTreeSet;

/// The facts a text states, as comparable strings: `n:7`, `t:14:05`, `c:cam0`, `l:tabby`
/// (words joined by `_`, as in `last_24_hours`, are read as words).
pub fn facts(text: &str, cameras: &[String], labels: &[String]) -> BTreeSet<String> {
    let lower = text.to_lowercase();
    let mut found = BTreeSet::new();
    for token in lower.split(|c: char| c.is_whitespace() || ",;()[]{}\"“”!?_".contains(c)) {
        let token = token.trim_matches(|c: char| c == '.' || c == ':' || c == '\'' || c == '’');
        if token.is_empty() {
            continue;
        }
        let digits = token.chars().any(|c| c.is_ascii_digit());
        let letters = token.chars().any(char::is_alphabetic);
        if cameras.iter().any(|camera| camera.to_lowercase() == token) || (digits && letters) {
            found.insert(format!("c:{token}"));
        } else if let Some((hours, minutes)) = token.split_once(':').filter(|_| digits) {
            found.insert(format!("t:{}:{minutes}", hours.trim_start_matches('0')));
        } else if digits && !letters {
            found.insert(format!("n:{}", token.trim_start_matches('0')));
        } else if let Some(n) = number_word(token) {
            found.insert(format!("n:{n}"));
        }
    }
    for label in labels {
        let label = label.to_lowercase();
        let said = |form: &str| {
            lower.match_indices(form).any(|(at, _)| {
                let before = lower[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
                let after = lower[at + form.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric());
                before && after
            })
        };
        let plural = match label.strip_suffix('y') {
            None if label == "person" => "people".to_owned(),
            Some(stem) => format!("{stem}ies"),
            None if label.ends_with('x') || label.ends_with("sh") => format!("{label}es"),
            None => format!("{label}s"),
        };
        if said(&label) || said(&plural) {
            found.insert(format!("l:{label}"));
        }
    }
    found
}

fn number_word(word: &str) -> Option<u32> {
    let words = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ];
    match word {
        "once" => Some(1),
        "twice" => Some(2),
        _ => words.iter().position(|w| *w == word).map(|n| n as u32),
    }
}

/// What in `answer` is neither in `ground` (the tools' results of the turn) nor allowed: the
/// facts it states that the results do not, and markup or JSON.
pub fn ungrounded(answer: &str, ground: &str, cameras: &[String], labels: &[String]) -> Vec<String> {
    let known = facts(ground, cameras, labels);
    let mut missing: Vec<String> =
        facts(answer, cameras, labels).into_iter().filter(|fact| !known.contains(fact)).collect();
    for markup in ["{", "}", "<tool_call>", "```", "\"name\"", "\"arguments\""] {
        if answer.contains(markup) {
            missing.push(format!("markup {markup}"));
        }
    }
    missing
}
