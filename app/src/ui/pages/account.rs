use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{ChangePassword, CreateToken, RevokeSession, RevokeToken, list_sessions, list_tokens};
use crate::protocol::{ApiTokenInfo, SessionInfo, UserInfo};
use crate::ui::common::{FormError, ListTable, Loaded, format_time, reloaded_after};
use crate::ui::session::RequireUser;

/// The signed-in user's settings: password, API tokens, browser sessions.
#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <Title text="Account" />
        <RequireUser children=|user: UserInfo| {
            view! {
                <h1>"Account"</h1>
                <p class="muted">"Signed in as " <strong>{user.username.clone()}</strong></p>
                {(!user.is_guest).then(PasswordForm)}
                <Tokens />
                <Sessions />
            }
        } />
    }
}

#[component]
fn PasswordForm() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let done = move || matches!(change.value().get(), Some(Ok(())));
    view! {
        <section class="panel" aria-labelledby="password-title">
            <h2 id="password-title">"Password"</h2>
            <ActionForm action=change>
                <label>
                    "Current password"
                    <input type="password" name="current" autocomplete="current-password" required />
                </label>
                <label>
                    "New password"
                    <input type="password" name="new" autocomplete="new-password" required minlength="8" />
                </label>
                <label>
                    "New password again"
                    <input type="password" name="confirm" autocomplete="new-password" required minlength="8" />
                </label>
                <FormError result=change.value() />
                <Show when=done>
                    <p class="success" role="status">"Password changed. Other browsers were signed out."</p>
                </Show>
                <button type="submit">"Change password"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn Tokens() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = LocalResource::new(move || {
        // Read to re-fetch after each of these actions.
        create.version().track();
        revoke.version().track();
        list_tokens()
    });
    let created = move || create.value().get().and_then(Result::ok);
    view! {
        <section class="panel" aria-labelledby="tokens-title">
            <h2 id="tokens-title">"API tokens"</h2>
            <p class="muted">
                "Programs authenticate with " <code>"Authorization: Token <token>"</code>
                " (websockets also accept " <code>"?token=<token>"</code> ")."
            </p>
            <ActionForm action=create attr:class="inline-form">
                <label>"Name" <input name="name" required maxlength="64" placeholder="e.g. camera script" /></label>
                <button type="submit">"Create token"</button>
            </ActionForm>
            <FormError result=create.value() />
            {move || created().map(|token| view! {
                <div class="new-token" role="status">
                    <p>"Copy the new token now: it is shown only once."</p>
                    <input class="token-secret" readonly value=token.secret aria-label="New token" />
                </div>
            })}
            <Loaded resource=tokens render={move |list: Vec<ApiTokenInfo>| view! {
                <ListTable
                    empty=list.is_empty()
                    note="No tokens yet."
                    headings=&["Name", "Token", "Created", "Last used", ""]
                >
                    {list.iter().map(|token| {
                        let id = token.id;
                        view! {
                            <tr class="token-row">
                                <td>{token.name.clone()}</td>
                                <td><code>{token.prefix.clone()}"…"</code></td>
                                <td>{format_time(&token.created_at)}</td>
                                <td>{token.last_used_at.as_ref().map_or_else(|| "never".into(), format_time)}</td>
                                <td>
                                    <button on:click=move |_| { revoke.dispatch(RevokeToken { id }); }>"Revoke"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </ListTable>
            }} />
        </section>
    }
}

#[component]
fn Sessions() -> impl IntoView {
    let revoke = ServerAction::<RevokeSession>::new();
    let sessions = reloaded_after(revoke.version(), list_sessions);
    view! {
        <section class="panel" aria-labelledby="sessions-title">
            <h2 id="sessions-title">"Signed-in browsers"</h2>
            <Loaded resource=sessions render={move |list: Vec<SessionInfo>| view! {
                <ul class="sessions">
                    {list.into_iter().map(|session| view! {
                        <li>
                            <span>{session.user_agent}</span>
                            <span class="muted">"last seen " {format_time(&session.last_seen_at)}</span>
                            {if session.current {
                                view! { <strong>"this browser"</strong> }.into_any()
                            } else {
                                view! {
                                    <button on:click=move |_| { revoke.dispatch(RevokeSession { id: session.id }); }>
                                        "Sign out"
                                    </button>
                                }.into_any()
                            }}
                        </li>
                    }).collect_view()}
                </ul>
            }} />
        </section>
    }
}
