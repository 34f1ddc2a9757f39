use leptos::prelude::*;
use leptos_meta::Title;

use crate::protocol::{StreamName, UserInfo};
use crate::ui::session::RequireUser;
use crate::ui::vision::{CameraSource, PhotoClassifier, VideoClassifier};

/// The Camera page's settings, applied together.
#[derive(Clone, Debug, PartialEq)]
struct CameraSettings {
    stream: String,
    min_score: f32,
    max_fps: f64,
    heartbeat_secs: f64,
    allow: String,
    deny: String,
}

impl Default for CameraSettings {
    fn default() -> Self {
        Self {
            stream: "cam0".into(),
            min_score: 0.3,
            max_fps: 5.0,
            heartbeat_secs: 5.0,
            allow: String::new(),
            deny: String::new(),
        }
    }
}

/// The webcam (or a file) classified live in the browser, each recognition sent to the server;
/// and a single photo classified on demand.
#[component]
pub fn CameraPage() -> impl IntoView {
    view! {
        <Title text="Camera" />
        <RequireUser children=|_: UserInfo| {
            let settings = RwSignal::new(CameraSettings::default());
            view! {
                <h1>"Camera"</h1>
                <section class="panel camera" aria-labelledby="camera-title">
                    <h2 id="camera-title">"Live classification"</h2>
                    <div class="camera-layout">
                        <div class="camera-view">
                            <video id="webcam" autoplay muted playsinline></video>
                            <CameraSource video_id="webcam" />
                        </div>
                        <div class="camera-results">
                            {move || {
                                let s = settings.get();
                                view! {
                                    <VideoClassifier
                                        video_id="webcam"
                                        websocket_path=format!("ws/events/{}", s.stream)
                                        score_threshold=s.min_score
                                        max_fps=s.max_fps
                                        heartbeat_secs=s.heartbeat_secs
                                        category_allowlist=s.allow
                                        category_denylist=s.deny
                                    />
                                }
                            }}
                            <SettingsForm settings=settings />
                        </div>
                    </div>
                </section>
                <PhotoClassifier />
            }
            .into_any()
        } />
    }
}

/// The stream name and event policy; the classifier restarts with them when applied.
#[component]
fn SettingsForm(settings: RwSignal<CameraSettings>) -> impl IntoView {
    let current = settings.get_untracked();
    let (stream, min_score, max_fps, heartbeat, allow, deny) =
        (NodeRef::new(), NodeRef::new(), NodeRef::new(), NodeRef::new(), NodeRef::new(), NodeRef::new());
    let error = RwSignal::new(None::<String>);
    let value =
        |node: NodeRef<leptos::html::Input>| node.get().map(|input| input.value()).unwrap_or_default();
    let number = move |node, fallback: f64| {
        value(node).parse::<f64>().ok().filter(|v| v.is_finite()).unwrap_or(fallback)
    };
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let defaults = CameraSettings::default();
        let name = value(stream);
        if let Err(e) = StreamName::parse(&name) {
            error.set(Some(e.message));
            return;
        }
        error.set(None);
        settings.set(CameraSettings {
            stream: name,
            min_score: number(min_score, f64::from(defaults.min_score)).clamp(0.0, 1.0) as f32,
            max_fps: number(max_fps, defaults.max_fps).clamp(0.2, 30.0),
            heartbeat_secs: number(heartbeat, defaults.heartbeat_secs).clamp(1.0, 3600.0),
            allow: value(allow),
            deny: value(deny),
        });
    };
    view! {
        <details class="camera-settings">
            <summary>"Settings"</summary>
            <form class="stacked-form" on:submit=on_submit>
                <label>"Stream name" <input node_ref=stream name="stream" value=current.stream required /></label>
                <label>
                    "Minimum score"
                    <input node_ref=min_score name="min_score" type="number" min="0" max="1" step="0.05"
                        value=current.min_score />
                </label>
                <label>
                    "Frames per second, at most"
                    <input node_ref=max_fps name="max_fps" type="number" min="0.2" max="30" step="any"
                        value=current.max_fps />
                </label>
                <label>
                    "Repeat an event every (seconds)"
                    <input node_ref=heartbeat name="heartbeat" type="number" min="1" step="any"
                        value=current.heartbeat_secs />
                </label>
                <label>
                    "Only these classes (comma-separated)"
                    <input node_ref=allow name="allow" placeholder="every class, e.g. cat, dog" />
                </label>
                <label>
                    "Never these classes"
                    <input node_ref=deny name="deny" placeholder="none" />
                </label>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <button type="submit">"Apply"</button>
            </form>
        </details>
    }
    .into_any()
}
