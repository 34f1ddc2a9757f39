//! The HTTP router: Leptos pages and server functions, REST, websockets, static files, health.

mod account;
mod chat;
mod classify;
mod errors;
mod events;
mod health;
mod web_runtime;

use app::{App, shell};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, file_and_error_handler_with_context, generate_route_list};

use crate::startup::AppState;
use crate::{auth, security, telemetry, ws};

/// Builds the whole router over `state`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let context = state.context.clone();
    let provide = move || provide_context(context.clone());
    let leptos = state.leptos.clone();

    Router::new()
        .merge(health::router())
        .merge(account::router())
        .merge(chat::router())
        .merge(classify::router())
        .merge(events::router())
        .merge(web_runtime::router(&state.context.assets))
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
