//! Per-session settings (model, temperature, max tokens, system prompt) and presets: reusable
//! settings, private or shared, to start chats from.

use crate::protocol::{ChatSessionId, PresetId};
use leptos::prelude::*;

use super::start_chat;
use crate::api::{chat_presets, delete_preset, save_preset, update_chat};
use crate::protocol::{
    ApiError, ChatSettings, MAX_REPLY_TOKENS, ModelList, Preset, PresetDraft, SessionUpdate,
};
use crate::ui::common::Loaded;

type Models = LocalResource<Result<ModelList, ApiError>>;

/// The inputs of a [`ChatSettings`], bound to `settings`.
#[component]
fn SettingsFields(settings: RwSignal<ChatSettings>, models: Models, prefix: &'static str) -> impl IntoView {
    let field = move |name: &str| format!("{prefix}-{name}");
    let model_options = move |list: ModelList| {
        let chosen = settings.get_untracked().model;
        let mut options: Vec<(String, String)> =
            list.models.iter().map(|m| (m.id.clone(), m.name.clone())).collect();
        if !options.iter().any(|(id, _)| *id == chosen) {
            options.push((chosen.clone(), chosen.clone()));
        }
        view! {
            <select
                id=field("model")
                on:change=move |event| settings.update(|s| s.model = event_target_value(&event))
            >
                {options.into_iter().map(|(id, name)| {
                    let selected = id == chosen;
                    view! { <option value=id.clone() selected=selected>{format!("{name} ({id})")}</option> }
                }).collect_view()}
            </select>
        }
    };
    view! {
        <label for=field("model")>"Model"</label>
        <Loaded resource=models render=model_options />
        <label for=field("temperature")>"Temperature (0–2)"</label>
        <input
            id=field("temperature")
            type="number" min="0" max="2" step="0.1"
            prop:value=move || settings.get().temperature.to_string()
            on:change=move |event| {
                if let Ok(t) = event_target_value(&event).parse() { settings.update(|s| s.temperature = t) }
            }
        />
        <label for=field("max-tokens")>"Max tokens per reply"</label>
        <input
            id=field("max-tokens")
            type="number" min="1" max=MAX_REPLY_TOKENS
            prop:value=move || settings.get().max_tokens.to_string()
            on:change=move |event| {
                if let Ok(n) = event_target_value(&event).parse() { settings.update(|s| s.max_tokens = n) }
            }
        />
        <label for=field("system")>"System prompt"</label>
        <textarea
            id=field("system")
            rows="3"
            prop:value=move || settings.get().system_prompt
            on:input=move |event| settings.update(|s| s.system_prompt = event_target_value(&event))
        ></textarea>
    }
}

/// The session's settings, saved on request; and "save as preset".
#[component]
pub fn SessionSettings(id: ChatSessionId, settings: RwSignal<ChatSettings>, models: Models) -> impl IntoView {
    let saved = RwSignal::new(None::<Result<String, String>>);
    let preset_name = RwSignal::new(String::new());
    let public = RwSignal::new(false);
    let save = move |_| {
        let update =
            SessionUpdate { settings: Some(settings.get_untracked().into()), ..SessionUpdate::default() };
        leptos::task::spawn_local(async move {
            saved.set(Some(
                update_chat(id, update).await.map(|_| "Settings saved.".to_owned()).map_err(|e| e.message),
            ));
        });
    };
    let save_as_preset = move |_| {
        let draft = PresetDraft {
            name: preset_name.get_untracked(),
            description: String::new(),
            settings: settings.get_untracked(),
            public: public.get_untracked(),
        };
        leptos::task::spawn_local(async move {
            let outcome = save_preset(None, draft).await;
            saved.set(Some(
                outcome.map(|p| format!("Preset “{}” saved.", p.preset.name)).map_err(|e| e.message),
            ));
        });
    };
    view! {
        <details class="chat-settings">
            <summary>"Settings"</summary>
            <div class="form-grid">
                <SettingsFields settings models prefix="session" />
            </div>
            <button on:click=save>"Save settings"</button>
            <div class="save-preset">
                <label for="preset-name">"Save these settings as a preset named"</label>
                <input id="preset-name" prop:value=move || preset_name.get() on:input=move |e| preset_name.set(event_target_value(&e)) />
                <label class="checkbox">
                    <input type="checkbox" on:change=move |e| public.set(event_target_checked(&e)) />
                    "Public (every user can start chats from it)"
                </label>
                <button on:click=save_as_preset>"Save as preset"</button>
            </div>
            {move || saved.get().map(|outcome| match outcome {
                Ok(text) => view! { <p class="success" role="status">{text}</p> }.into_any(),
                Err(text) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
            })}
        </details>
    }
}

/// Presets: start a chat from one, edit or delete your own, create new ones.
#[component]
pub fn PresetManager(models: Models) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let presets = LocalResource::new(move || {
        version.track();
        chat_presets()
    });
    let editing = RwSignal::new(None::<Option<PresetId>>);
    let draft = RwSignal::new(ChatSettings {
        model: String::new(),
        temperature: 0.7,
        max_tokens: 512,
        system_prompt: String::new(),
    });
    let (name, description, public) =
        (RwSignal::new(String::new()), RwSignal::new(String::new()), RwSignal::new(false));
    let error = RwSignal::new(None::<String>);
    let edit = move |preset: Option<Preset>| {
        let model = models.get_untracked().and_then(Result::ok).map(|m| m.default_model).unwrap_or_default();
        match preset {
            Some(p) => {
                draft.set(p.preset.settings);
                name.set(p.preset.name);
                description.set(p.preset.description);
                public.set(p.preset.public);
                editing.set(Some(Some(p.id)));
            }
            None => {
                draft.set(ChatSettings {
                    model,
                    temperature: 0.7,
                    max_tokens: 512,
                    system_prompt: String::new(),
                });
                name.set(String::new());
                description.set(String::new());
                public.set(false);
                editing.set(Some(None));
            }
        }
    };
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let Some(id) = editing.get_untracked() else { return };
        let preset = PresetDraft {
            name: name.get_untracked(),
            description: description.get_untracked(),
            settings: draft.get_untracked(),
            public: public.get_untracked(),
        };
        leptos::task::spawn_local(async move {
            match save_preset(id, preset).await {
                Ok(_) => {
                    editing.set(None);
                    error.set(None);
                    version.update(|v| *v += 1);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let remove = move |id: PresetId| {
        leptos::task::spawn_local(async move {
            if delete_preset(id).await.is_ok() {
                version.update(|v| *v += 1);
            }
        });
    };
    view! {
        <section class="panel presets" aria-labelledby="presets-title">
            <h2 id="presets-title">"Presets"</h2>
            <Loaded resource=presets render={move |list: Vec<Preset>| {
                if list.is_empty() {
                    return view! { <p class="muted">"No presets yet."</p> }.into_any();
                }
                view! {
                    <ul class="preset-list">
                        <For each=move || list.clone() key=|preset| format!("{preset:?}") children=move |preset: Preset| {
                            let id = preset.id;
                            let mine = preset.mine;
                            let shown = preset.clone();
                            view! {
                                <li class="preset" data-preset-id=id.0>
                                    <strong>{preset.preset.name.clone()}</strong>
                                    <span class="muted">{format!(" {} · {}", preset.preset.settings.model, if preset.preset.public { "public" } else { "private" })}</span>
                                    {(!mine).then(|| view! { <span class="muted">{format!(" by {}", preset.owner)}</span> })}
                                    <p class="muted">{preset.preset.description.clone()}</p>
                                    <button on:click=move |_| start_chat(Some(id), None)>"Start chat"</button>
                                    {mine.then(|| view! {
                                        <button class="link-button" on:click=move |_| edit(Some(shown.clone()))>"Edit"</button>
                                        <button class="link-button danger" on:click=move |_| remove(id)>"Delete"</button>
                                    })}
                                </li>
                            }
                        } />
                    </ul>
                }.into_any()
            }} />
            {move || match editing.get() {
                None => view! { <button on:click=move |_| edit(None)>"New preset"</button> }.into_any(),
                Some(_) => view! {
                    <form class="form-grid preset-form" on:submit=submit>
                        <label for="preset-form-name">"Name"</label>
                        <input id="preset-form-name" prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e)) />
                        <label for="preset-form-description">"Description"</label>
                        <input id="preset-form-description" prop:value=move || description.get() on:input=move |e| description.set(event_target_value(&e)) />
                        <SettingsFields settings=draft models prefix="preset" />
                        <label class="checkbox">
                            <input type="checkbox" prop:checked=move || public.get() on:change=move |e| public.set(event_target_checked(&e)) />
                            "Public"
                        </label>
                        <div>
                            <button type="submit" class="primary">"Save preset"</button>
                            <button type="button" class="link-button" on:click=move |_| editing.set(None)>"Cancel"</button>
                        </div>
                        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                    </form>
                }.into_any(),
            }}
        </section>
    }
}
