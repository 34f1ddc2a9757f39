//! The chat's REST API under `/ai-chat/api/`, for clients other than the app's pages (the
//! paths follow the seed's Django API, trailing slashes included). Every handler authenticates,
//! then calls the chat service that the pages and websockets use too.

use app::backend::AppError;
use app::protocol::{
    ChatMessage, ChatSession, ChatSessionId, ChatSettings, ChatStats, MessageId, MessagePage, ModelInfo,
    ModelList, Preset, PresetDraft, PresetId, ProviderHealth, SessionUpdate,
};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::auth::Authenticated;
use crate::startup::AppState;

/// The chat API's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ai-chat/api/sessions/", get(list_sessions).post(create_session))
        .route("/ai-chat/api/sessions/{id}/", get(get_session).patch(update_session).delete(delete_session))
        .route("/ai-chat/api/sessions/{id}/send_message/", post(send_message))
        .route("/ai-chat/api/sessions/{id}/messages/", get(messages))
        .route("/ai-chat/api/sessions/{id}/stop/", post(stop))
        .route("/ai-chat/api/models/", get(models))
        .route("/ai-chat/api/models/sync_models/", post(sync_models))
        .route("/ai-chat/api/presets/", get(presets).post(create_preset))
        .route("/ai-chat/api/presets/{id}/", get(get_preset).put(update_preset).delete(delete_preset))
        .route("/ai-chat/api/presets/{id}/create_session_from_preset/", post(session_from_preset))
        .route("/ai-chat/api/health/llm_server/", get(llm_health))
        .route("/ai-chat/api/health/stats/", get(stats))
}

/// A JSON body whose rejections are JSON errors too: 400 for malformed JSON, 422 for JSON of
/// the wrong shape.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(AppError::Unprocessable(e.body_text())),
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    archived: bool,
    search: Option<String>,
}

async fn list_sessions(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<ChatSession>>, AppError> {
    let sessions = state.context.chat.sessions(me.user.id, query.archived, query.search.as_deref()).await?;
    Ok(Json(sessions))
}

/// A new session: the default settings, or the given ones.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSession {
    #[serde(default)]
    settings: Option<ChatSettings>,
}

async fn create_session(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Body(new): Body<NewSession>,
) -> Result<(StatusCode, Json<ChatSession>), AppError> {
    let session = state.context.chat.create_session(me.user.id, new.settings).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

async fn get_session(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
) -> Result<Json<ChatSession>, AppError> {
    Ok(Json(state.context.chat.session(me.user.id, id).await?))
}

async fn update_session(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
    Body(update): Body<SessionUpdate>,
) -> Result<Json<ChatSession>, AppError> {
    Ok(Json(state.context.chat.update_session(me.user.id, id, update).await?))
}

#[derive(Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    permanent: bool,
}

/// Archives a session (restorable with `PATCH {"archived": false}`), or with `?permanent=true`
/// deletes it for good.
async fn delete_session(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
    Query(query): Query<DeleteQuery>,
) -> Result<StatusCode, AppError> {
    let chat = &state.context.chat;
    if query.permanent {
        chat.delete_session(me.user.id, id).await?;
    } else {
        chat.update_session(
            me.user.id,
            id,
            SessionUpdate { archived: Some(true), ..SessionUpdate::default() },
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendMessage {
    message: String,
    #[serde(default)]
    client_id: Option<String>,
}

/// The non-streaming answer: the stored message and the reply once it has ended.
#[derive(Serialize)]
struct Answer {
    user_message: ChatMessage,
    reply: Option<ChatMessage>,
}

async fn send_message(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
    Body(send): Body<SendMessage>,
) -> Result<Json<Answer>, AppError> {
    let chat = &state.context.chat;
    let exchange = chat.send(me.user.id, id, &send.message, send.client_id.as_deref()).await?;
    let reply = match exchange.reply {
        Some(reply) => Some(chat.wait_for(me.user.id, id, reply.id).await?),
        None => None,
    };
    Ok(Json(Answer { user_message: exchange.user, reply }))
}

#[derive(Deserialize)]
struct PageQuery {
    before: Option<MessageId>,
}

async fn messages(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
    Query(query): Query<PageQuery>,
) -> Result<Json<MessagePage>, AppError> {
    Ok(Json(state.context.chat.messages(me.user.id, id, query.before).await?))
}

#[derive(Serialize)]
struct Stopped {
    stopped: bool,
}

async fn stop(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
) -> Result<Json<Stopped>, AppError> {
    Ok(Json(Stopped { stopped: state.context.chat.stop(me.user.id, id).await? }))
}

async fn models(State(state): State<AppState>, _: Authenticated) -> Result<Json<ModelList>, AppError> {
    Ok(Json(state.context.chat.models().await?))
}

#[derive(Serialize)]
struct Synced {
    models: Vec<ModelInfo>,
    failed: Vec<SyncFailure>,
}

#[derive(Serialize)]
struct SyncFailure {
    provider: String,
    error: String,
}

async fn sync_models(State(state): State<AppState>, _: Authenticated) -> Json<Synced> {
    let (models, failed) = state.context.chat.sync_models().await;
    let failed = failed.into_iter().map(|(provider, error)| SyncFailure { provider, error }).collect();
    Json(Synced { models, failed })
}

async fn presets(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
) -> Result<Json<Vec<Preset>>, AppError> {
    Ok(Json(state.context.chat.presets(me.user.id).await?))
}

async fn create_preset(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Body(draft): Body<PresetDraft>,
) -> Result<(StatusCode, Json<Preset>), AppError> {
    Ok((StatusCode::CREATED, Json(state.context.chat.save_preset(me.user.id, None, draft).await?)))
}

async fn get_preset(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<PresetId>,
) -> Result<Json<Preset>, AppError> {
    Ok(Json(state.context.chat.preset(me.user.id, id).await?))
}

async fn update_preset(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<PresetId>,
    Body(draft): Body<PresetDraft>,
) -> Result<Json<Preset>, AppError> {
    Ok(Json(state.context.chat.save_preset(me.user.id, Some(id), draft).await?))
}

async fn delete_preset(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<PresetId>,
) -> Result<StatusCode, AppError> {
    state.context.chat.delete_preset(me.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn session_from_preset(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<PresetId>,
) -> Result<(StatusCode, Json<ChatSession>), AppError> {
    Ok((StatusCode::CREATED, Json(state.context.chat.create_session_from_preset(me.user.id, id).await?)))
}

#[derive(Serialize)]
struct LlmHealth {
    ok: bool,
    default_model: String,
    providers: Vec<ProviderHealth>,
    replies_in_progress: usize,
}

/// Whether the model providers answer: `ok` when the default model's provider does.
async fn llm_health(State(state): State<AppState>, _: Authenticated) -> Json<LlmHealth> {
    let chat = &state.context.chat;
    let providers = chat.health().await;
    let default_model = chat.default_settings().model;
    let default_provider = default_model.split('/').next().unwrap_or_default();
    let ok = providers.iter().any(|p| p.provider == default_provider && p.ok);
    Json(LlmHealth { ok, default_model, providers, replies_in_progress: chat.replies_in_progress() })
}

async fn stats(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
) -> Result<Json<ChatStats>, AppError> {
    Ok(Json(state.context.chat.stats(me.user.id).await?))
}
