//! The HTTP router: Leptos pages and server functions, static files, health checks.

mod health;
mod web_runtime;

use app::{App, shell};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, file_and_error_handler_with_context, generate_route_list};
use tower_http::trace::TraceLayer;

use crate::startup::AppState;

/// Builds the whole router over `state`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let context = state.context.clone();
    let provide = move || provide_context(context.clone());
    let leptos = state.leptos.clone();

    Router::new()
        .merge(health::router())
        .merge(web_runtime::router(&state.context.assets))
        .leptos_routes_with_context(&state, routes, provide.clone(), move || shell(leptos.clone()))
        .fallback(file_and_error_handler_with_context::<AppState, _>(provide, shell))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
