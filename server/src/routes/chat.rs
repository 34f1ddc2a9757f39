//! The chat's REST API under `/ai-chat/api/`, for clients other than the app's pages (the
//! paths follow the seed's Django API, trailing slashes included). Every handler authenticates,
//! then calls the chat service that the pages and websockets use too.

use app::backend::AppError;
use app::backend::chat::{NewMessage, SessionStart};
use app::protocol::{
    AgentList, AgentPath, ApiError, ChatMessage, ChatSession, ChatSessionId, ChatStats, FileId, FileInfo,
    MessageId, MessagePage, MessageStatus, ModelInfo, ModelList, Preset, PresetDraft, PresetId,
    ProviderHealth, ResponseFormat, SessionUpdate, SettingsChange,
};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticated;
use crate::startup::AppState;

/// The chat API's routes, with their OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions, create_session))
        .routes(routes!(get_session, update_session, delete_session))
        .routes(routes!(send_message))
        .routes(routes!(approve))
        .routes(routes!(upload_file, session_files))
        .routes(routes!(download_file))
        .routes(routes!(agents))
        .routes(routes!(messages))
        .routes(routes!(stop))
        .routes(routes!(models))
        .routes(routes!(sync_models))
        .routes(routes!(presets, create_preset))
        .routes(routes!(get_preset, update_preset, delete_preset))
        .routes(routes!(session_from_preset))
        .routes(routes!(llm_health))
        .routes(routes!(stats))
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// List archived sessions instead.
    #[serde(default)]
    archived: bool,
    /// Only sessions whose title contains this.
    search: Option<String>,
}

#[utoipa::path(
    get,
    path = "/ai-chat/api/sessions/",
    tag = "chat",
    params(ListQuery),
    responses((status = 200, description = "the user's sessions, most recent first", body = [ChatSession]), (status = 401, description = "not signed in", body = ApiError)),
    security(("token" = []))
)]
async fn list_sessions(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<ChatSession>>, AppError> {
    let sessions = state.context.chat.sessions(me.user.id, query.archived, query.search.as_deref()).await?;
    Ok(Json(sessions))
}

/// A new session: answered by an agent (`chat` when absent) that builds its context from the
/// start arguments, with the default model settings or the given ones.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSession {
    /// The agent's path, e.g. `cameras` or `sales/premium` (`GET /ai-chat/api/agents/` lists them).
    #[serde(default)]
    agent: Option<AgentPath>,
    /// The agent's start arguments, as its `start_schema` describes them.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    context: Option<serde_json::Value>,
    /// The session's settings; the server's defaults for those absent.
    #[serde(default)]
    settings: Option<SettingsChange>,
}

#[utoipa::path(
    post,
    path = "/ai-chat/api/sessions/",
    tag = "chat",
    request_body = NewSession,
    responses((status = 201, description = "the new session", body = ChatSession), (status = 400, body = ApiError), (status = 401, description = "not signed in", body = ApiError), (status = 422, body = ApiError)),
    security(("token" = []))
)]
async fn create_session(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Body(new): Body<NewSession>,
) -> Result<(StatusCode, Json<ChatSession>), AppError> {
    let start =
        SessionStart { agent: new.agent, context: new.context.unwrap_or_default(), settings: new.settings };
    let session = state.context.chat.create_session(&me.user, start).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

#[utoipa::path(
    get,
    path = "/ai-chat/api/sessions/{id}/",
    tag = "chat",
    params(("id" = ChatSessionId, Path, description = "the session")),
    responses((status = 200, body = ChatSession), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError)),
    security(("token" = []))
)]
async fn get_session(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
) -> Result<Json<ChatSession>, AppError> {
    Ok(Json(state.context.chat.session(me.user.id, id).await?))
}

#[utoipa::path(
    patch,
    path = "/ai-chat/api/sessions/{id}/",
    tag = "chat",
    params(("id" = ChatSessionId, Path, description = "the session")), request_body = SessionUpdate,
    responses((status = 200, description = "the session as it is now", body = ChatSession), (status = 400, body = ApiError), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError), (status = 422, body = ApiError)),
    security(("token" = []))
)]
async fn update_session(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
    Body(update): Body<SessionUpdate>,
) -> Result<Json<ChatSession>, AppError> {
    Ok(Json(state.context.chat.update_session(me.user.id, id, update).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteQuery {
    /// Delete for good instead of archiving.
    #[serde(default)]
    permanent: bool,
}

/// Archives a session (restorable with `PATCH {"archived": false}`), or with `?permanent=true`
/// deletes it for good.
#[utoipa::path(
    delete,
    path = "/ai-chat/api/sessions/{id}/",
    tag = "chat",
    params(("id" = ChatSessionId, Path, description = "the session"), DeleteQuery),
    responses((status = 204, description = "archived, or deleted for good"), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError)),
    security(("token" = []))
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SendMessage {
    /// The user's message.
    message: String,
    /// An id of the client's choosing: sending the same one again answers with the stored exchange.
    #[serde(default)]
    client_id: Option<String>,
    /// The shape the reply must have, as in OpenAI's Chat Completions: `{"type": "json_schema",
    /// "json_schema": {"name": …, "schema": {…}}}` or `{"type": "json_object"}`; text by default.
    #[serde(default)]
    response_format: Option<ResponseFormat>,
    /// Structured values for the agent (an object), e.g. a submitted form's.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    values: Option<serde_json::Value>,
    /// Files uploaded to the session (`POST sessions/{id}/files/`) to send with the message.
    #[serde(default)]
    files: Vec<FileId>,
}

/// The non-streaming answer: the stored message and the reply once it has ended.
#[derive(Serialize, ToSchema)]
struct Answer {
    /// The stored message.
    user_message: ChatMessage,
    /// The reply, once it has ended; none for a repeated `client_id` whose reply was not kept.
    reply: Option<ChatMessage>,
    /// The reply's JSON document, parsed, when a JSON format was asked for and the reply is
    /// complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    data: Option<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/ai-chat/api/sessions/{id}/send_message/",
    tag = "chat",
    params(("id" = ChatSessionId, Path, description = "the session")), request_body = SendMessage,
    responses((status = 200, description = "the stored message and the reply once it has ended", body = Answer), (status = 400, body = ApiError), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError), (status = 409, description = "a reply is already being written", body = ApiError), (status = 422, body = ApiError), (status = 502, description = "the model failed", body = ApiError)),
    security(("token" = []))
)]
async fn send_message(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
    Body(send): Body<SendMessage>,
) -> Result<Json<Answer>, AppError> {
    let chat = &state.context.chat;
    let message = NewMessage {
        text: send.message,
        client_id: send.client_id,
        format: send.response_format,
        values: send.values,
        files: send.files,
    };
    let exchange = chat.send(me.user.id, id, message).await?;
    let reply = match exchange.reply {
        Some(reply) => Some(chat.wait_for(me.user.id, id, reply.id).await?),
        None => None,
    };
    let data = reply
        .as_ref()
        .filter(|r| r.response_format.is_some() && r.status == MessageStatus::Complete)
        .and_then(|r| serde_json::from_str(&r.content).ok());
    Ok(Json(Answer { user_message: exchange.user, reply, data }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// The file's name; its extension (or its content, for PDF, PNG and JPEG) tells its kind.
    filename: String,
}

/// Uploads a file to a session, to send with a message: the body is the file itself (up to
/// 10 MiB). Its text is extracted now: text, Markdown, CSV and JSON as they are (UTF-8), PDF
/// text, and the text in PNG and JPEG pictures by OCR.
#[utoipa::path(
    post,
    path = "/ai-chat/api/sessions/{id}/files/",
    tag = "chat",
    params(("id" = ChatSessionId, Path, description = "the session"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, description = "the stored file", body = FileInfo), (status = 400, description = "empty, badly named, or a kind not taken", body = ApiError), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError), (status = 413, description = "over 10 MiB", body = ApiError), (status = 422, description = "its text cannot be read", body = ApiError)),
    security(("token" = []))
)]
async fn upload_file(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
    Query(query): Query<UploadQuery>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<FileInfo>), AppError> {
    let file = state.context.chat.upload(me.user.id, id, &query.filename, body.to_vec()).await?;
    Ok((StatusCode::CREATED, Json(file)))
}

#[utoipa::path(
    get,
    path = "/ai-chat/api/sessions/{id}/files/",
    tag = "chat",
    params(("id" = ChatSessionId, Path, description = "the session")),
    responses((status = 200, description = "the files uploaded to the session, oldest first", body = [FileInfo]), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError)),
    security(("token" = []))
)]
async fn session_files(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
) -> Result<Json<Vec<FileInfo>>, AppError> {
    Ok(Json(state.context.chat.files(me.user.id, id).await?))
}

/// A file, as uploaded (downloaded, never shown inline).
#[utoipa::path(
    get,
    path = "/ai-chat/api/files/{id}/",
    tag = "chat",
    params(("id" = FileId, Path, description = "the file")),
    responses((status = 200, description = "the file", content_type = "application/octet-stream", body = Vec<u8>), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError)),
    security(("token" = []))
)]
async fn download_file(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<FileId>,
) -> Result<impl axum::response::IntoResponse, AppError> {
    let (info, bytes) = state.context.chat.file(me.user.id, id).await?;
    let name: String =
        info.filename.chars().map(|c| if c == '"' || !c.is_ascii() { '_' } else { c }).collect();
    let disposition = format!("attachment; filename=\"{name}\"");
    let headers = [
        (axum::http::header::CONTENT_TYPE, info.kind.content_type().to_owned()),
        (axum::http::header::CONTENT_DISPOSITION, disposition),
        (axum::http::header::CACHE_CONTROL, "private, max-age=86400".to_owned()),
    ];
    Ok((headers, bytes))
}

/// The user's answer to a call waiting for approval.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Approval {
    /// The call (from its `approval_request`).
    call_id: String,
    /// Run it (true) or refuse it.
    approved: bool,
}

/// Approves or refuses a tool call that the session's reply is waiting on.
#[utoipa::path(
    post,
    path = "/ai-chat/api/sessions/{id}/approve/",
    tag = "chat",
    params(("id" = ChatSessionId, Path, description = "the session")), request_body = Approval,
    responses((status = 204, description = "the reply goes on"), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError), (status = 409, description = "no such call is waiting", body = ApiError), (status = 422, body = ApiError)),
    security(("token" = []))
)]
async fn approve(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
    Body(approval): Body<Approval>,
) -> Result<StatusCode, AppError> {
    state.context.chat.approve(me.user.id, id, &approval.call_id, approval.approved).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The agents a session can be started with, and their start arguments.
#[utoipa::path(
    get,
    path = "/ai-chat/api/agents/",
    tag = "chat",
    responses((status = 200, body = AgentList), (status = 401, description = "not signed in", body = ApiError)),
    security(("token" = []))
)]
async fn agents(State(state): State<AppState>, _: Authenticated) -> Json<AgentList> {
    Json(state.context.chat.agents())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// The page before this message (the `earlier` of the previous page).
    before: Option<MessageId>,
}

#[utoipa::path(
    get,
    path = "/ai-chat/api/sessions/{id}/messages/",
    tag = "chat",
    params(("id" = ChatSessionId, Path, description = "the session"), PageQuery),
    responses((status = 200, description = "up to 100 messages, oldest first", body = MessagePage), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError)),
    security(("token" = []))
)]
async fn messages(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
    Query(query): Query<PageQuery>,
) -> Result<Json<MessagePage>, AppError> {
    Ok(Json(state.context.chat.messages(me.user.id, id, query.before).await?))
}

#[derive(Serialize, ToSchema)]
struct Stopped {
    /// Whether a reply was being written.
    stopped: bool,
}

#[utoipa::path(
    post,
    path = "/ai-chat/api/sessions/{id}/stop/",
    tag = "chat",
    params(("id" = ChatSessionId, Path, description = "the session")),
    responses((status = 200, description = "whether a reply was being written", body = Stopped), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError)),
    security(("token" = []))
)]
async fn stop(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<ChatSessionId>,
) -> Result<Json<Stopped>, AppError> {
    Ok(Json(Stopped { stopped: state.context.chat.stop(me.user.id, id).await? }))
}

#[utoipa::path(
    get,
    path = "/ai-chat/api/models/",
    tag = "chat",
    responses((status = 200, body = ModelList), (status = 401, description = "not signed in", body = ApiError)),
    security(("token" = []))
)]
async fn models(State(state): State<AppState>, _: Authenticated) -> Result<Json<ModelList>, AppError> {
    Ok(Json(state.context.chat.models().await?))
}

#[derive(Serialize, ToSchema)]
struct Synced {
    /// Every model found.
    models: Vec<ModelInfo>,
    /// The providers that did not answer.
    failed: Vec<SyncFailure>,
}

#[derive(Serialize, ToSchema)]
struct SyncFailure {
    /// The provider.
    provider: String,
    /// What went wrong.
    error: String,
}

#[utoipa::path(
    post,
    path = "/ai-chat/api/models/sync_models/",
    tag = "chat",
    responses((status = 200, description = "the models found, and the providers that failed", body = Synced), (status = 401, description = "not signed in", body = ApiError)),
    security(("token" = []))
)]
async fn sync_models(State(state): State<AppState>, _: Authenticated) -> Json<Synced> {
    let (models, failed) = state.context.chat.sync_models().await;
    let failed = failed.into_iter().map(|(provider, error)| SyncFailure { provider, error }).collect();
    Json(Synced { models, failed })
}

#[utoipa::path(
    get,
    path = "/ai-chat/api/presets/",
    tag = "chat",
    responses((status = 200, description = "the user's and public presets", body = [Preset]), (status = 401, description = "not signed in", body = ApiError)),
    security(("token" = []))
)]
async fn presets(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
) -> Result<Json<Vec<Preset>>, AppError> {
    Ok(Json(state.context.chat.presets(me.user.id).await?))
}

#[utoipa::path(
    post,
    path = "/ai-chat/api/presets/",
    tag = "chat",
    request_body = PresetDraft,
    responses((status = 201, body = Preset), (status = 400, body = ApiError), (status = 401, description = "not signed in", body = ApiError), (status = 422, body = ApiError)),
    security(("token" = []))
)]
async fn create_preset(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Body(draft): Body<PresetDraft>,
) -> Result<(StatusCode, Json<Preset>), AppError> {
    Ok((StatusCode::CREATED, Json(state.context.chat.save_preset(me.user.id, None, draft).await?)))
}

#[utoipa::path(
    get,
    path = "/ai-chat/api/presets/{id}/",
    tag = "chat",
    params(("id" = PresetId, Path, description = "the preset")),
    responses((status = 200, body = Preset), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError)),
    security(("token" = []))
)]
async fn get_preset(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<PresetId>,
) -> Result<Json<Preset>, AppError> {
    Ok(Json(state.context.chat.preset(me.user.id, id).await?))
}

#[utoipa::path(
    put,
    path = "/ai-chat/api/presets/{id}/",
    tag = "chat",
    params(("id" = PresetId, Path, description = "the preset")), request_body = PresetDraft,
    responses((status = 200, body = Preset), (status = 400, body = ApiError), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError), (status = 422, body = ApiError)),
    security(("token" = []))
)]
async fn update_preset(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<PresetId>,
    Body(draft): Body<PresetDraft>,
) -> Result<Json<Preset>, AppError> {
    Ok(Json(state.context.chat.save_preset(me.user.id, Some(id), draft).await?))
}

#[utoipa::path(
    delete,
    path = "/ai-chat/api/presets/{id}/",
    tag = "chat",
    params(("id" = PresetId, Path, description = "the preset")),
    responses((status = 204, description = "deleted"), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError)),
    security(("token" = []))
)]
async fn delete_preset(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<PresetId>,
) -> Result<StatusCode, AppError> {
    state.context.chat.delete_preset(me.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/ai-chat/api/presets/{id}/create_session_from_preset/",
    tag = "chat",
    params(("id" = PresetId, Path, description = "the preset")),
    responses((status = 201, description = "a session with the preset's settings", body = ChatSession), (status = 401, description = "not signed in", body = ApiError), (status = 404, description = "absent, or not yours", body = ApiError)),
    security(("token" = []))
)]
async fn session_from_preset(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
    Path(id): Path<PresetId>,
) -> Result<(StatusCode, Json<ChatSession>), AppError> {
    Ok((StatusCode::CREATED, Json(state.context.chat.create_session_from_preset(&me.user, id).await?)))
}

#[derive(Serialize, ToSchema)]
struct LlmHealth {
    /// Whether the default model's provider answers.
    ok: bool,
    /// The model new sessions get.
    default_model: String,
    /// Each provider's answer.
    providers: Vec<ProviderHealth>,
    /// Replies being written now.
    replies_in_progress: usize,
}

/// Whether the model providers answer: `ok` when the default model's provider does.
#[utoipa::path(
    get,
    path = "/ai-chat/api/health/llm_server/",
    tag = "chat",
    responses((status = 200, body = LlmHealth), (status = 401, description = "not signed in", body = ApiError)),
    security(("token" = []))
)]
async fn llm_health(State(state): State<AppState>, _: Authenticated) -> Json<LlmHealth> {
    let chat = &state.context.chat;
    let providers = chat.health().await;
    let default_model = chat.default_settings().model;
    let default_provider = default_model.split('/').next().unwrap_or_default();
    let ok = providers.iter().any(|p| p.provider == default_provider && p.ok);
    Json(LlmHealth { ok, default_model, providers, replies_in_progress: chat.replies_in_progress() })
}

#[utoipa::path(
    get,
    path = "/ai-chat/api/health/stats/",
    tag = "chat",
    responses((status = 200, body = ChatStats), (status = 401, description = "not signed in", body = ApiError)),
    security(("token" = []))
)]
async fn stats(
    State(state): State<AppState>,
    Authenticated(me): Authenticated,
) -> Result<Json<ChatStats>, AppError> {
    Ok(Json(state.context.chat.stats(me.user.id).await?))
}
