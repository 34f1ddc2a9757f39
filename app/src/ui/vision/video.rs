//! [`VideoClassifier`]: classifies the frames of a `<video>` in the browser and sends what it
//! recognises to the server over a websocket.

use leptos::prelude::*;

use super::{ModelStatus, TopCategories, default_labels_url};
use crate::protocol::Category;
use crate::vision::BrowserEngine;

/// How the events reach the server.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delivery {
    /// The websocket is open.
    pub online: bool,
    /// Events sent so far (the last sequence number).
    pub sent: u64,
    /// Events not yet acknowledged; sent again after a reconnect.
    pub waiting: usize,
    /// Events given up because too many were waiting.
    pub given_up: u64,
    /// The server's last refusal, if any.
    pub refused: Option<String>,
}

/// What the classifier measured on the last frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Milliseconds the last inference took.
    pub inference_ms: f64,
    /// Frames classified per second, smoothed.
    pub fps: f64,
    /// The engine that runs the model.
    pub engine: BrowserEngine,
    /// How many threads it runs on.
    pub threads: usize,
}

/// Classifies the video in the element with id `video_id` — a webcam, a file, any `<video>` —
/// and sends recognitions to `websocket_path` (e.g. `"ws/events/cam0"`) on this site, as the
/// event policy decides: when the top category changes (with a thumbnail), when a score rises
/// above `score_threshold`, and every `heartbeat_secs` while something stays recognised.
///
/// ```ignore
/// view! {
///     <video id="webcam" autoplay muted playsinline></video>
///     <VideoClassifier video_id="webcam" websocket_path="ws/events/cam0" />
/// }
/// ```
#[component]
pub fn VideoClassifier(
    /// The id of the `<video>` element to read frames from.
    #[prop(into)]
    video_id: String,
    /// Where to send events, a path on this site such as `"ws/events/cam0"`.
    #[prop(into)]
    websocket_path: String,
    /// How many categories to show and send.
    #[prop(default = 3)]
    max_results: usize,
    /// The least score at which a category counts as recognised.
    #[prop(default = 0.3)]
    score_threshold: f32,
    /// Comma-separated class names to report exclusively (empty: every class), e.g. `"cat, dog"`.
    #[prop(optional, into)]
    category_allowlist: String,
    /// Comma-separated class names never to report.
    #[prop(optional, into)]
    category_denylist: String,
    /// The most frames classified per second.
    #[prop(default = 5.0)]
    max_fps: f64,
    /// Seconds between repeated events while the same category stays recognised.
    #[prop(default = 5.0)]
    heartbeat_secs: f64,
    /// The model, a path on this site, run by LiteRT (`.tflite`) or ONNX Runtime (`.onnx`); by
    /// default the site's EfficientNet-Lite0 on the fastest engine this browser loads (the page's
    /// `?engine=litert` or `?engine=onnxruntime` forces one).
    #[prop(optional, into)]
    model_url: Option<String>,
    /// The model's class names (a JSON array), a path on this site.
    #[prop(optional, into)]
    labels_url: Option<String>,
) -> impl IntoView {
    let status = RwSignal::new(ModelStatus::Loading(0));
    let categories = RwSignal::new(Vec::<Category>::new());
    let timing = RwSignal::new(None::<Timing>);
    let delivery = RwSignal::new(Delivery::default());
    let failure = RwSignal::new(None::<String>);
    let labels_url = labels_url.unwrap_or_else(default_labels_url);
    #[cfg(feature = "hydrate")]
    browser::start(browser::Settings {
        video_id,
        websocket_path,
        max_results,
        filter: crate::vision::CategoryFilter::from_lists(&category_allowlist, &category_denylist),
        policy: crate::vision::EventPolicy::new(
            score_threshold,
            std::time::Duration::from_secs_f64(heartbeat_secs.max(0.1)),
        ),
        frame_interval_ms: 1000.0 / max_fps.clamp(0.1, 60.0),
        model_url,
        labels_url,
        status,
        categories,
        timing,
        delivery,
        failure,
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (
        video_id,
        websocket_path,
        max_results,
        score_threshold,
        category_allowlist,
        category_denylist,
        max_fps,
        heartbeat_secs,
        model_url,
        labels_url,
    );
    let describe = move || match (status.get(), failure.get()) {
        (_, Some(why)) => format!("Stopped: {why}"),
        (ModelStatus::Loading(percent), _) => format!("Loading the image model ({percent}%)…"),
        (ModelStatus::Failed(why), _) => format!("The image model failed to load: {why}"),
        (ModelStatus::Ready, None) if timing.get().is_none() => "Waiting for video…".into(),
        (ModelStatus::Ready, None) => "Running in your browser: frames never leave this page.".into(),
    };
    let state = move || match (status.get(), failure.get().is_some(), timing.get().is_some()) {
        (ModelStatus::Failed(_), ..) | (_, true, _) => "failed",
        (ModelStatus::Loading(_), ..) => "loading",
        (ModelStatus::Ready, false, false) => "waiting",
        (ModelStatus::Ready, false, true) => "running",
    };
    let timing_text = move || {
        timing.get().map(|t| {
            let threads =
                if t.threads == 1 { "1 thread".to_owned() } else { format!("{} threads", t.threads) };
            format!(
                "{:.0} ms per frame · {:.1} frames/s · {}, {threads}",
                t.inference_ms,
                t.fps,
                t.engine.name()
            )
        })
    };
    let delivery_text = move || {
        let d = delivery.get();
        let mut text = format!(
            "{} · {} events sent, {} awaiting acknowledgement",
            if d.online { "connected" } else { "reconnecting" },
            d.sent,
            d.waiting
        );
        if d.given_up > 0 {
            text.push_str(&format!(", {} given up", d.given_up));
        }
        text
    };
    view! {
        <div class="video-classifier" data-status=state>
            <p class="muted" class:error=move || state() == "failed">{describe}</p>
            <TopCategories categories=categories />
            <p
                class="timing muted"
                data-inference-ms=move || timing.get().map(|t| t.inference_ms)
                data-engine=move || timing.get().map(|t| t.engine.key())
            >
                {timing_text}
            </p>
            <p
                class="delivery muted"
                data-online=move || delivery.get().online.to_string()
                data-sent=move || delivery.get().sent
                data-waiting=move || delivery.get().waiting
            >
                {delivery_text}
            </p>
            {move || delivery.get().refused.map(|why| view! { <p class="error">"The server refused an event: " {why}</p> })}
        </div>
    }
    .into_any()
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::HtmlVideoElement;

    use super::super::frames::{Canvas, Source};
    use super::super::model;
    use super::super::sender::EventSender;
    use super::{Delivery, Timing};
    use crate::protocol::{Category, Classification, ClassificationEvent, MAX_THUMBNAIL_BYTES};
    use crate::ui::vision::ModelStatus;
    use crate::vision::{CategoryFilter, EventPolicy, Trigger};

    /// Frames are drawn at most this large before the shared pre-processing crops and resizes them.
    const FRAME_SIDE: u32 = 320;
    /// Frames per second are measured over this many frames.
    const FPS_WINDOW: usize = 10;
    /// Thumbnails are this wide (or high).
    const THUMBNAIL_SIDE: u32 = 160;

    /// What the loop needs; see the component's properties.
    pub struct Settings {
        pub video_id: String,
        pub websocket_path: String,
        pub max_results: usize,
        pub filter: CategoryFilter,
        pub policy: EventPolicy,
        pub frame_interval_ms: f64,
        pub model_url: Option<String>,
        pub labels_url: String,
        pub status: RwSignal<ModelStatus>,
        pub categories: RwSignal<Vec<Category>>,
        pub timing: RwSignal<Option<Timing>>,
        pub delivery: RwSignal<Delivery>,
        pub failure: RwSignal<Option<String>>,
    }

    /// Starts classifying once the model is loaded; stops when the component goes away.
    pub fn start(settings: Settings) {
        let running = Arc::new(AtomicBool::new(true));
        on_cleanup({
            let running = Arc::clone(&running);
            move || running.store(false, Ordering::Relaxed)
        });
        let (progress, loading) = model::load(settings.model_url.clone(), &settings.labels_url);
        let status = settings.status;
        Effect::new(move || status.set(progress.get()));
        leptos::task::spawn_local(async move {
            let failure = settings.failure;
            let result = match loading.await {
                Ok(model) => run(settings, model, running).await,
                Err(why) => Err(why),
            };
            if let Err(why) = result {
                failure.try_set(Some(why));
            }
        });
    }

    fn now_ms() -> f64 {
        window().performance().map_or(0.0, |p| p.now())
    }

    async fn run(
        mut settings: Settings,
        model: model::SharedModel,
        running: Arc<AtomicBool>,
    ) -> Result<(), String> {
        let thumbnails = Canvas::new()?;
        let sender = EventSender::start(&settings.websocket_path, settings.delivery);
        let producer = window().crypto().map_err(|_| "no crypto in this browser")?.random_uuid();
        let loaded = &model.loaded;
        let model_id = model_id(&loaded.model_url);
        let mut seq = 0;
        let mut recent = std::collections::VecDeque::with_capacity(FPS_WINDOW);
        while running.load(Ordering::Relaxed) {
            let started = now_ms();
            let video = document()
                .get_element_by_id(&settings.video_id)
                .and_then(|element| element.dyn_into::<HtmlVideoElement>().ok());
            let playing = video.as_ref().filter(|video| !video.paused() && video.ready_state() >= 2);
            // The loop awaits each inference, so frames that arrive meanwhile are skipped, never queued.
            if let (Some(video), Some(model)) = (playing, model.worker.try_lock())
                && let Some(bitmap) = Source::Video(video).bitmap(FRAME_SIDE).await?
            {
                let (ranked, inference_ms) =
                    model.classify(bitmap, settings.max_results, &settings.filter).await?;
                let after = now_ms();
                if recent.len() == FPS_WINDOW {
                    recent.pop_front();
                }
                recent.push_back(after);
                let span = recent.back().zip(recent.front()).map_or(0.0, |(last, first)| last - first);
                let fps = if span > 0.0 { (recent.len() - 1) as f64 * 1000.0 / span } else { 0.0 };
                settings.timing.try_set(Some(Timing {
                    inference_ms,
                    fps,
                    engine: loaded.engine,
                    threads: loaded.threads,
                }));
                if let Some(trigger) =
                    settings.policy.observe(&ranked, Duration::from_secs_f64(after / 1000.0))
                {
                    let thumbnail = (trigger == Trigger::Changed)
                        .then(|| thumbnails.draw(Source::Video(video), THUMBNAIL_SIDE).ok().flatten())
                        .flatten()
                        .and_then(|_| thumbnails.jpeg(MAX_THUMBNAIL_BYTES));
                    seq += 1;
                    sender.send(ClassificationEvent {
                        producer: producer.clone(),
                        seq,
                        model: model_id.clone(),
                        client_time: DateTime::<Utc>::from_timestamp_millis(js_sys::Date::now() as i64)
                            .unwrap_or_default(),
                        classifications: vec![Classification {
                            categories: ranked.clone(),
                            head_index: 0,
                            head_name: "probability".into(),
                        }],
                        thumbnail,
                    });
                }
                settings.categories.try_set(ranked);
            }
            let pause = (settings.frame_interval_ms - (now_ms() - started)).max(0.0);
            gloo_timers::future::sleep(Duration::from_secs_f64(pause / 1000.0)).await;
        }
        Ok(())
    }

    /// The model's name from its URL: `/models/efficientnet_lite0.f16.tflite` →
    /// `efficientnet_lite0.f16`, the same for its `.onnx`.
    fn model_id(url: &str) -> String {
        let file = url.rsplit('/').next().unwrap_or(url);
        let name = [".onnx", ".tflite"].iter().find_map(|extension| file.strip_suffix(extension));
        name.unwrap_or(file).chars().take(64).collect()
    }
}
