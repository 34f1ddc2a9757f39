//! The page's live connection to the server (`/ws/live`): opened while someone is signed in,
//! reconnected with back-off when it drops, and shown in the navigation bar. When the server
//! closes it because the session ended (signed out elsewhere, password changed, account
//! disabled), the page reloads its session and leaves pages that need an account.

use leptos::prelude::*;

use crate::protocol::{AlertInfo, Sighting, StoredEvent};

/// Where the live connection stands (only the browser moves it past `Idle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum LiveState {
    /// Not signed in, or not yet started.
    Idle,
    /// Opening, or waiting to reconnect.
    Connecting,
    /// Open and authenticated.
    Online,
    /// Open, but updates from the server's other replicas do not arrive (their shared Redis is
    /// away): what happens on this replica still does.
    Degraded,
    /// Dropped; retrying.
    Offline,
}

impl LiveState {
    /// A word for people and for `data-state`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connecting => "connecting",
            Self::Online => "online",
            Self::Degraded => "degraded",
            Self::Offline => "offline",
        }
    }
}

/// The live connection, provided to every page.
#[derive(Clone, Copy)]
pub struct Live {
    /// Where the connection stands.
    pub state: RwSignal<LiveState>,
    /// The newest event one of the user's cameras sent while this page was open.
    pub latest_event: RwSignal<Option<StoredEvent>>,
    /// The newest change to a sighting on one of the user's cameras (began, changed, ended).
    pub latest_sighting: RwSignal<Option<Sighting>>,
    /// The newest alert one of the user's rules fired while this page was open.
    pub latest_alert: RwSignal<Option<AlertInfo>>,
    /// Counts changes to the user's chat sessions (made on any page), so lists can refresh.
    pub chat_sessions_changed: RwSignal<u64>,
    /// Counts changes to the user's alert rules (made on any page), so lists can refresh.
    pub rules_changed: RwSignal<u64>,
}

/// Provides [`Live`] and, in the browser, keeps the connection open while someone is signed in.
pub fn provide_live() {
    let state = RwSignal::new(LiveState::Idle);
    let (latest_event, latest_alert) = (RwSignal::new(None), RwSignal::new(None));
    let live = Live {
        state,
        latest_event,
        latest_sighting: RwSignal::new(None),
        latest_alert,
        chat_sessions_changed: RwSignal::new(0),
        rules_changed: RwSignal::new(0),
    };
    provide_context(live);
    #[cfg(feature = "hydrate")]
    {
        let auth = super::session::use_auth();
        let running = StoredValue::new(false);
        Effect::new(move || {
            let signed_in = auth.session.get().user.is_some();
            if signed_in && !running.get_value() {
                running.set_value(true);
                leptos::task::spawn_local(async move {
                    client::run(live).await;
                    running.set_value(false);
                    state.set(LiveState::Idle);
                    auth.reload();
                });
            }
        });
    }
}

/// The navigation bar's indicator.
#[component]
pub fn LiveIndicator() -> impl IntoView {
    let state = expect_context::<Live>().state;
    let title = move || match state.get() {
        LiveState::Degraded => {
            "Live connection: degraded — updates from the other servers are paused; a reload shows them"
                .to_owned()
        }
        state => format!("Live connection: {}", state.label()),
    };
    view! {
        <span
            class="live-indicator"
            data-state=move || state.get().label()
            title=title
            aria-label=title
            role="status"
        ></span>
    }
}

#[cfg(feature = "hydrate")]
mod client {
    use std::time::Duration;

    use futures::StreamExt;
    use gloo_net::websocket::futures::WebSocket;
    use gloo_net::websocket::{Message, WebSocketError};
    use leptos::prelude::*;

    use super::{Live, LiveState};
    use crate::protocol::{LiveUpdate, parse_frame};
    use crate::ui::common::websocket_url;

    /// The close code the server uses when the session is no longer valid.
    const POLICY_VIOLATION: u16 = 1008;
    const MAX_BACKOFF: Duration = Duration::from_secs(30);

    /// An open connection's state, given why updates from the other replicas do not arrive.
    fn online(degraded: Option<&str>) -> LiveState {
        match degraded {
            Some(why) => {
                leptos::logging::warn!("live updates from the other servers are paused: {why}");
                LiveState::Degraded
            }
            None => LiveState::Online,
        }
    }

    /// Keeps the connection open until the server says the session ended.
    pub async fn run(
        Live { state, latest_event, latest_sighting, latest_alert, chat_sessions_changed, rules_changed }: Live,
    ) {
        let mut backoff = Duration::from_millis(500);
        loop {
            state.set(LiveState::Connecting);
            if let Ok(socket) = WebSocket::open(&websocket_url("/ws/live")) {
                let (_sender, mut receiver) = socket.split();
                while let Some(message) = receiver.next().await {
                    match message {
                        Ok(Message::Text(text)) => match parse_frame(&text) {
                            Ok(LiveUpdate::ConnectionEstablished { degraded, .. }) => {
                                state.set(online(degraded.as_deref()));
                                backoff = Duration::from_millis(500);
                            }
                            Ok(LiveUpdate::Replicas { degraded }) => state.set(online(degraded.as_deref())),
                            Ok(LiveUpdate::Event(event)) => latest_event.set(Some(event)),
                            Ok(LiveUpdate::Sighting(sighting)) => latest_sighting.set(Some(sighting)),
                            Ok(LiveUpdate::Alert(alert)) => latest_alert.set(Some(alert)),
                            Ok(LiveUpdate::RulesChanged) => rules_changed.update(|n| *n += 1),
                            Ok(
                                LiveUpdate::ChatSessionUpdated { .. } | LiveUpdate::ChatSessionDeleted { .. },
                            ) => {
                                chat_sessions_changed.update(|n| *n += 1);
                            }
                            _ => {}
                        },
                        Ok(Message::Bytes(_)) => {}
                        Err(WebSocketError::ConnectionClose(event)) if event.code == POLICY_VIOLATION => {
                            return;
                        }
                        Err(_) => break,
                    }
                }
            }
            state.set(LiveState::Offline);
            gloo_timers::future::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
