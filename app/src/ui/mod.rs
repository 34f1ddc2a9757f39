//! The user interface: the HTML shell, the router with its navigation bar, the pages, and the
//! reusable camera components ([`vision`]).

mod alerts;
mod chart;
pub mod chat;
mod common;
mod live;
mod pages;
mod session;
pub mod vision;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

use chat::ChatPage;
use live::{LiveIndicator, provide_live};
use pages::{AccountPage, CameraPage, EventsPage, HomePage, LoginPage, NotFound, SignupPage, UsersPage};
use session::{provide_auth, use_auth};

/// The document around the app, rendered on the server for every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    allow_this_pages_scripts();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Sends the page's Content-Security-Policy, naming the nonce its inline scripts carry.
#[cfg(feature = "ssr")]
fn allow_this_pages_scripts() {
    use axum::http::{HeaderValue, header::CONTENT_SECURITY_POLICY};

    let nonce = leptos::nonce::use_nonce();
    let policy = crate::backend::http::content_security_policy(nonce.as_deref());
    if let (Some(response), Ok(policy)) =
        (use_context::<leptos_axum::ResponseOptions>(), HeaderValue::from_str(&policy))
    {
        response.insert_header(CONTENT_SECURITY_POLICY, policy);
    }
}

/// The application: navigation bar and routed pages.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_auth();
    provide_live();
    mark_hydrated();

    view! {
        <Stylesheet id="leptos" href="/pkg/ai-channels.css" />
        <Title formatter=|page: String| {
            if page.is_empty() { "AI Channels".to_owned() } else { format!("{page} · AI Channels") }
        } />
        <Router>
            <NavBar />
            <main class="page">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage />
                    <Route path=path!("/chat") view=ChatPage />
                    <Route path=path!("/chat/:id") view=ChatPage />
                    <Route path=path!("/camera") view=CameraPage />
                    <Route path=path!("/events") view=EventsPage />
                    <Route path=path!("/account") view=AccountPage />
                    <Route path=path!("/admin/users") view=UsersPage />
                    <Route path=path!("/login") view=LoginPage />
                    <Route path=path!("/signup") view=SignupPage />
                </Routes>
            </main>
            <alerts::AlertToasts />
        </Router>
    }
}

/// Flags `<body data-hydrated>` once the WebAssembly has taken over the server-rendered page,
/// so styles (and end-to-end tests) can tell a live page from a static one.
fn mark_hydrated() {
    Effect::new(|| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "");
        }
    });
}

#[component]
fn NavBar() -> impl IntoView {
    let (open, set_open) = signal(false);
    let close = move |_| set_open.set(false);
    view! {
        <header class="navbar">
            <A href="/" attr:class="brand" on:click=close>
                <span class="brand-mark" aria-hidden="true">"◉"</span>
                "AI Channels"
            </A>
            <button
                class="nav-toggle"
                aria-label="Menu"
                aria-controls="nav-links"
                aria-expanded=move || open.get().to_string()
                on:click=move |_| set_open.update(|o| *o = !*o)
            >
                "☰"
            </button>
            <nav id="nav-links" class="nav-links" class:open=open aria-label="Main">
                <A href="/chat" on:click=close>"Chat"</A>
                <A href="/camera" on:click=close>"Camera"</A>
                <A href="/events" on:click=close>"Events"</A>
                <UserMenu />
            </nav>
        </header>
    }
}

/// Sign-in link for visitors; account, users (administrators) and sign-out for users.
#[component]
fn UserMenu() -> impl IntoView {
    let auth = use_auth();
    view! {
        {move || match auth.session.get().user {
                Some(user) => view! {
                    <span class="user-menu">
                        <LiveIndicator />
                        {user.is_admin.then(|| view! { <A href="/admin/users">"Users"</A> })}
                        <A href="/account" attr:title="Account">{user.username}</A>
                        <ActionForm action=auth.log_out attr:class="logout">
                            <button type="submit" class="link-button">"Sign out"</button>
                        </ActionForm>
                    </span>
                }.into_any(),
                None => view! { <A href="/login">"Sign in"</A> }.into_any(),
            }}
    }
}
