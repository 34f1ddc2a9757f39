//! What the browser runs models with, self-hosted (pages never load from a CDN): onnxruntime-web's
//! `dist/` and LiteRT.js, the image models with their labels, and the grammars the chat highlights code with; and
//! how browsers cache static files. Files are served brotli- or gzip-compressed when the set-up or
//! the build wrote a `.br` / `.gz` beside them and the browser accepts it.

use app::backend::{AppError, ModelAssets};
use app::ui::chat::highlight::{self, GRAMMARS_URL};
use app::vision::{self, BrowserEngine};
use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::OnceCell;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeader;

use crate::startup::AppState;

/// Serves each browser engine's runtime directory ([`ModelAssets::runtime_dir`]) under its
/// [`BrowserEngine::runtime_url`] (`.wasm` as `application/wasm`, JavaScript as
/// `text/javascript`) and [`ModelAssets::BROWSER_MODELS`] under [`vision::BROWSER_MODELS_URL`],
/// and the grammars at [`GRAMMARS_URL`].
pub fn router(assets: &ModelAssets) -> Router<AppState> {
    let runtimes = BrowserEngine::FASTEST_FIRST.iter().fold(Router::new(), |router, &engine| {
        let dir = assets.path(ModelAssets::runtime_dir(engine));
        let files = revalidated(ServeDir::new(dir).precompressed_br().precompressed_gzip());
        router.nest_service(engine.runtime_url(), files)
    });
    let models = ModelAssets::BROWSER_MODELS.iter().fold(Router::new(), |router, &name| {
        let url = format!("{}/{name}", vision::BROWSER_MODELS_URL);
        router.route_service(
            &url,
            revalidated(ServeFile::new(assets.path(name)).precompressed_br().precompressed_gzip()),
        )
    });
    runtimes.layer(middleware::from_fn(javascript_type)).merge(models).route(GRAMMARS_URL, get(grammars))
}

/// The site's own files under `/pkg/` (WebAssembly, JavaScript, CSS, the model worker's script),
/// compressed when the build wrote compressed copies and answered `304 Not Modified` to a browser
/// whose copy is current. (Leptos's fallback file handler would serve them too, but drops the
/// request's conditional headers, so browsers would download them again on every visit.)
pub fn site_files(options: &leptos::config::LeptosOptions) -> SetResponseHeader<ServeDir, HeaderValue> {
    let dir = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    revalidated(ServeDir::new(dir).precompressed_br().precompressed_gzip())
}

/// Lets browsers keep the files `service` serves under names that do not change with their
/// content, but ask on each visit whether they changed (`Cache-Control: no-cache`, answered
/// `304 Not Modified` with no body while they have not): a second visit downloads none of their
/// bytes again, and a new build is picked up at once.
fn revalidated<S>(service: S) -> SetResponseHeader<S, HeaderValue> {
    SetResponseHeader::if_not_present(service, CACHE_CONTROL, HeaderValue::from_static("no-cache"))
}

/// The server's grammars as the browser reads them, written once on first demand. The URL names
/// the version, so browsers keep them for good.
async fn grammars() -> Result<Response, AppError> {
    static DUMP: OnceCell<Vec<u8>> = OnceCell::const_new();
    let dump = DUMP
        .get_or_try_init(|| async {
            let grammars = highlight::grammars().ok_or("no grammars")?;
            tokio::task::spawn_blocking(|| grammars.dump()).await.map_err(|e| e.to_string())?
        })
        .await
        .map_err(AppError::Internal)?;
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
        (CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
    ];
    Ok((headers, dump.clone()).into_response())
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
