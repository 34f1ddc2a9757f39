use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::ui::common::FormError;
use crate::ui::session::use_auth;

/// Sign in with a username and password (or as a guest, when guest mode is on).
#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = use_auth();
    let next = move || use_query_map().with(|q| q.get("next")).unwrap_or_else(|| "/".into());
    view! {
        <Title text="Sign in" />
        <section class="auth-card">
            <h1>"Sign in"</h1>
            <ActionForm action=auth.log_in>
                <input type="hidden" name="next" value=next />
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

#[component]
fn GuestOption() -> impl IntoView {
    let auth = use_auth();
    let guest_mode = move || auth.session.get().and_then(Result::ok).is_some_and(|s| s.guest_mode);
    view! {
        <Transition>
            <Show when=guest_mode>
                <ActionForm action=auth.guest>
                    <button type="submit">"Continue as a guest"</button>
                </ActionForm>
            </Show>
        </Transition>
    }
}
