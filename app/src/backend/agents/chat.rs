//! The built-in `chat` agent: the session's model answers, with the session's settings, and
//! reads the text of the files sent with the message.

use super::{Agent, AgentError, Answer, NoArgs, Turn, UserMessage};
use crate::backend::chat::Attachment;

/// Characters of attached text put into the prompt, all files together (about 3,000 tokens).
const FILE_BUDGET: usize = 12_000;

/// Answers with the session's model, streaming its reply: the default agent.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChatAgent;

impl Agent for ChatAgent {
    type Context = ();
    type Args = NoArgs;

    fn name(&self) -> &str {
        "Chat"
    }

    fn description(&self) -> &str {
        "Chat with the session's model, about the files you attach too."
    }

    async fn respond(
        &self,
        message: &UserMessage,
        _context: &mut (),
        turn: &mut Turn,
    ) -> Result<Answer, AgentError> {
        let (text, cuts) = with_files(&message.text, turn.files(), FILE_BUDGET);
        for cut in cuts {
            turn.write(format!(
                "*{} is long: I read its first {} of {} characters.*\n\n",
                cut.name, cut.kept, cut.total
            ));
        }
        turn.model(&UserMessage { text, ..message.clone() }).run().await?;
        Ok(Answer::Streamed)
    }
}

/// A file whose text did not fit.
#[derive(Debug, PartialEq)]
struct Cut {
    name: String,
    kept: usize,
    total: usize,
}

/// The message followed by each file's text in a `<file>` block, at most `budget` characters
/// of file text in all; says which files were cut.
fn with_files(message: &str, files: &[Attachment], budget: usize) -> (String, Vec<Cut>) {
    let (mut text, mut cuts, mut left) = (message.to_owned(), Vec::new(), budget);
    for file in files {
        let total = file.text().chars().count();
        let kept = total.min(left);
        let shown: String = file.text().chars().take(kept).collect();
        text.push_str(&format!("\n\n<file name=\"{}\">\n{shown}\n</file>", file.name()));
        if kept < total {
            cuts.push(Cut { name: file.name().to_owned(), kept, total });
        }
        left -= kept;
    }
    (text, cuts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attached_text_fits_the_budget_and_cuts_are_named() {
        let files = [Attachment::for_test("a.txt", "abcdef"), Attachment::for_test("b.md", "ghij")];
        let (text, cuts) = with_files("Sum up", &files, 8);
        assert_eq!(
            text,
            "Sum up\n\n<file name=\"a.txt\">\nabcdef\n</file>\n\n<file name=\"b.md\">\ngh\n</file>"
        );
        assert_eq!(cuts, [Cut { name: "b.md".into(), kept: 2, total: 4 }]);
        assert_eq!(with_files("Hi", &[], 8), ("Hi".to_owned(), Vec::new()));
    }
}
