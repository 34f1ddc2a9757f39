//! Who is signed in, shared by every page: the session resource, the actions that change it,
//! and the guard for pages that need an account.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_location;

use crate::api::{ContinueAsGuest, LogIn, LogOut, SignUp, current_session};
use crate::protocol::{ApiError, SessionState, UserInfo};

/// The actions that sign in or out; the session reloads after each of them.
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
    /// The visitor: signed-in user (if any) and whether guest mode is on.
    pub session: Resource<Result<SessionState, ApiError>>,
}

/// Creates the session resource and its actions, and provides them to every page.
pub fn provide_auth() {
    let (log_in, sign_up) = (ServerAction::<LogIn>::new(), ServerAction::<SignUp>::new());
    let (guest, log_out) = (ServerAction::<ContinueAsGuest>::new(), ServerAction::<LogOut>::new());
    let session = Resource::new(
        move || {
            (log_in.version().get(), sign_up.version().get(), guest.version().get(), log_out.version().get())
        },
        |_| current_session(),
    );
    provide_context(Auth { log_in, sign_up, guest, log_out, session });
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
    let children = std::sync::Arc::new(children);
    let here = use_location().pathname.get_untracked();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {
                let children = children.clone();
                let here = here.clone();
                move || {
                    let children = children.clone();
                    let here = here.clone();
                    Suspend::new(async move {
                        match auth.session.await {
                            Ok(SessionState { user: Some(user), .. }) => children(user).into_any(),
                            Ok(_) => view! { <Redirect path=format!("/login?next={here}") /> }.into_any(),
                            Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                        }
                    })
                }
            }
        </Suspense>
    }
}
