use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::check_readiness;

/// The start page: what the app does, and whether this instance is ready to do it.
#[component]
pub fn HomePage() -> impl IntoView {
    let status = Resource::new(|| (), |_| check_readiness());
    view! {
        <Title text="" />
        <section class="hero">
            <h1>"AI in the browser, intelligent action on the server"</h1>
            <p class="lead">
                "AI Channels runs neural networks where they fit best and connects them with websockets."
            </p>
        </section>
        <div class="cards">
            <A href="/camera" attr:class="card">
                <h2>"Camera"</h2>
                <p>
                    "An image classifier runs in your browser, in WebAssembly, on live webcam frames. "
                    "Each recognition streams to the server, which stores it and acts on it."
                </p>
            </A>
            <A href="/chat" attr:class="card">
                <h2>"Chat"</h2>
                <p>
                    "Talk to a language model: an OpenAI-compatible server or a small model embedded "
                    "in the app. Replies stream in token by token and every message is kept."
                </p>
            </A>
            <A href="/events" attr:class="card">
                <h2>"Events"</h2>
                <p>"Everything the cameras recognised, live and in history, with rules and alerts."</p>
            </A>
        </div>
        <section class="status" aria-labelledby="status-title">
            <h2 id="status-title">"This instance"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Checking…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(report) => view! {
                            <ul class="checks">
                                {report.checks.into_iter().map(|check| view! {
                                    <li class:ok=check.ok class:failed=!check.ok>
                                        <span class="check-name">{check.name}</span>
                                        <span class="check-detail">{check.detail}</span>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! {
                            <p class="error">"The server could not be asked: " {e.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
