//! The signed-in user's alert rules and the alerts they fired.

use crate::protocol::RuleId;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::server::{context, require_identity};
use crate::protocol::{AlertInfo, ApiError, RuleDraft, RuleInfo};

/// The user's rules, oldest first.
#[server(endpoint = "rules")]
pub async fn list_rules() -> Result<Vec<RuleInfo>, ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    Ok(context.rules.list(identity.user.id).await?)
}

/// Creates a rule, or (with `id`) changes one.
#[server(endpoint = "rules/save")]
pub async fn save_rule(id: Option<RuleId>, rule: RuleDraft) -> Result<RuleInfo, ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    Ok(context.rules.save(identity.user.id, id, rule).await?)
}

/// Pauses a rule (it stops firing) or resumes it.
#[server(endpoint = "rules/pause")]
pub async fn pause_rule(id: RuleId, paused: bool) -> Result<(), ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    Ok(context.rules.set_paused(identity.user.id, id, paused).await?)
}

/// Deletes a rule; the alerts it fired stay.
#[server(endpoint = "rules/delete")]
pub async fn delete_rule(id: RuleId) -> Result<(), ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    Ok(context.rules.delete(identity.user.id, id).await?)
}

/// The user's latest alerts, newest first.
#[server(endpoint = "alerts")]
pub async fn list_alerts() -> Result<Vec<AlertInfo>, ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    Ok(context.rules.alerts(identity.user.id).await?)
}
