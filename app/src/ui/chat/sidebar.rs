//! The sessions sidebar: new chat, search by title, rename, archive and restore, delete for good.

use crate::protocol::ChatSessionId;
use leptos::prelude::*;
use leptos_router::components::A;

use super::start_chat;
use crate::api::{delete_chat, list_chats, update_chat};
use crate::protocol::{ChatSession, SessionUpdate};
use crate::ui::common::Loaded;
use crate::ui::live::Live;

/// The user's chats, most recent first; refreshed whenever one changes on any page.
#[component]
pub fn Sidebar(current: Memo<Option<ChatSessionId>>) -> impl IntoView {
    let changed = expect_context::<Live>().chat_sessions_changed;
    let search = RwSignal::new(String::new());
    let archived = RwSignal::new(false);
    let sessions = LocalResource::new(move || {
        changed.track();
        let (archived, search) = (archived.get(), search.get());
        async move { list_chats(archived, Some(search).filter(|s| !s.trim().is_empty())).await }
    });
    view! {
        <aside class="chat-sidebar" id="chat-sidebar" aria-label="Chats">
            <button class="primary new-chat" on:click=move |_| start_chat(None, None)>"New chat"</button>
            <input
                type="search"
                class="session-search"
                placeholder="Search chats"
                aria-label="Search chats"
                on:input=move |event| search.set(event_target_value(&event))
            />
            <label class="checkbox">
                <input type="checkbox" on:change=move |event| archived.set(event_target_checked(&event)) />
                "Show archived"
            </label>
            <Loaded resource=sessions render={move |list: Vec<ChatSession>| {
                if list.is_empty() {
                    return view! { <p class="muted">"No chats here."</p> }.into_any();
                }
                // Keyed, so a refreshed list never reuses one chat's row for another.
                view! {
                    <ul class="session-list">
                        <For
                            each=move || list.clone()
                            key=|session| (session.id, session.title.clone(), session.archived)
                            let:session
                        >
                            <SessionItem session current />
                        </For>
                    </ul>
                }
                .into_any()
            }} />
        </aside>
    }
}

/// Runs a change to the session list, then refreshes it (the live connection also would).
fn change(action: impl Future<Output = Result<(), crate::protocol::ApiError>> + 'static) {
    let changed = expect_context::<Live>().chat_sessions_changed;
    leptos::task::spawn_local(async move {
        if action.await.is_ok() {
            changed.update(|n| *n += 1);
        }
    });
}

async fn update(id: ChatSessionId, update: SessionUpdate) -> Result<(), crate::protocol::ApiError> {
    update_chat(id, update).await.map(drop)
}

#[component]
fn SessionItem(session: ChatSession, current: Memo<Option<ChatSessionId>>) -> impl IntoView {
    let id = session.id;
    let title = if session.title.is_empty() { "New chat".to_owned() } else { session.title.clone() };
    let renaming = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let draft = RwSignal::new(title.clone());
    let title = StoredValue::new(title);
    let navigate = leptos_router::hooks::use_navigate();
    let leave_if_open = move || {
        if current.get_untracked() == Some(id) {
            navigate("/chat", Default::default());
        }
    };
    let leave = leave_if_open.clone();
    let rename = move || {
        renaming.set(false);
        change(update(id, SessionUpdate { title: Some(draft.get_untracked()), ..SessionUpdate::default() }));
    };
    let archived = session.archived;
    view! {
        <li class="session-item" class:current=move || current.get() == Some(id) data-session-id=id.0>
            {move || if renaming.get() {
                view! {
                    <form class="rename" on:submit=move |event| { event.prevent_default(); rename(); }>
                        <input
                            aria-label="New title"
                            prop:value=move || draft.get()
                            on:input=move |event| draft.set(event_target_value(&event))
                        />
                        <button type="submit">"Save"</button>
                    </form>
                }.into_any()
            } else {
                view! { <A href=format!("/chat/{id}") attr:class="session-link">{title.get_value()}</A> }.into_any()
            }}
            <div class="session-actions">
                <button class="link-button" on:click=move |_| renaming.update(|r| *r = !*r)>"Rename"</button>
                {if archived {
                    view! {
                        <button class="link-button" on:click=move |_| change(update(id, SessionUpdate { archived: Some(false), ..SessionUpdate::default() }))>
                            "Restore"
                        </button>
                        {move || if confirming.get() {
                            let leave = leave.clone();
                            view! {
                                <button class="link-button danger" on:click=move |_| { leave(); change(delete_chat(id)); }>
                                    "Confirm delete"
                                </button>
                            }.into_any()
                        } else {
                            view! { <button class="link-button danger" on:click=move |_| confirming.set(true)>"Delete forever"</button> }.into_any()
                        }}
                    }.into_any()
                } else {
                    view! {
                        <button class="link-button" on:click=move |_| {
                            leave_if_open();
                            change(update(id, SessionUpdate { archived: Some(true), ..SessionUpdate::default() }));
                        }>"Archive"</button>
                    }.into_any()
                }}
            </div>
        </li>
    }
}
