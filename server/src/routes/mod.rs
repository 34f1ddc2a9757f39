//! The HTTP router: Leptos pages and server functions, REST, websockets, static files, health.

mod account;
mod chat;
mod classify;
mod errors;
mod events;
mod health;
mod web_runtime;

use app::protocol::{ChatSessionId, EventId, FileId, MessageId, PresetId};
use app::{App, shell};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::middleware;
use axum::routing::get;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, file_and_error_handler_with_context, generate_route_list};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::startup::AppState;
use crate::{auth, security, telemetry, ws};

/// The REST API: its routes, and the OpenAPI 3.1 description generated from them and their types.
pub fn rest_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(account::router())
        .merge(chat::router())
        .merge(classify::router())
        .merge(events::router())
}

/// The API's title, description and security scheme; the paths come from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "AI Channels API",
        version = "1",
        description = "The REST API. Authenticate with `Authorization: Token aic_…` (or the browser's session \
                       cookie). Errors are `{code, message}`. Streaming chat replies go over the websocket \
                       `/ws/ai-chat/session/{id}/` (see the README); the pages' server functions are \
                       `POST /api/<name>`."
    ),
    components(schemas(ChatSessionId, EventId, FileId, MessageId, PresetId)),
    modifiers(&TokenScheme)
)]
struct ApiDoc;

/// Adds the `token` security scheme the operations name.
struct TokenScheme;

impl Modify for TokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = ApiKey::Header(ApiKeyValue::with_description("Authorization", "`Token aic_…`"));
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("token", SecurityScheme::ApiKey(scheme));
    }
}

/// Builds the whole router over `state`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let context = state.context.clone();
    let provide = move || provide_context(context.clone());
    let leptos = state.leptos.clone();

    let (rest, openapi) = rest_api().split_for_parts();
    // Serialised once: the document does not change while the server runs.
    let openapi = ([(header::CONTENT_TYPE, "application/json")], openapi.to_json().unwrap_or_default());
    Router::new()
        .merge(rest)
        .route("/openapi.json", get(move || std::future::ready(openapi.clone())))
        .merge(web_runtime::router(&state.context.assets))
        .nest_service("/pkg", web_runtime::site_files(&state.leptos))
        .route("/ws/live", get(ws::live::handler))
        .route("/ws/events/{stream}", get(ws::events::handler))
        .route("/ws/ai-chat/session/{session_id}/", get(ws::chat::session_handler))
        .route("/ws/ai-chat/session/{session_id}", get(ws::chat::session_handler))
        .route("/ws/ai-chat/sessions/", get(ws::chat::sessions_handler))
        .route("/ws/ai-chat/sessions", get(ws::chat::sessions_handler))
        .leptos_routes_with_context(&state, routes, provide.clone(), move || shell(leptos.clone()))
        .fallback(file_and_error_handler_with_context::<AppState, _>(provide, shell))
        .layer(middleware::from_fn_with_state(state.clone(), auth::identify_page_visitor))
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_sign_in))
        .layer(middleware::from_fn(errors::server_fn_status))
        .layer(middleware::from_fn_with_state(state.clone(), security::forbid_cross_site))
        .layer(middleware::from_fn(security::headers))
        .layer(middleware::from_fn_with_state(state.clone(), errors::limit_body))
        // The body limit above applies to every route; axum's own default would answer in text.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(telemetry::log_request))
        .with_state(state)
}
