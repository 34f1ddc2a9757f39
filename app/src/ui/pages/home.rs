use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::check_readiness;
use crate::protocol::Readiness;
use crate::ui::common::Loaded;

/// The app's three areas as (link, title, description), one card each on the start page.
const FEATURES: [(&str, &str, &str); 3] = [
    (
        "/camera",
        "Camera",
        "An image classifier runs in your browser, in WebAssembly, on live webcam frames. \
         Each recognition streams to the server, which stores it and acts on it.",
    ),
    (
        "/chat",
        "Chat",
        "Talk to a language model: an OpenAI-compatible server or a small model embedded in the app. \
         Replies stream in token by token and every message is kept.",
    ),
    ("/events", "Events", "Everything the cameras recognised, live and in history, with rules and alerts."),
];

/// The start page: what the app does, and whether this instance is ready to do it.
#[component]
pub fn HomePage() -> impl IntoView {
    let status = LocalResource::new(check_readiness);
    view! {
        <Title text="" />
        <section class="hero">
            <h1>"AI in the browser, intelligent action on the server"</h1>
            <p class="lead">
                "AI Channels runs neural networks where they fit best and connects them with websockets."
            </p>
        </section>
        <div class="cards">
            {FEATURES
                .iter()
                .map(|&(href, title, text)| {
                    view! {
                        <A href=href attr:class="card">
                            <h2>{title}</h2>
                            <p>{text}</p>
                        </A>
                    }
                })
                .collect_view()}
        </div>
        <section class="status" aria-labelledby="status-title">
            <h2 id="status-title">"This instance"</h2>
            <Loaded resource=status render={|report: Readiness| view! {
                <ul class="checks">
                    {report.checks.into_iter().map(|check| view! {
                        <li class:ok=check.ok class:failed=!check.ok>
                            <span class="check-name">{check.name}</span>
                            <span class="check-detail">{check.detail}</span>
                        </li>
                    }).collect_view()}
                </ul>
            }} />
        </section>
    }
}
