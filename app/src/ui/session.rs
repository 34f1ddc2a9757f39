//! Who is signed in, shared by every page: the visitor, the actions that change it,
//! and the guard for pages that need an account.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_location;

use crate::api::{ContinueAsGuest, LogIn, LogOut, SignUp};
use crate::protocol::{SessionState, UserInfo};

/// The actions that sign in or out, and the visitor they act on.
#[derive(Clone, Copy)]
pub struct Auth {
    /// Sign in with a password.
    pub log_in: ServerAction<LogIn>,
    /// Create an account.
    pub sign_up: ServerAction<SignUp>,
    /// Sign in as a guest.
    pub guest: ServerAction<ContinueAsGuest>,
    /// Sign out.
    pub log_out: ServerAction<LogOut>,
    /// The visitor: signed-in user (if any) and whether guest mode is on. Known when the page
    /// renders: the server authenticates the request first.
    pub session: RwSignal<SessionState>,
}

/// Provides the visitor and the actions that change it to every page.
pub fn provide_auth() {
    let (log_in, sign_up) = (ServerAction::<LogIn>::new(), ServerAction::<SignUp>::new());
    let (guest, log_out) = (ServerAction::<ContinueAsGuest>::new(), ServerAction::<LogOut>::new());
    let session = RwSignal::new(SharedValue::new(visitor_on_the_server).into_inner());
    provide_context(Auth { log_in, sign_up, guest, log_out, session });
    // After signing in or out, load the next page afresh, so everything on it (and the server's
    // first render) belongs to the new visitor.
    #[cfg(feature = "hydrate")]
    Effect::new(move || {
        let done = |value: Option<Result<(), crate::protocol::ApiError>>| matches!(value, Some(Ok(())));
        if done(log_out.value().get()) {
            load_page("/login");
        } else if done(log_in.value().get()) || done(sign_up.value().get()) || done(guest.value().get()) {
            let next = web_sys::Url::new(&window().location().href().unwrap_or_default())
                .ok()
                .and_then(|url| url.search_params().get("next"));
            load_page(crate::protocol::safe_next(next.as_deref()));
        }
    });
}

#[cfg(feature = "hydrate")]
fn load_page(path: &str) {
    let _ = window().location().assign(path);
}

#[cfg(feature = "hydrate")]
impl Auth {
    /// Asks the server who the visitor is now (after the session ended elsewhere).
    pub fn reload(self) {
        leptos::task::spawn_local(async move {
            if let Ok(state) = crate::api::current_session().await {
                self.session.set(state);
            }
        });
    }
}

/// The visitor of the request being rendered, as the server's authentication found them.
fn visitor_on_the_server() -> SessionState {
    #[cfg(feature = "ssr")]
    {
        use crate::backend::{AppContext, accounts::PageVisitor};
        let user = use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<PageVisitor>().cloned())
            .and_then(|visitor| visitor.0);
        let guest_mode = use_context::<AppContext>().is_some_and(|context| context.security.guest_mode);
        SessionState { user, guest_mode }
    }
    #[cfg(not(feature = "ssr"))]
    SessionState { user: None, guest_mode: false }
}

/// The session context provided by [`provide_auth`].
pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

/// Renders `children` with the signed-in user; visitors who are not signed in go to the sign-in
/// page, and come back here afterwards.
#[component]
pub fn RequireUser<V: IntoView + 'static>(
    children: impl Fn(UserInfo) -> V + Send + Sync + 'static,
) -> impl IntoView {
    let auth = use_auth();
    let here = use_location().pathname.get_untracked();
    move || match auth.session.get().user {
        Some(user) => children(user).into_any(),
        None => view! { <Redirect path=format!("/login?next={here}") /> }.into_any(),
    }
}
