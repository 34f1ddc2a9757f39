use std::future::Future;
use std::net::SocketAddr;

use app::backend::{AppContext, Database, DatabaseError, ModelAssets};
use axum::Router;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use crate::Config;
use crate::routes;

/// Name of the generated JavaScript/WebAssembly/CSS files under `pkg/` (as cargo-leptos names them).
const OUTPUT_NAME: &str = "ai-channels";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// The router's shared state.
#[derive(Clone)]
pub struct AppState {
    /// Leptos's settings (site root, output name) for rendering and static files.
    pub leptos: LeptosOptions,
    /// The application's services.
    pub context: AppContext,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// A server that is bound to its port and ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    context: AppContext,
}

impl Application {
    /// Opens the database (applying migrations), binds the listening socket (port 0 picks a free
    /// one) and builds the router.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let db = Database::connect(&config.database_url).await?;
        let context = AppContext { db, assets: ModelAssets::new(&config.models_dir) };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartupError::Bind { addr: config.listen, source })?;
        let leptos = LeptosOptions::builder()
            .output_name(OUTPUT_NAME)
            .site_root(config.site_root.to_string_lossy().as_ref())
            .site_addr(config.listen)
            .build();
        let router = routes::router(AppState { leptos, context: context.clone() });
        Ok(Self { listener, router, context })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish and closes the
    /// database.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let served = axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await;
        self.context.db.close().await;
        served
    }
}
