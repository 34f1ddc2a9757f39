use crate::protocol::EventId;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{ListEvents, recent_activity};
use crate::protocol::{EventPage, StoredEvent, UserInfo};
use crate::ui::alerts::{AlertList, RuleManager};
use crate::ui::common::{FormError, Loaded, format_time};
use crate::ui::live::Live;
use crate::ui::session::RequireUser;

/// What the cameras recognised: the history, newest first, with filters and paging.
#[component]
pub fn EventsPage() -> impl IntoView {
    view! {
        <Title text="Events" />
        <RequireUser children=|_: UserInfo| {
            view! {
                <h1>"Events"</h1>
                <ActivityChart />
                <AlertList />
                <History />
                <RuleManager />
            }
            .into_any()
        } />
    }
}

/// Filters with nothing set: every event.
fn every_event() -> ListEvents {
    ListEvents { stream: None, label: None, min_score: None, since: None, until: None, before_id: None }
}

/// A `datetime-local` input's value, read as UTC (the times on this page are UTC).
fn utc_time(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M").ok().map(|time| time.and_utc())
}

#[component]
fn History() -> impl IntoView {
    let search = ServerAction::<ListEvents>::new();
    let shown = RwSignal::new(Vec::<StoredEvent>::new());
    let next = RwSignal::new(None::<EventId>);
    let filters = StoredValue::new(every_event());
    let (stream, label, min_score) = (NodeRef::new(), NodeRef::new(), NodeRef::new());
    let (since, until) = (NodeRef::new(), NodeRef::new());
    // Each answer replaces the list, or extends it when it is an older page.
    Effect::new(move || {
        if let Some(Ok(EventPage { events, next_before_id })) = search.value().get() {
            if filters.with_value(|f| f.before_id.is_some()) {
                shown.update(|list| list.extend(events));
            } else {
                shown.set(events);
            }
            next.set(next_before_id);
        }
    });
    let run = move |query: ListEvents| {
        filters.set_value(query.clone());
        search.dispatch(query);
    };
    Effect::new(move || run(every_event()));
    // New events arrive live while the page shows everything (no filters, first page).
    let live = expect_context::<Live>().latest_event;
    Effect::new(move || {
        let Some(event) = live.get() else { return };
        let unfiltered = filters.with_value(|f| {
            f.stream.is_none()
                && f.label.is_none()
                && f.min_score.is_none()
                && f.since.is_none()
                && f.until.is_none()
                && f.before_id.is_none()
        });
        if unfiltered && shown.with_untracked(|list| list.iter().all(|e| e.id != event.id)) {
            shown.update(|list| list.insert(0, event));
        }
    });
    let text =
        |node: NodeRef<leptos::html::Input>| node.get().map(|input| input.value()).filter(|v| !v.is_empty());
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        run(ListEvents {
            stream: text(stream),
            label: text(label),
            min_score: text(min_score).and_then(|v| v.parse().ok()),
            since: text(since).as_deref().and_then(utc_time),
            until: text(until).as_deref().and_then(utc_time),
            ..every_event()
        });
    };
    view! {
        <form class="inline-form filters" on:submit=on_submit>
            <label>"Stream" <input node_ref=stream name="stream" placeholder="any" /></label>
            <label>"Label" <input node_ref=label name="label" placeholder="any, e.g. tabby" /></label>
            <label>
                "Minimum score"
                <input node_ref=min_score name="min_score" type="number" min="0" max="1" step="0.05" />
            </label>
            <label>"From (UTC)" <input node_ref=since name="since" type="datetime-local" /></label>
            <label>"To (UTC)" <input node_ref=until name="until" type="datetime-local" /></label>
            <button type="submit">"Filter"</button>
        </form>
        <FormError result=search.value() />
        <Show
            when=move || !shown.with(Vec::is_empty)
            fallback=|| view! { <p class="muted">"No events to show: send some from a camera, or change the filters."</p> }
        >
            <table class="list events">
                <thead>
                    <tr><th></th><th>"Recognised"</th><th>"Score"</th><th>"Stream"</th><th>"When"</th></tr>
                </thead>
                <tbody>
                    <For each=move || shown.get() key=|event| event.id let:event>
                        <tr class="event-row">
                            <td>
                                {event.has_thumbnail.then(|| view! {
                                    <img class="thumbnail" src=format!("/api/events/{}/thumbnail", event.id) alt="" />
                                })}
                            </td>
                            <td>{event.top_label.clone()}</td>
                            <td>{format!("{:.0}%", event.top_score * 100.0)}</td>
                            <td>{event.stream.clone()}</td>
                            <td>{format_time(&event.received_at)}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
        </Show>
        {move || next.get().map(|before_id| view! {
            <button on:click=move |_| {
                run(ListEvents { before_id: Some(before_id), ..filters.get_value() });
            }>"Older events"</button>
        })}
    }
}

/// Events per hour over the last day, one line per frequent label; redrawn as events arrive.
#[component]
fn ActivityChart() -> impl IntoView {
    let live = expect_context::<Live>().latest_event;
    let activity = LocalResource::new(move || {
        live.track();
        recent_activity()
    });
    view! {
        <section class="panel activity" aria-labelledby="activity-title">
            <h2 id="activity-title">"Last 24 hours"</h2>
            <Loaded resource=activity render=crate::ui::chart::activity_chart />
        </section>
    }
}
