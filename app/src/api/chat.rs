//! The chat pages' calls: sessions, messages, presets, models. Sending and streaming go over the
//! session websocket; these cover everything else. Calls with nested settings take JSON bodies.

use crate::protocol::{ChatSessionId, MessageId, PresetId};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::server::{context, require_identity};
#[cfg(feature = "ssr")]
use crate::backend::chat::SessionStart;
use crate::protocol::{
    AgentList, AgentPath, ApiError, ChatSession, FileInfo, MessagePage, ModelList, Preset, PresetDraft,
    ProviderHealth, SessionUpdate,
};

/// The user's sessions, most recent first: the archived ones or the others, optionally only
/// those whose title contains `search`.
#[server(endpoint = "chat/sessions")]
pub async fn list_chats(archived: bool, search: Option<String>) -> Result<Vec<ChatSession>, ApiError> {
    let context = context()?;
    let me = require_identity(&context).await?;
    Ok(context.chat.sessions(me.user.id, archived, search.as_deref()).await?)
}

/// One of the user's sessions.
#[server(endpoint = "chat/session")]
pub async fn get_chat(id: ChatSessionId) -> Result<ChatSession, ApiError> {
    let context = context()?;
    let me = require_identity(&context).await?;
    Ok(context.chat.session(me.user.id, id).await?)
}

/// Starts a session: with a preset's settings, or with an agent (`chat` by default) and the
/// default settings.
#[server(endpoint = "chat/create")]
pub async fn create_chat(
    preset_id: Option<PresetId>,
    agent: Option<AgentPath>,
) -> Result<ChatSession, ApiError> {
    let context = context()?;
    let me = require_identity(&context).await?;
    Ok(match preset_id {
        None if agent.is_some() => {
            context.chat.create_session(&me.user, SessionStart { agent, ..SessionStart::default() }).await?
        }
        Some(preset) => context.chat.create_session_from_preset(&me.user, preset).await?,
        None => context.chat.create_session(&me.user, SessionStart::default()).await?,
    })
}

/// Renames, archives, restores or re-configures a session.
#[server(endpoint = "chat/update", input = Json)]
pub async fn update_chat(id: ChatSessionId, update: SessionUpdate) -> Result<ChatSession, ApiError> {
    let context = context()?;
    let me = require_identity(&context).await?;
    Ok(context.chat.update_session(me.user.id, id, update).await?)
}

/// Deletes a session for good.
#[server(endpoint = "chat/delete")]
pub async fn delete_chat(id: ChatSessionId) -> Result<(), ApiError> {
    let context = context()?;
    let me = require_identity(&context).await?;
    Ok(context.chat.delete_session(me.user.id, id).await?)
}

/// A page of a session's messages, oldest first: the latest, or those before `before`.
#[server(endpoint = "chat/messages")]
pub async fn chat_messages(id: ChatSessionId, before: Option<MessageId>) -> Result<MessagePage, ApiError> {
    let context = context()?;
    let me = require_identity(&context).await?;
    Ok(context.chat.messages(me.user.id, id, before).await?)
}

/// The files uploaded to one of the user's sessions, oldest first.
#[server(endpoint = "chat/files")]
pub async fn chat_files(id: ChatSessionId) -> Result<Vec<FileInfo>, ApiError> {
    let context = context()?;
    let me = require_identity(&context).await?;
    Ok(context.chat.files(me.user.id, id).await?)
}

/// The agents to choose from.
#[server(endpoint = "chat/agents")]
pub async fn chat_agents() -> Result<AgentList, ApiError> {
    let context = context()?;
    require_identity(&context).await?;
    Ok(context.chat.agents())
}

/// The models to choose from.
#[server(endpoint = "chat/models")]
pub async fn chat_models() -> Result<ModelList, ApiError> {
    let context = context()?;
    require_identity(&context).await?;
    Ok(context.chat.models().await?)
}

/// Whether each model provider answers.
#[server(endpoint = "chat/health")]
pub async fn chat_health() -> Result<Vec<ProviderHealth>, ApiError> {
    let context = context()?;
    require_identity(&context).await?;
    Ok(context.chat.health().await)
}

/// The presets the user may use: their own and the public ones.
#[server(endpoint = "chat/presets")]
pub async fn chat_presets() -> Result<Vec<Preset>, ApiError> {
    let context = context()?;
    let me = require_identity(&context).await?;
    Ok(context.chat.presets(me.user.id).await?)
}

/// Creates a preset, or (with `id`) changes one of the user's.
#[server(endpoint = "chat/presets/save", input = Json)]
pub async fn save_preset(id: Option<PresetId>, preset: PresetDraft) -> Result<Preset, ApiError> {
    let context = context()?;
    let me = require_identity(&context).await?;
    Ok(context.chat.save_preset(me.user.id, id, preset).await?)
}

/// Deletes one of the user's presets.
#[server(endpoint = "chat/presets/delete")]
pub async fn delete_preset(id: PresetId) -> Result<(), ApiError> {
    let context = context()?;
    let me = require_identity(&context).await?;
    Ok(context.chat.delete_preset(me.user.id, id).await?)
}

/// Asks every provider for its models; answers the model list and the providers that failed.
#[server(endpoint = "chat/sync_models")]
pub async fn sync_models() -> Result<Vec<String>, ApiError> {
    let context = context()?;
    require_identity(&context).await?;
    let (_, failed) = context.chat.sync_models().await;
    Ok(failed.into_iter().map(|(provider, error)| format!("{provider}: {error}")).collect())
}
