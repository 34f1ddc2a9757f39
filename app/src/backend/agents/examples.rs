//! The agents of the README's guide, registered when `[agents] examples = true`: `echo` returns
//! a whole string, `support` keeps a typed context across turns, streams, shows choices and a
//! form, reads attached files, and `sales` gives the model a tool whose context parameters are injected.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Agent, AgentError, AgentsBuilder, Answer, NoArgs, Output, Tool, ToolError, Turn, UserMessage};
use crate::protocol::{UserInfo, WidgetData};

/// Registers the example agents under `echo`, `support` and `sales`.
pub fn register(agents: AgentsBuilder) -> AgentsBuilder {
    agents.register("echo", EchoAgent).register("support", SupportAgent).register("sales", SalesAgent::new())
}

/// Says back what it was told.
#[derive(Clone, Copy, Debug)]
pub struct EchoAgent;

impl Agent for EchoAgent {
    type Context = ();
    type Args = NoArgs;

    fn name(&self) -> &str {
        "Echo"
    }

    fn description(&self) -> &str {
        "Says back what you write."
    }

    async fn respond(
        &self,
        message: &UserMessage,
        _context: &mut (),
        _turn: &mut Turn,
    ) -> Result<Answer, AgentError> {
        Ok(format!("You said: {}", message.text).into())
    }
}

/// Customer support: counts the conversation's messages in its context, streams, and books
/// appointments with a form.
#[derive(Clone, Copy, Debug)]
pub struct SupportAgent;

/// The support agent's context.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct SupportContext {
    /// The user's id (0 for none).
    pub user_id: i64,
    /// `basic` or `premium`.
    pub support_tier: String,
    /// Messages answered in this session.
    pub conversation_count: u32,
}

/// What a support session starts with.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportArgs {
    /// The support tier: `basic` (the default) or `premium`.
    #[serde(default = "basic")]
    pub tier: String,
}

fn basic() -> String {
    "basic".into()
}

/// The appointment times offered.
const SLOTS: [&str; 2] = ["2026-12-01 10:00", "2026-12-01 14:00"];

impl Agent for SupportAgent {
    type Context = SupportContext;
    type Args = SupportArgs;

    fn name(&self) -> &str {
        "Support"
    }

    fn description(&self) -> &str {
        "Customer support: answers, counts your messages, books appointments."
    }

    fn create_context(&self, visitor: &UserInfo, args: SupportArgs) -> Result<SupportContext, AgentError> {
        if !["basic", "premium"].contains(&args.tier.as_str()) {
            return Err(AgentError::BadArguments("the tier is `basic` or `premium`".into()));
        }
        Ok(SupportContext { user_id: visitor.id.0, support_tier: args.tier, conversation_count: 0 })
    }

    async fn respond(
        &self,
        message: &UserMessage,
        context: &mut SupportContext,
        turn: &mut Turn,
    ) -> Result<Answer, AgentError> {
        context.conversation_count += 1;
        if !turn.files().is_empty() {
            let analysis: Vec<String> = turn
                .files()
                .iter()
                .map(|file| {
                    format!("From {}: {}", file.name(), file.text().chars().take(200).collect::<String>())
                })
                .collect();
            return Ok(format!("File analysis:\n{}", analysis.join("\n")).into());
        }
        let text = message.text.to_lowercase();
        if let Some(values) = &message.values {
            let slot = values["slot"].as_str().unwrap_or("?");
            let name = values["name"].as_str().unwrap_or("you");
            return Ok(format!("Booked {slot} for {name}.").into());
        }
        if text.contains("hello") {
            return Ok("Hello! How can I help you today?".into());
        }
        if text.contains("book") {
            turn.show(WidgetData::Form {
                title: "Book an appointment".into(),
                schema: json!({
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "title": "Your name"},
                        "slot": {"type": "string", "title": "Time", "enum": SLOTS},
                    },
                    "required": ["name", "slot"],
                }),
                submit_label: "Book".into(),
            });
            return Ok("Please choose your preferred time above.".into());
        }
        turn.write("Let me check that for you. ");
        turn.write(format!(
            "Message #{} for user {} ({} support).",
            context.conversation_count, context.user_id, context.support_tier
        ));
        turn.show(WidgetData::Choices { options: vec!["Book an appointment".into(), "Hello".into()] });
        Ok(Answer::Streamed)
    }
}

/// Sales: the model answers, and may check whether the user can have a product with a tool
/// whose `user_id` and `account_tier` come from the context.
#[derive(Clone, Debug)]
pub struct SalesAgent {
    tools: Vec<Tool>,
}

/// The sales agent's context.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct SalesContext {
    /// The user's id.
    pub user_id: i64,
    /// `free` or `premium`.
    pub account_tier: String,
}

/// What a sales session starts with.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesArgs {
    /// The account tier: `free` (the default) or `premium`.
    #[serde(default)]
    pub tier: Option<String>,
}

/// The arguments of `check_eligibility`: the model gives `product_id`; the rest is injected.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CheckEligibility {
    /// The product, e.g. "pro-features".
    pub product_id: String,
    /// Injected from the context.
    pub user_id: i64,
    /// Injected from the context.
    pub account_tier: String,
}

async fn check_eligibility(args: CheckEligibility, _: Output) -> Result<String, ToolError> {
    Ok(if args.account_tier == "premium" {
        format!("User {} can access {}", args.user_id, args.product_id)
    } else {
        "Upgrade required".to_owned()
    })
}

impl SalesAgent {
    /// The agent and its tool.
    pub fn new() -> Self {
        let eligibility =
            Tool::new("check_eligibility", "Whether the user may use a product.", check_eligibility)
                .with_context::<SalesContext>();
        Self { tools: vec![eligibility] }
    }
}

impl Default for SalesAgent {
    fn default() -> Self {
        Self::new()
    }
}

impl Agent for SalesAgent {
    type Context = SalesContext;
    type Args = SalesArgs;

    fn name(&self) -> &str {
        "Sales"
    }

    fn description(&self) -> &str {
        "Answers questions about products and checks what your account may use."
    }

    fn create_context(&self, visitor: &UserInfo, args: SalesArgs) -> Result<SalesContext, AgentError> {
        Ok(SalesContext { user_id: visitor.id.0, account_tier: args.tier.unwrap_or_else(|| "free".into()) })
    }

    async fn respond(
        &self,
        message: &UserMessage,
        context: &mut SalesContext,
        turn: &mut Turn,
    ) -> Result<Answer, AgentError> {
        turn.model(message)
            .instructions(
                "You are a sales assistant. Check eligibility with the tool before promising a product.",
            )
            .tools(&self.tools, context)
            .run()
            .await?;
        Ok(Answer::Streamed)
    }
}
