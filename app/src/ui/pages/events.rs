use std::collections::HashSet;

use crate::protocol::{EventId, SightingId};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{ListEvents, ListSightings, recent_activity, sighting_events};
use crate::protocol::{EventPage, Sighting, SightingPage, StoredEvent, UserInfo};
use crate::ui::alerts::{AlertList, RuleManager};
use crate::ui::common::{FormError, ListTable, Loaded, format_clock, format_duration, format_time};
use crate::ui::live::Live;
use crate::ui::session::RequireUser;

/// What the cameras recognised: the chart, the alerts, the sightings (live, each opening to its
/// events), the raw events with filters and paging, and the rules.
#[component]
pub fn EventsPage() -> impl IntoView {
    view! {
        <Title text="Events" />
        <RequireUser children=|_: UserInfo| {
            view! {
                <h1>"Events"</h1>
                <ActivityChart />
                <AlertList />
                <SightingList />
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
        <section class="panel history" aria-labelledby="history-title">
            <h2 id="history-title">"All events"</h2>
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
            <ListTable
                empty=Signal::derive(move || shown.with(Vec::is_empty))
                note="No events to show: send some from a camera, or change the filters."
                headings=&["", "Recognised", "Score", "Stream", "When"]
                class="events"
            >
                <For each=move || shown.get() key=|event| event.id let:event>
                    {event_row(&event, format_time)}
                </For>
            </ListTable>
            {move || next.get().map(|before_id| view! {
                <button on:click=move |_| {
                    run(ListEvents { before_id: Some(before_id), ..filters.get_value() });
                }>"Older events"</button>
            })}
        </section>
    }
}

/// One event in a table: thumbnail, best class, score, stream and when (by `when`).
fn event_row(
    event: &StoredEvent,
    when: fn(&chrono::DateTime<chrono::Utc>) -> String,
) -> impl IntoView + use<> {
    view! {
        <tr class="event-row">
            <td>
                {event.has_thumbnail.then(|| view! {
                    <img class="thumbnail" src=format!("/api/events/{}/thumbnail", event.id) alt="" />
                })}
            </td>
            <td>{event.top_label.clone()}</td>
            <td>{format!("{:.0}%", event.top_score * 100.0)}</td>
            <td>{event.stream.clone()}</td>
            <td>{when(&event.received_at)}</td>
        </tr>
    }
}

/// The user's sightings, newest first: kept live as they begin, change and end, each opening to
/// its events.
#[component]
fn SightingList() -> impl IntoView {
    let load = ServerAction::<ListSightings>::new();
    let shown = RwSignal::new(Vec::<Sighting>::new());
    let next = RwSignal::new(None::<SightingId>);
    let opened = RwSignal::new(HashSet::<SightingId>::new());
    Effect::new(move || {
        if let Some(Ok(SightingPage { sightings, next_before_id })) = load.value().get() {
            shown.update(|list| {
                for sighting in sightings {
                    if list.iter().all(|s| s.id != sighting.id) {
                        list.push(sighting);
                    }
                }
            });
            next.set(next_before_id);
        }
    });
    Effect::new(move || {
        load.dispatch(ListSightings { stream: None, label: None, before_id: None });
    });
    let live = expect_context::<Live>().latest_sighting;
    Effect::new(move || {
        let Some(sighting) = live.get() else { return };
        shown.update(|list| match list.iter_mut().find(|s| s.id == sighting.id) {
            Some(known) => *known = sighting,
            None => list.insert(0, sighting),
        });
    });
    let toggle = move |id| {
        opened.update(|set| {
            if !set.remove(&id) {
                set.insert(id);
            }
        });
    };
    view! {
        <section class="panel sightings" aria-labelledby="sightings-title">
            <h2 id="sightings-title">"Sightings"</h2>
            <FormError result=load.value() />
            <ListTable
                empty=Signal::derive(move || shown.with(Vec::is_empty))
                note="Nothing seen yet: what a camera recognises shows here while it stays."
                headings=&["", "Seen", "Stream", "From", "For", "Best", ""]
            >
                <For each=move || shown.get() key=|s| (s.id, s.last_seen_at, s.ended_at) let:sighting>
                    {sighting_row(sighting, opened, toggle)}
                </For>
            </ListTable>
            {move || next.get().map(|before_id| view! {
                <button on:click=move |_| {
                    load.dispatch(ListSightings { stream: None, label: None, before_id: Some(before_id) });
                }>"Older sightings"</button>
            })}
        </section>
    }
}

/// One sighting's row and, when opened, its events.
fn sighting_row(
    sighting: Sighting,
    opened: RwSignal<HashSet<SightingId>>,
    toggle: impl Fn(SightingId) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = sighting.id;
    let stay = match sighting.ended_at {
        Some(_) => {
            format!("{}, left {}", format_duration(sighting.duration()), format_clock(&sighting.last_seen_at))
        }
        None => format!("{} so far, still there", format_duration(sighting.duration())),
    };
    let is_open = move || opened.with(|set| set.contains(&id));
    view! {
        <tr class="sighting-row" data-state=if sighting.ended() { "ended" } else { "present" }>
            <td>
                {sighting.thumbnail_event_id.map(|event| view! {
                    <img class="thumbnail" src=format!("/api/events/{event}/thumbnail") alt="" />
                })}
            </td>
            <td>{sighting.label.clone()}</td>
            <td>{sighting.stream.clone()}</td>
            <td>{sighting.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()}</td>
            <td class="stay">{stay}</td>
            <td>{format!("{:.0}%", sighting.peak_score * 100.0)}</td>
            <td>
                <button aria-expanded=move || is_open().to_string() on:click=move |_| toggle(id)>"Events"</button>
            </td>
        </tr>
        {move || is_open().then(|| view! {
            <tr class="sighting-events">
                <td colspan="7"><SightingEvents id=id /></td>
            </tr>
        })}
    }
}

/// The events of sighting `id`, oldest first.
#[component]
fn SightingEvents(id: SightingId) -> impl IntoView {
    let events = LocalResource::new(move || sighting_events(id));
    view! {
        <Loaded resource=events render={|events: Vec<StoredEvent>| view! {
            <table class="list events">
                <tbody>{events.iter().map(|event| event_row(event, format_clock)).collect_view()}</tbody>
            </table>
        }} />
    }
}

/// Sightings begun per hour over the last day, one line per frequent label; redrawn as
/// sightings begin.
#[component]
fn ActivityChart() -> impl IntoView {
    let live = expect_context::<Live>().latest_sighting;
    let began = Memo::new(move |_| live.with(|s| s.as_ref().map(|s| s.id)));
    let activity = LocalResource::new(move || {
        began.track();
        recent_activity()
    });
    view! {
        <section class="panel activity" aria-labelledby="activity-title">
            <h2 id="activity-title">"Sightings, last 24 hours"</h2>
            <Loaded resource=activity render=crate::ui::chart::activity_chart />
        </section>
    }
}
