use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{A, Redirect};
use leptos_router::hooks::use_query_map;

use crate::protocol::safe_next;
use crate::ui::common::FormError;
use crate::ui::session::use_auth;

/// Sign in with a username and password (or as a guest, when guest mode is on).
#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = use_auth();
    let next = use_query_map().with_untracked(|q| safe_next(q.get("next").as_deref()).to_owned());
    view! {
        <Title text="Sign in" />
        <AlreadySignedIn next=next.clone() />
        <section class="auth-card">
            <h1>"Sign in"</h1>
            <ActionForm action=auth.log_in>
                <label>"Username" <input name="username" autocomplete="username" required /></label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required />
                </label>
                <FormError result=auth.log_in.value() />
                <button type="submit" class="primary">"Sign in"</button>
            </ActionForm>
            <p class="muted">"No account yet? " <A href="/signup">"Create one"</A> "."</p>
            <GuestOption />
        </section>
    }
}

/// Create an account; the first one administers the instance.
#[component]
pub fn SignupPage() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Title text="Create an account" />
        <AlreadySignedIn next="/".to_owned() />
        <section class="auth-card">
            <h1>"Create an account"</h1>
            <ActionForm action=auth.sign_up>
                <label>
                    "Username"
                    <input name="username" autocomplete="username" required minlength="3" maxlength="32" />
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="new-password" required minlength="8" />
                </label>
                <label>
                    "Password again"
                    <input type="password" name="confirm" autocomplete="new-password" required minlength="8" />
                </label>
                <FormError result=auth.sign_up.value() />
                <button type="submit" class="primary">"Create account"</button>
            </ActionForm>
            <p class="muted">"Already have one? " <A href="/login">"Sign in"</A> "."</p>
        </section>
    }
}

/// Sends a visitor who is signed in already (say, after a sign-in without JavaScript) on to `next`.
#[component]
fn AlreadySignedIn(next: String) -> impl IntoView {
    let auth = use_auth();
    move || auth.session.get().user.is_some().then(|| view! { <Redirect path=next.clone() /> })
}

#[component]
fn GuestOption() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Show when=move || auth.session.get().guest_mode>
            <ActionForm action=auth.guest>
                <button type="submit">"Continue as a guest"</button>
            </ActionForm>
        </Show>
    }
}
