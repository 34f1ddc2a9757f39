//! What the browser runs models with, self-hosted (pages never load from a CDN): onnxruntime-web's
//! `dist/` and the image model with its labels.

use app::backend::ModelAssets;
use app::vision;
use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::services::{ServeDir, ServeFile};

use crate::startup::AppState;

/// Serves [`ModelAssets::WEB_RUNTIME_DIR`] under [`vision::WEB_RUNTIME_URL`] (`.wasm` as
/// `application/wasm`, JavaScript as `text/javascript`) and [`ModelAssets::BROWSER_MODELS`] under
/// [`vision::BROWSER_MODELS_URL`].
pub fn router(assets: &ModelAssets) -> Router<AppState> {
    let files = ServeDir::new(assets.path(ModelAssets::WEB_RUNTIME_DIR));
    let models = ModelAssets::BROWSER_MODELS.iter().fold(Router::new(), |router, &name| {
        let url = format!("{}/{name}", vision::BROWSER_MODELS_URL);
        router.route_service(&url, ServeFile::new(assets.path(name)))
    });
    Router::new()
        .nest_service(vision::WEB_RUNTIME_URL, files)
        .layer(middleware::from_fn(javascript_type))
        .merge(models)
}

/// Labels `.js`/`.mjs` files with the standard JavaScript type (RFC 9239) rather than the legacy
/// `application/javascript`.
async fn javascript_type(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let javascript = path.ends_with(".mjs") || path.ends_with(".js");
    let mut response = next.run(request).await;
    if javascript && response.status().is_success() {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    }
    response
}
