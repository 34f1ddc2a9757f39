//! The Chat page: the sessions sidebar, the transcript with replies streaming in, the composer,
//! and per-session settings and presets.

mod attachments;
mod conversation;
pub mod highlight;
pub mod markdown;
mod parts;
mod settings;
mod sidebar;

use crate::protocol::{ChatSessionId, PresetId};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use self::conversation::{Conversation, Entry, Link};
use self::highlight::Highlighting;
use self::markdown::StreamingMarkdown;
use self::settings::{PresetManager, SessionSettings};
use self::sidebar::Sidebar;
use crate::api::{chat_agents, chat_health, chat_models, create_chat, get_chat, sync_models};
use crate::protocol::{
    AgentList, AgentPath, ChatMessage, ChatRequest, ChatSession, MessageStatus, ModelList, ProviderHealth,
    Role, UserInfo,
};
use crate::ui::common::Loaded;
use crate::ui::live::Live;
use crate::ui::session::RequireUser;

/// Chat with a model: `/chat` lists the sessions, `/chat/{id}` opens one.
#[component]
pub fn ChatPage() -> impl IntoView {
    let params = use_params_map();
    let current =
        Memo::new(move |_| params.with(|p| p.get("id").and_then(|id| id.parse::<ChatSessionId>().ok())));
    let models = LocalResource::new(chat_models);
    provide_context(Highlighting::default());
    // On a phone the session list is a drawer; opening a chat closes it.
    let drawer = RwSignal::new(false);
    Effect::new(move |_| {
        current.track();
        drawer.set(false);
    });
    view! {
        <Title text="Chat" />
        <RequireUser children=move |_: UserInfo| {
            view! {
                <div class="chat-layout" class:drawer-open=move || drawer.get()>
                    <button
                        class="chat-drawer-toggle"
                        aria-controls="chat-sidebar"
                        aria-expanded=move || drawer.get().to_string()
                        on:click=move |_| drawer.update(|open| *open = !*open)
                    >
                        "☰ Chats"
                    </button>
                    <div class="chat-drawer-backdrop" on:click=move |_| drawer.set(false)></div>
                    <Sidebar current />
                    <section class="chat-main">
                        {move || match current.get() {
                            Some(id) => view! { <SessionView id models /> }.into_any(),
                            None => view! { <Welcome models /> }.into_any(),
                        }}
                    </section>
                </div>
            }
            .into_any()
        } />
    }
}

/// Starts a new chat (with a preset's settings, or an agent and the default settings) and
/// opens it.
fn start_chat(preset_id: Option<PresetId>, agent: Option<AgentPath>) {
    let navigate = leptos_router::hooks::use_navigate();
    leptos::task::spawn_local(async move {
        if let Ok(session) = create_chat(preset_id, agent).await {
            navigate(&format!("/chat/{}", session.id), Default::default());
        }
    });
}

/// The note the chosen model carries (e.g. that the offline model is small).
fn model_note(models: &ModelList, model: &str) -> Option<String> {
    models.models.iter().find(|m| m.id == model).and_then(|m| m.note.clone())
}

#[component]
fn Welcome(models: LocalResource<Result<ModelList, crate::protocol::ApiError>>) -> impl IntoView {
    let agents = LocalResource::new(chat_agents);
    let agent = RwSignal::new(AgentPath::default());
    view! {
        <div class="chat-welcome">
            <h1>"Chat"</h1>
            <p>"Pick a chat on the left, or start a new one. Replies stream in as the model writes them."</p>
            <div class="agent-picker">
                <Loaded resource=agents render=move |list: AgentList| {
                    let description = {
                        let list = list.clone();
                        move || list.agents.iter().find(|a| a.path == agent.get()).map(|a| a.description.clone())
                    };
                    view! {
                        <label for="agent-picker">"Answered by"</label>
                        <select id="agent-picker" on:change=move |ev| {
                            if let Ok(path) = AgentPath::parse(&event_target_value(&ev)) {
                                agent.set(path);
                            }
                        }>
                            {list.agents.iter().map(|a| view! {
                                <option value=a.path.to_string() selected=a.path == list.default_agent>{a.name.clone()}</option>
                            }).collect_view()}
                        </select>
                        <p class="muted agent-description">{description}</p>
                    }
                } />
                <button class="primary" on:click=move |_| start_chat(None, Some(agent.get_untracked()))>"New chat"</button>
            </div>
            <Loaded resource=models render={|list: ModelList| {
                let note = model_note(&list, &list.default_model);
                view! {
                    <p class="muted">"Default model: " <strong>{list.default_model.clone()}</strong></p>
                    {note.map(|note| view! { <p class="model-note">{note}</p> })}
                }
            }} />
            <PresetManager models />
            <ProviderStatus />
        </div>
    }
}

/// Whether each model provider answers, and a way to list their models again.
#[component]
fn ProviderStatus() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let health = LocalResource::new(move || {
        version.track();
        chat_health()
    });
    let failures = RwSignal::new(Vec::<String>::new());
    let sync = move |_| {
        leptos::task::spawn_local(async move {
            failures.set(sync_models().await.unwrap_or_else(|e| vec![e.message]));
            version.update(|v| *v += 1);
        });
    };
    view! {
        <section class="panel providers" aria-labelledby="providers-title">
            <h2 id="providers-title">"Model servers"</h2>
            <Loaded resource=health render={|list: Vec<ProviderHealth>| view! {
                <table class="list">
                    <thead><tr><th>"Provider"</th><th>"Kind"</th><th>"State"</th><th>"Detail"</th></tr></thead>
                    <tbody>
                        {list.into_iter().map(|p| view! {
                            <tr data-provider=p.provider.clone()>
                                <td>{p.provider.clone()}</td>
                                <td>{p.kind.as_str()}</td>
                                <td class=if p.ok { "success" } else { "error" }>{if p.ok { "ok" } else { "unreachable" }}</td>
                                <td>{format!("{} ({} ms)", p.detail, p.latency_ms)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }} />
            <button on:click=sync>"Sync models"</button>
            {move || failures.get().into_iter().map(|f| view! { <p class="error">{f}</p> }).collect_view()}
        </section>
    }
}

#[component]
fn SessionView(
    id: ChatSessionId,
    models: LocalResource<Result<ModelList, crate::protocol::ApiError>>,
) -> impl IntoView {
    let session = LocalResource::new(move || get_chat(id));
    let conversation = Conversation::open(id);
    // The title is set from the first message, and may be renamed on any page: follow it.
    let changed = expect_context::<Live>().chat_sessions_changed;
    let latest = LocalResource::new(move || {
        changed.track();
        get_chat(id)
    });
    view! {
        <Loaded resource=session render={move |session: ChatSession| {
            let settings = RwSignal::new(session.settings.clone());
            let title = move || {
                let latest = latest.get().and_then(Result::ok).map_or_else(|| session.title.clone(), |s| s.title);
                if latest.is_empty() { "New chat".to_owned() } else { latest }
            };
            view! {
                <header class="chat-header">
                    <h1 class="chat-title">{title}</h1>
                    {(session.agent != AgentPath::default()).then(|| view! {
                        <span class="chat-agent" title="The agent that answers">{session.agent.to_string()}</span>
                    })}
                    <span class="chat-model">{move || settings.get().model}</span>
                </header>
                <Loaded resource=models render={move |list: ModelList| {
                    let model = settings.get_untracked().model;
                    model_note(&list, &model).map(|note| view! { <p class="model-note">{note}</p> })
                }} />
                <SessionSettings id settings models />
                {session.archived.then(|| view! {
                    <p class="notice" role="status">"This chat is archived: restore it from the sidebar to continue it."</p>
                })}
            }
        }} />
        <attachments::SessionFiles session_id=id changed=Signal::derive(move || conversation.entries.with(Vec::len)) />
        <Transcript conversation />
        <Composer conversation />
    }
}

/// The messages, oldest first, with the controls of the last reply.
#[component]
fn Transcript(conversation: Conversation) -> impl IntoView {
    let load_earlier = move |_| {
        let Some(before) = conversation.earlier.get_untracked() else { return };
        leptos::task::spawn_local(async move {
            if let Ok(page) = crate::api::chat_messages(conversation.session_id, Some(before)).await {
                conversation.prepend(page.messages, page.earlier);
            }
        });
    };
    let last_id = Memo::new(move |_| conversation.entries.with(|e| e.last().map(|e| e.id)));
    view! {
        <div class="transcript" role="log" aria-live="polite" on:click=copy_code>
            {move || conversation.earlier.get().map(|_| view! {
                <button class="link-button load-earlier" on:click=load_earlier>"Load earlier messages"</button>
            })}
            <For each=move || conversation.entries.get() key=|entry| entry.id let:entry>
                <MessageView entry is_last=Signal::derive(move || last_id.get() == Some(entry.id)) conversation />
            </For>
            {move || (conversation.link.get() == Link::Online && conversation.entries.with(Vec::is_empty)).then(|| view! {
                <p class="muted empty-chat">"No messages yet. Say hello!"</p>
            })}
        </div>
    }
}

/// Copies a code block when its Copy button is clicked (buttons are part of rendered replies,
/// so one listener on the transcript serves them all).
fn copy_code(event: leptos::ev::MouseEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(button) = event.target().and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) else {
            return;
        };
        if !button.class_list().contains("copy-code") {
            return;
        }
        let code = button
            .closest(".code-block")
            .ok()
            .flatten()
            .and_then(|block| block.query_selector("code").ok().flatten())
            .and_then(|code| code.text_content());
        if let Some(code) = code {
            let _ = window().navigator().clipboard().write_text(&code);
            button.set_text_content(Some("Copied"));
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = event;
}

fn usage_line(message: &ChatMessage) -> Option<String> {
    let usage = message.usage?;
    Some(format!("{} prompt + {} reply tokens", usage.prompt_tokens, usage.completion_tokens))
}

/// The Markdown a message is shown as after its last part (all of it when it has none): its
/// text, or a JSON reply (one asked for a format) as a JSON code block.
fn shown_markdown(message: &ChatMessage) -> std::borrow::Cow<'_, str> {
    let after_parts =
        message.parts.last().and_then(|p| message.content.get(p.at..)).unwrap_or(&message.content);
    match (&message.response_format, message.role) {
        (Some(_), Role::Assistant) if !after_parts.is_empty() => {
            format!("```json\n{after_parts}\n```").into()
        }
        _ => after_parts.into(),
    }
}

/// The text of a message between its part `index - 1` and its part `index`, rendered.
fn text_before_part(message: &ChatMessage, index: usize) -> String {
    let from = index.checked_sub(1).and_then(|i| message.parts.get(i)).map_or(0, |p| p.at);
    let to = message.parts.get(index).map_or(from, |p| p.at);
    message.content.get(from..to).map(|text| markdown::render(text, None)).unwrap_or_default()
}

#[component]
fn MessageView(entry: Entry, is_last: Signal<bool>, conversation: Conversation) -> impl IntoView {
    let message = entry.message;
    let role = message.with_untracked(|m| m.role);
    let status = Memo::new(move |_| message.with(|m| m.status));
    // Finished blocks of the reply are rendered once; each chunk renders only the last block.
    let markdown = StoredValue::new(StreamingMarkdown::default());
    let highlighting = expect_context::<Highlighting>();
    Effect::new(move |_| message.with(|m| highlighting.load_for(&shown_markdown(m))));
    let rendered = Memo::new(move |_| {
        let streaming = status.get() == MessageStatus::Streaming;
        let grammars = highlighting.ready();
        message.with(|m| {
            let source = shown_markdown(m);
            markdown
                .try_update_value(|md| {
                    md.highlight_with(grammars);
                    if streaming { md.update(&source) } else { md.finish(&source) }
                })
                .unwrap_or_default()
        })
    });
    let blocks = move || rendered.with(|r| (0..r.blocks).map(|i| (r.generation, i)).collect::<Vec<_>>());
    let thinking = move || {
        status.get() == MessageStatus::Streaming
            && message.with(|m| m.content.is_empty() && m.parts.is_empty())
    };
    let idle = move || conversation.streaming.get().is_none() && conversation.link.get() == Link::Online;
    let status_label = move || match status.get() {
        MessageStatus::Stopped => Some("Stopped"),
        MessageStatus::Interrupted => Some("Interrupted: the server restarted while writing this reply"),
        _ => None,
    };
    view! {
        <article
            class="message"
            class:user=role == Role::User
            class:assistant=role == Role::Assistant
            data-status=move || format!("{:?}", status.get()).to_lowercase()
            data-message-id=entry.id.0
        >
            <div class="message-role">{if role == Role::User { "You" } else { "Assistant" }}</div>
            <attachments::MessageFiles files=message.with_untracked(|m| m.files.clone()) />
            {move || thinking().then(|| view! { <p class="thinking muted">"Assistant is thinking…"</p> })}
            <For each=move || 0..message.with(|m| m.parts.len()) key=|index| *index let:index>
                <div class="message-body markdown" inner_html=move || message.with(|m| text_before_part(m, index))></div>
                <parts::PartView message index conversation />
            </For>
            <div class="message-body markdown">
                <For each=blocks key=|key| *key let:key>
                    <div class="md-block" inner_html=markdown.with_value(|md| md.block(key.1).to_owned())></div>
                </For>
                <div class="md-block" inner_html=move || rendered.with(|r| r.tail.clone())></div>
            </div>
            {move || (status.get() == MessageStatus::Error).then(|| view! {
                <div class="message-error" role="alert">
                    <span>{message.with(|m| m.error.clone().unwrap_or_else(|| "The model failed.".into()))}</span>
                    {move || (is_last.get() && idle()).then(|| view! {
                        <button on:click=move |_| conversation.regenerate()>"Retry"</button>
                    })}
                </div>
            })}
            <footer class="message-meta muted">
                {move || status_label().map(|label| view! { <span class="message-status">{label}</span> })}
                {move || message.with(usage_line).map(|line| view! { <span class="usage">{line}</span> })}
                {move || (role == Role::Assistant && is_last.get() && idle()
                    && matches!(status.get(), MessageStatus::Complete | MessageStatus::Stopped | MessageStatus::Interrupted))
                    .then(|| view! {
                        <button class="link-button" on:click=move |_| conversation.regenerate()>"Regenerate"</button>
                    })}
            </footer>
        </article>
    }
}

/// Enter sends, Shift+Enter starts a new line; Stop while a reply streams. Files are attached
/// with the button or by dropping them on the composer.
#[component]
fn Composer(conversation: Conversation) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let attachments = attachments::Attachments::new(conversation.session_id);
    // Whether the other pages of this session were told the user is typing.
    let typing = StoredValue::new(false);
    let set_typing = move |now: bool| {
        if typing.get_value() != now {
            typing.set_value(now);
            conversation.request(if now { ChatRequest::Typing } else { ChatRequest::StopTyping });
        }
    };
    let online = move || conversation.link.get() == Link::Online;
    let streaming = move || conversation.streaming.get().is_some();
    let submit = move || {
        let message = text.get_untracked();
        if message.trim().is_empty() || !online() || streaming() || attachments.uploading() {
            return;
        }
        set_typing(false);
        conversation.send_with(message, None, attachments.ready());
        attachments.clear();
        text.set(String::new());
    };
    let on_key = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
            event.prevent_default();
            submit();
        }
    };
    view! {
        <form
            class="composer"
            on:submit=move |event| { event.prevent_default(); submit(); }
            on:dragover=|event: leptos::ev::DragEvent| event.prevent_default()
            on:drop=move |event| attachments::attach_dropped(attachments, event)
        >
            {move || conversation.notice.get().map(|notice| view! { <p class="error" role="alert">{notice}</p> })}
            <label for="chat-input" class="visually-hidden">"Message"</label>
            <textarea
                id="chat-input"
                rows="3"
                placeholder=move || if online() { "Write a message (Enter sends, Shift+Enter for a new line)" } else { "Connecting…" }
                prop:value=move || text.get()
                on:input=move |event| {
                    text.set(event_target_value(&event));
                    set_typing(!text.with_untracked(String::is_empty));
                }
                on:blur=move |_| set_typing(false)
                on:keydown=on_key
                disabled=move || !online()
            ></textarea>
            <attachments::AttachmentChips attachments />
            {move || conversation.typing_elsewhere.get().then(|| view! {
                <p class="muted typing-elsewhere">"You are typing in this chat on another page…"</p>
            })}
            <div class="composer-actions">
                <label class="attach-button">
                    "Attach files"
                    <input
                        type="file"
                        multiple
                        class="visually-hidden"
                        accept=".txt,.md,.markdown,.csv,.json,.pdf,.png,.jpg,.jpeg"
                        on:change=move |event| attachments::attach_picked(attachments, event)
                    />
                </label>
                <span class="muted connection" data-state=move || if online() { "online" } else { "connecting" }>
                    {move || if online() { "" } else { "Offline: reconnecting…" }}
                </span>
                {move || if streaming() {
                    view! {
                        <button type="button" class="stop" on:click=move |_| conversation.request(ChatRequest::Stop)>
                            "Stop"
                        </button>
                    }.into_any()
                } else {
                    view! { <button type="submit" class="primary" disabled=move || !online()>"Send"</button> }.into_any()
                }}
            </div>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{MessageId, MessageStatus, ResponseFormat};

    fn message(role: Role, content: &str, response_format: Option<ResponseFormat>) -> ChatMessage {
        ChatMessage {
            response_format,
            ..ChatMessage::new(MessageId(1), role, content.into(), MessageStatus::Complete)
        }
    }

    #[test]
    fn a_json_reply_is_shown_as_a_json_block_and_other_messages_as_written() {
        let json = Some(ResponseFormat::JsonObject);
        let reply = message(Role::Assistant, r#"{"city": "Paris"}"#, json.clone());
        assert_eq!(shown_markdown(&reply), "```json\n{\"city\": \"Paris\"}\n```");
        assert!(markdown::render(&shown_markdown(&reply), None).contains("<pre"), "a code block");
        let asked = message(Role::User, "Where is the **Eiffel Tower**?", json.clone());
        assert_eq!(shown_markdown(&asked), "Where is the **Eiffel Tower**?", "the question stays Markdown");
        assert_eq!(shown_markdown(&message(Role::Assistant, "", json)), "", "nothing yet: no empty block");
        assert_eq!(shown_markdown(&message(Role::Assistant, "*hi*", None)), "*hi*");
    }

    #[test]
    fn a_reply_s_text_is_shown_between_its_parts() {
        let widget = crate::protocol::ReplyPart::Widget(crate::protocol::WidgetPart {
            kind: "image".into(),
            data: serde_json::json!({}),
        });
        let mut reply = message(Role::Assistant, "Here it is: **cat**. Seen once.", None);
        reply.parts = vec![crate::protocol::PlacedPart { at: 20, part: widget }];
        assert!(text_before_part(&reply, 0).contains("<strong>cat</strong>"));
        assert_eq!(shown_markdown(&reply), " Seen once.", "the text after the last part streams on");
    }
}
