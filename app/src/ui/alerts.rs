//! Alerts in the page: a toast on every page when a rule fires, and on the Events page the list
//! of alerts and the rules that fire them (create, edit, pause, delete).

use leptos::prelude::*;

use crate::api::{DeleteRule, PauseRule, SaveRule, list_alerts, list_rules};
use crate::protocol::{AlertInfo, RuleDraft, RuleInfo};
use crate::ui::common::{FormError, ListTable, Loaded, format_time};
use crate::ui::live::Live;

/// Toasts shown at once, newest last.
const MAX_TOASTS: usize = 3;

fn thumbnail(alert: &AlertInfo) -> Option<impl IntoView + use<>> {
    alert.thumbnail_event_id.map(|id| view! { <img src=format!("/api/events/{id}/thumbnail") alt="" /> })
}

fn describe(alert: &AlertInfo) -> String {
    format!("{}: {} ({:.0}%) on {}", alert.rule_name, alert.label, alert.score * 100.0, alert.stream)
}

/// Whether what an alert was about is still there, or when it left.
fn presence(alert: &AlertInfo) -> String {
    match (alert.sighting_id, alert.left_at) {
        (Some(_), Some(left_at)) => format!("left {}", format_time(&left_at)),
        (Some(_), None) => "still there".into(),
        (None, _) => String::new(),
    }
}

/// When a rule fires, for people.
fn fires_when(rule: &RuleDraft) -> String {
    match rule.stays_secs {
        0 => "appears".into(),
        secs => format!("stays {secs} s"),
    }
}

/// Pops up each alert as it fires, on whatever page is open, until dismissed.
#[component]
pub fn AlertToasts() -> impl IntoView {
    let latest = expect_context::<Live>().latest_alert;
    let shown = RwSignal::new(Vec::<AlertInfo>::new());
    Effect::new(move || {
        if let Some(alert) = latest.get() {
            shown.update(|list| {
                list.push(alert);
                if list.len() > MAX_TOASTS {
                    list.remove(0);
                }
            });
        }
    });
    view! {
        <div class="toasts" aria-live="polite">
            <For each=move || shown.get() key=|alert| alert.id let:alert>
                <div class="toast" role="alert">
                    {thumbnail(&alert)}
                    <span>{describe(&alert)}</span>
                    <button on:click=move |_| shown.update(|list| list.retain(|a| a.id != alert.id))>"Dismiss"</button>
                </div>
            </For>
        </div>
    }
}

/// The latest alerts, refreshed as new ones fire and as what they were about leaves.
#[component]
pub fn AlertList() -> impl IntoView {
    let live = expect_context::<Live>();
    let latest = live.latest_alert;
    let left =
        Memo::new(move |_| live.latest_sighting.with(|s| s.as_ref().filter(|s| s.ended()).map(|s| s.id)));
    let alerts = LocalResource::new(move || {
        latest.track();
        left.track();
        list_alerts()
    });
    view! {
        <section class="panel alerts" aria-labelledby="alerts-title">
            <h2 id="alerts-title">"Alerts"</h2>
            <Loaded resource=alerts render={|list: Vec<AlertInfo>| view! {
                <ListTable
                    empty=list.is_empty()
                    note="No alerts yet: add a rule below."
                    headings=&["", "Alert", "When", "Seen", "Webhook"]
                >
                    {list.iter().map(|alert| view! {
                        <tr class="alert-row">
                            <td>{thumbnail(alert)}</td>
                            <td>{describe(alert)}</td>
                            <td>{format_time(&alert.fired_at)}</td>
                            <td class="presence">{presence(alert)}</td>
                            <td>{alert.webhook_status.as_ref().map(ToString::to_string)}</td>
                        </tr>
                    }).collect_view()}
                </ListTable>
            }} />
        </section>
    }
}

/// The user's rules, with a form to add or edit one.
#[component]
pub fn RuleManager() -> impl IntoView {
    let save = ServerAction::<SaveRule>::new();
    let pause = ServerAction::<PauseRule>::new();
    let delete = ServerAction::<DeleteRule>::new();
    let changed = expect_context::<Live>().rules_changed;
    let rules = LocalResource::new(move || {
        // Read to re-fetch after each of these actions, and whenever the rules change elsewhere
        // (another tab, another device).
        save.version().track();
        pause.version().track();
        delete.version().track();
        changed.track();
        list_rules()
    });
    let editing = RwSignal::new(None::<RuleInfo>);
    Effect::new(move || {
        if let Some(Ok(_)) = save.value().get() {
            editing.set(None);
        }
    });
    view! {
        <section class="panel rules" aria-labelledby="rules-title">
            <h2 id="rules-title">"Rules"</h2>
            <p class="muted">
                "A rule fires when the median score of a stream's last few events for one of its labels reaches \
                 the minimum (it appears), or once a sighting of one of its labels has lasted the given time \
                 (it stays), then stays quiet for its cooldown."
            </p>
            <Loaded resource=rules render={move |list: Vec<RuleInfo>| view! {
                <ListTable
                    empty=list.is_empty()
                    note="No rules yet."
                    headings=&["Name", "Labels", "Score", "Stream", "Fires when", "Cooldown", ""]
                >
                    {list.iter().map(|rule| {
                        let (id, paused) = (rule.id, rule.paused);
                        let edit = rule.clone();
                        view! {
                            <tr class="rule-row" class:rule-paused=paused>
                                <td>{rule.rule.name.clone()} {paused.then_some(" (paused)")}</td>
                                <td>{rule.rule.labels.clone()}</td>
                                <td>{format!("≥ {:.0}%", rule.rule.min_score * 100.0)}</td>
                                <td>{rule.rule.stream.clone().unwrap_or_else(|| "any".into())}</td>
                                <td>{fires_when(&rule.rule)}</td>
                                <td>{format!("{} s", rule.rule.cooldown_secs)}</td>
                                <td class="actions">
                                    <button on:click=move |_| editing.set(Some(edit.clone()))>"Edit"</button>
                                    <button on:click=move |_| { pause.dispatch(PauseRule { id, paused: !paused }); }>
                                        {if paused { "Resume" } else { "Pause" }}
                                    </button>
                                    <button on:click=move |_| { delete.dispatch(DeleteRule { id }); }>"Delete"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </ListTable>
            }} />
            <FormError result=pause.value() />
            <FormError result=delete.value() />
            // A fresh form after each save, or to edit another rule.
            {move || {
                save.version().get();
                view! { <RuleForm save=save editing=editing.get() cancel=move || editing.set(None) /> }
            }}
        </section>
    }
    .into_any()
}

/// Adds a rule, or edits `editing`.
#[component]
fn RuleForm(
    save: ServerAction<SaveRule>,
    editing: Option<RuleInfo>,
    cancel: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let id = editing.as_ref().map(|rule| rule.id);
    let current = editing.map_or_else(
        || RuleDraft {
            name: String::new(),
            labels: String::new(),
            min_score: 0.5,
            stream: None,
            cooldown_secs: 60,
            stays_secs: 0,
            webhook_url: None,
        },
        |rule| rule.rule,
    );
    let (name, labels, min_score, stream) = (NodeRef::new(), NodeRef::new(), NodeRef::new(), NodeRef::new());
    let (cooldown, stays, webhook) = (NodeRef::new(), NodeRef::new(), NodeRef::new());
    let value =
        |node: NodeRef<leptos::html::Input>| node.get().map(|input| input.value()).unwrap_or_default();
    let optional = move |node| Some(value(node)).filter(|v| !v.trim().is_empty());
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        save.dispatch(SaveRule {
            id,
            rule: RuleDraft {
                name: value(name),
                labels: value(labels),
                min_score: value(min_score).parse().unwrap_or(f64::NAN),
                stream: optional(stream),
                cooldown_secs: value(cooldown).parse().unwrap_or(u32::MAX),
                stays_secs: value(stays).parse().unwrap_or(u32::MAX),
                webhook_url: optional(webhook),
            },
        });
    };
    view! {
        <form class="stacked-form rule-form" on:submit=on_submit>
            <h3>{if id.is_some() { "Edit rule" } else { "New rule" }}</h3>
            <label>"Name" <input node_ref=name name="name" required maxlength="64" value=current.name /></label>
            <label>
                "Labels (comma-separated)"
                <input node_ref=labels name="labels" required placeholder="e.g. cat, dog" value=current.labels />
            </label>
            <label>
                "Minimum score"
                <input node_ref=min_score name="min_score" type="number" min="0" max="1" step="0.05"
                    value=current.min_score />
            </label>
            <label>
                "Stream (empty: any)"
                <input node_ref=stream name="stream" value=current.stream.unwrap_or_default() />
            </label>
            <label>
                "Cooldown (seconds)"
                <input node_ref=cooldown name="cooldown" type="number" min="0" max="86400" value=current.cooldown_secs />
            </label>
            <label>
                "Stays at least (seconds; 0: as soon as it appears)"
                <input node_ref=stays name="stays" type="number" min="0" max="3600" value=current.stays_secs />
            </label>
            <label>
                "Webhook (optional)"
                <input node_ref=webhook name="webhook" type="url" placeholder="https://…"
                    value=current.webhook_url.unwrap_or_default() />
            </label>
            <FormError result=save.value() />
            <div class="camera-buttons">
                <button type="submit">{if id.is_some() { "Save rule" } else { "Add rule" }}</button>
                {id.map(|_| view! { <button type="button" on:click=move |_| cancel()>"Cancel"</button> })}
            </div>
        </form>
    }
    .into_any()
}
