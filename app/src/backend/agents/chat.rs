//! The built-in `chat` agent: the session's model answers, with the session's settings.

use super::{Agent, AgentError, Answer, NoArgs, Turn, UserMessage};
use crate::protocol::UserInfo;

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
        "Chat with the session's model."
    }

    fn create_context(&self, _visitor: &UserInfo, _args: NoArgs) -> Result<(), AgentError> {
        Ok(())
    }

    async fn respond(
        &self,
        message: &UserMessage,
        _context: &mut (),
        turn: &mut Turn,
    ) -> Result<Answer, AgentError> {
        turn.model(message).run().await?;
        Ok(Answer::Streamed)
    }
}
