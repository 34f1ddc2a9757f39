//! Small pieces shared by the pages: loading states, lists, form errors, timestamps.

use leptos::prelude::*;

use crate::protocol::ApiError;

/// The error of the last submission of a form, if it failed.
#[component]
pub fn FormError<T: 'static>(
    result: impl With<Value = Option<Result<T, ApiError>>> + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        result.with(|r| match r {
            Some(Err(e)) => Some(view! { <p class="error" role="alert">{e.message.clone()}</p> }),
            _ => None,
        })
    }
}

/// A timestamp as `2026-11-21 14:05 UTC`.
pub fn format_time(time: &chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A time of day to the second, for what happens within minutes (`12:03:10 UTC`).
pub fn format_clock(time: &chrono::DateTime<chrono::Utc>) -> String {
    time.format("%H:%M:%S UTC").to_string()
}

/// A length of time for people: `42 s`, `4 min 12 s`, `2 h 5 min`.
pub fn format_duration(duration: chrono::TimeDelta) -> String {
    let secs = duration.num_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// Renders data loaded in the browser after hydration: a loading note, then `render` of the
/// value (the last one stays while it loads again), or the error in place. The server renders
/// the note: the resource is read, never awaited, so no page waits on it. (Loading in the
/// browser keeps server rendering free of the streaming stalls Leptos 0.8 can show with
/// several async boundaries on one page.)
#[component]
pub fn Loaded<T, V>(
    resource: LocalResource<Result<T, ApiError>>,
    render: impl Fn(T) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + 'static,
    V: IntoView + 'static,
{
    move || match resource.get() {
        None => view! { <p class="muted">"Loading…"</p> }.into_any(),
        Some(Ok(value)) => render(value).into_any(),
        Some(Err(e)) => view! { <p class="error">{e.message}</p> }.into_any(),
    }
}

/// A list as a table (class `list`, and `class` when given) under `headings`, its rows the
/// children; `note` in its place while `empty`.
#[component]
pub fn ListTable(
    #[prop(into)] empty: Signal<bool>,
    note: &'static str,
    headings: &'static [&'static str],
    #[prop(optional)] class: &'static str,
    children: ChildrenFn,
) -> impl IntoView {
    let class = format!("list {class}").trim_end().to_owned();
    view! {
        <Show when=move || !empty.get() fallback=move || view! { <p class="muted">{note}</p> }>
            <table class=class.clone()>
                <thead>
                    <tr>{headings.iter().map(|heading| view! { <th>{*heading}</th> }).collect_view()}</tr>
                </thead>
                <tbody>{children()}</tbody>
            </table>
        </Show>
    }
}

/// Data loaded in the browser by `fetch`, and loaded again each time `version` (an action's
/// completion count) moves.
pub fn reloaded_after<T, F>(version: RwSignal<usize>, fetch: impl Fn() -> F + 'static) -> LocalResource<T>
where
    F: std::future::Future<Output = T> + 'static,
    T: 'static,
{
    LocalResource::new(move || {
        version.get();
        fetch()
    })
}

/// The `ws://` or `wss://` URL of `path` (with or without a leading `/`) on this site.
#[cfg(feature = "hydrate")]
pub fn websocket_url(path: &str) -> String {
    let location = window().location();
    let secure = location.protocol().is_ok_and(|p| p == "https:");
    let host = location.host().unwrap_or_default();
    format!("{}://{host}/{}", if secure { "wss" } else { "ws" }, path.trim_start_matches('/'))
}
