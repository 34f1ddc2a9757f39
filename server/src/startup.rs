use std::future::Future;
use std::net::SocketAddr;

use std::time::Duration;

use app::backend::agents::AgentsBuilder;
use app::backend::events::EventHandlers;
use app::backend::{AppContext, Database, DatabaseError, ModelAssets, SecuritySettings};
use axum::Router;
use axum::extract::FromRef;
use axum::serve::ListenerExt;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use crate::routes;
use crate::ws::ConnectionSlots;
use crate::{Config, WebsocketConfig};

/// How often events past their retention are deleted.
const RETENTION_PERIOD: Duration = Duration::from_secs(3600);

/// Name of the generated JavaScript/WebAssembly/CSS files under `pkg/` (as cargo-leptos names them).
const OUTPUT_NAME: &str = "ai-channels";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// The chat could not be set up.
    #[error("chat: {0}")]
    Chat(String),
    /// The replicas' Redis is misconfigured.
    #[error("replicas: {0}")]
    Replicas(String),
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
    /// Websocket limits.
    pub websocket: WebsocketConfig,
    /// Open websocket connections per user.
    pub ws_slots: ConnectionSlots,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// What an application adds to the server at start-up.
#[derive(Default)]
pub struct Extensions {
    /// [`EventHandler`]s that see every stored classification event after the built-in ones.
    ///
    /// [`EventHandler`]: app::backend::events::EventHandler
    pub handlers: EventHandlers,
    /// Agents, registered by path beside the built-in `chat` and `cameras`.
    pub agents: AgentsBuilder,
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
        Self::build_with(config, Extensions::default()).await
    }

    /// Like [`Application::build`], with the application's own event handlers and agents.
    pub async fn build_with(config: Config, extensions: Extensions) -> Result<Self, StartupError> {
        let db = Database::connect(&config.database_url).await?;
        let security = SecuritySettings {
            guest_mode: config.guest_mode,
            allowed_origins: config.allowed_origins.clone(),
            session_lifetime: Duration::from_secs(u64::from(config.session_days) * 24 * 3600),
            webhooks: config.webhook_allow.clone(),
            trusted_proxies: config.trusted_proxies.clone(),
        };
        let assets = ModelAssets::new(&config.models_dir);
        let providers = config.chat.providers(&assets).map_err(StartupError::Chat)?;
        let mut agents = extensions.agents;
        if config.agent_examples {
            agents = app::backend::agents::examples::register(agents);
        }
        let chat = (providers, config.chat.defaults());
        let mut context = AppContext::new(
            (db, config.files_dir.clone()),
            assets,
            security,
            chat,
            (extensions.handlers, config.sightings),
            agents,
        );
        if let Some(url) = &config.redis_url {
            context.connect_replicas(url).map_err(StartupError::Replicas)?;
        }
        context.chat.start().await.map_err(|e| StartupError::Chat(e.to_string()))?;
        if config.event_retention_days > 0 {
            let retention = chrono::TimeDelta::days(i64::from(config.event_retention_days));
            context.events.spawn_retention(retention, RETENTION_PERIOD);
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartupError::Bind { addr: config.listen, source })?;
        let leptos = LeptosOptions::builder()
            .output_name(OUTPUT_NAME)
            .site_root(config.site_root.to_string_lossy().as_ref())
            .site_addr(config.listen)
            .build();
        let router = routes::router(AppState {
            leptos,
            context: context.clone(),
            ws_slots: ConnectionSlots::new(
                config.websocket.connections_per_user,
                context.connection_counts(),
            ),
            websocket: config.websocket,
            max_body_bytes: config.max_body_bytes,
        });
        Ok(Self { listener, router, context })
    }

    /// Gets the default chat model ready in the background, so the first reply does not wait
    /// for it to load. For a serving process; tests skip it.
    pub fn warm_up(&self) {
        self.context.chat.warm_up_default_model();
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish and closes the
    /// database.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        // Streamed replies and live updates are many small writes: send each at once.
        let listener = self.listener.tap_io(|stream| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
        });
        let served = axum::serve(listener, service).with_graceful_shutdown(shutdown).await;
        self.context.db.close().await;
        served
    }
}
