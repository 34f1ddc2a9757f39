//! The server side of the application: storage, accounts, assets and the services the API and
//! the websockets call. Compiled only with the `ssr` feature.

pub mod accounts;
pub mod agents;
mod assets;
pub mod chat;
mod classify;
mod db;
mod error;
pub mod events;
pub mod http;
mod hub;
mod replicas;
mod task;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

pub use assets::ModelAssets;
pub use classify::ServerClassifier;
pub use db::{Database, DatabaseError};
pub use error::{AppError, error_response, status_for};
pub use hub::Hub;
pub use replicas::ConnectionCounts;
pub use task::TaskGuard;
pub use throttle::FailureThrottle;

use self::accounts::Accounts;
use self::agents::{AgentsBuilder, CameraAssistant};
use self::chat::{ChatDefaults, ChatService, ChatStore, FileStore, providers::Providers};
use self::events::{
    AlertEngine, EventHandlers, EventStore, Ingest, LiveFeed, Rules, SightingPolicy, SightingTracker,
    Sightings, WebhookPolicy, Webhooks,
};
use self::replicas::RedisRelay;
use crate::protocol::{Check, Readiness};
use crate::vision::Labels;

/// Sign-in failures allowed per address and username within [`LOGIN_WINDOW`].
const LOGIN_FAILURES: usize = 5;
/// The window over which sign-in failures count.
const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Security settings that services and handlers consult.
#[derive(Clone, Debug)]
pub struct SecuritySettings {
    /// Whether visitors may use the app as a guest, without an account.
    pub guest_mode: bool,
    /// Origins besides the server's own that may send cookie-authenticated requests and open
    /// websockets, e.g. `https://app.example.com`.
    pub allowed_origins: Vec<String>,
    /// How long a browser session lasts after sign-in.
    pub session_lifetime: Duration,
    /// Which non-public hosts and ranges webhooks may reach (public ones always).
    pub webhooks: WebhookPolicy,
    /// The proxies whose `X-Forwarded-For` names the client (for sign-in throttling).
    pub trusted_proxies: http::TrustedProxies,
}

/// Everything a request handler or server function needs, shared by the whole server.
#[derive(Clone, Debug)]
pub struct AppContext {
    /// The application database.
    pub db: Database,
    /// Where the model files live.
    pub assets: ModelAssets,
    /// Users, sessions and tokens.
    pub accounts: Accounts,
    /// Security settings.
    pub security: Arc<SecuritySettings>,
    /// Throttles repeated sign-in failures (counted together by replicas sharing the database).
    pub login_throttle: FailureThrottle,
    /// The image model's class names, when the model assets are in place.
    pub labels: Option<Arc<Labels>>,
    /// Stores classification events.
    pub ingest: Ingest,
    /// Lists stored events.
    pub events: EventStore,
    /// Sightings: labels on streams from their appearance until they left.
    pub sightings: Sightings,
    /// Alert rules and alerts.
    pub rules: Rules,
    /// Classifies uploaded images.
    pub classifier: ServerClassifier,
    /// Pushes live updates to each user's open pages.
    pub hub: Hub,
    /// Chat sessions, messages, presets and replies.
    pub chat: ChatService,
    /// The hub's relay to the other replicas, when they share a Redis.
    relay: Option<Arc<RedisRelay>>,
}

impl AppContext {
    /// Wires the services over an open database; starts the event writer and the alert engine
    /// (so call it within a Tokio runtime). Stored events go to the live feed, the sightings (by
    /// `sighting_policy`) and alert rules, then to `custom_handlers`. Chat sessions are answered
    /// by `custom_agents` and the built-in `chat` (with `providers`) and `cameras`; files attached
    /// to messages go to `files_dir`.
    pub fn new(
        (db, files_dir): (Database, std::path::PathBuf),
        assets: ModelAssets,
        security: SecuritySettings,
        chat: (Providers, ChatDefaults),
        (custom_handlers, sighting_policy): (EventHandlers, SightingPolicy),
        custom_agents: AgentsBuilder,
    ) -> Self {
        let accounts = Accounts::new(db.pool().clone(), security.session_lifetime);
        let login_throttle = FailureThrottle::new(db.pool().clone(), LOGIN_FAILURES, LOGIN_WINDOW);
        let labels = match assets.labels() {
            Ok(labels) => Some(Arc::new(labels)),
            Err(e) => {
                tracing::warn!("image labels unavailable: {e}");
                None
            }
        };
        let hub = Hub::default();
        let rules = Rules::new(db.pool().clone(), Webhooks::new(security.webhooks.clone()), hub.clone());
        let sightings = Sightings::new(&db);
        let tracker = SightingTracker::new(sighting_policy);
        let mut handlers: EventHandlers = vec![
            Arc::new(LiveFeed::new(hub.clone())),
            Arc::new(AlertEngine::start(rules.clone(), (sightings.clone(), tracker), hub.clone())),
        ];
        handlers.extend(custom_handlers);
        let events = EventStore::new(db.pool().clone());
        let agents = custom_agents
            .register_builtin("cameras", CameraAssistant::new(events.clone(), rules.clone()))
            .build();
        Self {
            chat: ChatService::new(
                (ChatStore::new(&db), FileStore::new(db.pool().clone(), files_dir)),
                chat,
                agents,
                hub.clone(),
            ),
            ingest: Ingest::start(db.writer().clone(), handlers),
            hub,
            sightings,
            rules,
            events,
            classifier: ServerClassifier::new(assets.clone()),
            db,
            assets,
            accounts,
            security: Arc::new(security),
            login_throttle,
            labels,
            relay: None,
        }
    }

    /// Checks the database connection and every model asset, and Redis when replicas share one.
    pub async fn readiness(&self) -> Readiness {
        let database = match self.db.ping().await {
            Ok(()) => Check { name: "database".into(), ok: true, detail: self.db.kind().into() },
            Err(e) => Check { name: "database".into(), ok: false, detail: e },
        };
        let mut checks = vec![database];
        checks.extend(self.assets.checks());
        Readiness::from_checks(checks, self.relay.iter().map(|relay| relay.check()).collect())
    }

    /// Each user's websockets counted across the replicas, when they share a Redis.
    pub fn connection_counts(&self) -> Option<ConnectionCounts> {
        self.relay.as_ref().map(|relay| relay.connection_counts())
    }

    /// Why live updates from the other replicas do not reach this replica's pages now (their
    /// Redis is away); none when they do, or without replicas.
    pub fn replicas_degraded(&self) -> Option<String> {
        self.relay.as_ref().and_then(|relay| relay.degraded())
    }

    /// Relays the live hub through the Redis at `url`, so that the pages on every replica get
    /// what any replica publishes (see [`replicas`]), and shares the chat's replies through it.
    /// Call before the chat starts.
    pub fn connect_replicas(&mut self, url: &str) -> Result<(), String> {
        let relay = RedisRelay::start(url, self.hub.clone(), self.chat.sessions_hub())?;
        self.chat.share_replies(relay.shared_replies());
        self.relay = Some(relay);
        Ok(())
    }
}
