//! One module per page.

mod account;
mod admin;
mod auth;
mod camera;
mod events;
mod home;

pub use account::AccountPage;
pub use admin::UsersPage;
pub use auth::{LoginPage, SignupPage};
pub use camera::CameraPage;
pub use events::EventsPage;
pub use home::HomePage;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// Shown for any path the router does not know (served with status 404).
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <h1>"Page not found"</h1>
        <p>"There is nothing at this address. " <A href="/">"Back to the start page"</A> "."</p>
    }
}
