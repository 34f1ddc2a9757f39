//! [`CameraSource`]: what a `<video>` shows — a webcam (start, stop, pick one) or a video or
//! image file, for people without a camera.

use leptos::prelude::*;

/// Where the video source stands.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum SourceState {
    /// Nothing is shown yet.
    Idle,
    /// Asking the browser for the camera.
    Starting,
    /// Showing the named source.
    Running(String),
    /// The browser has no camera, or not the chosen one.
    NoCamera,
    /// The person or the browser refused access to the camera.
    PermissionDenied,
    /// This page cannot use cameras (an insecure origin, or an old browser).
    Unsupported,
    /// Something else went wrong.
    Failed(String),
}

impl SourceState {
    fn label(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Starting => "starting",
            Self::Running(_) => "running",
            Self::NoCamera => "no-camera",
            Self::PermissionDenied => "permission-denied",
            Self::Unsupported => "unsupported",
            Self::Failed(_) => "failed",
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Idle => "Start the camera, or choose a video or image file.".into(),
            Self::Starting => "Asking for the camera…".into(),
            Self::Running(source) => format!("Showing {source}."),
            Self::NoCamera => "No camera was found. You can choose a video or image file instead.".into(),
            Self::PermissionDenied => {
                "Camera access was denied. Allow it in the browser's site settings, then start again.".into()
            }
            Self::Unsupported => "This page cannot use a camera here (it needs https or localhost).".into(),
            Self::Failed(why) => format!("The video source failed: {why}"),
        }
    }
}

/// A camera the browser offers: (device id, label).
type Camera = (String, String);

/// Controls for the `<video>` with id `video_id`: start and stop the webcam, choose which one,
/// or play a video or image file instead.
#[component]
pub fn CameraSource(
    /// The id of the `<video>` element to fill.
    #[prop(into)]
    video_id: String,
) -> impl IntoView {
    let state = RwSignal::new(SourceState::Idle);
    let cameras = RwSignal::new(Vec::<Camera>::new());
    let chosen = RwSignal::new(None::<String>);
    #[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
    let video_id = StoredValue::new(video_id);
    #[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
    let start = move |_| {
        #[cfg(feature = "hydrate")]
        browser::start_camera(video_id.get_value(), chosen.get_untracked(), state, cameras);
    };
    #[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
    let stop = move |_| {
        #[cfg(feature = "hydrate")]
        {
            browser::stop(&video_id.get_value());
            state.set(SourceState::Idle);
        }
    };
    #[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
    let play_file = move |event: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        browser::play_file(event, video_id.get_value(), state);
    };
    #[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
    let pick = move |event: leptos::ev::Event| {
        chosen.set(Some(event_target_value(&event)));
        #[cfg(feature = "hydrate")]
        if matches!(state.get_untracked(), SourceState::Running(_)) {
            browser::start_camera(video_id.get_value(), chosen.get_untracked(), state, cameras);
        }
    };
    let running = move || matches!(state.get(), SourceState::Running(_) | SourceState::Starting);
    let problem = move || {
        matches!(
            state.get(),
            SourceState::NoCamera
                | SourceState::PermissionDenied
                | SourceState::Unsupported
                | SourceState::Failed(_)
        )
    };
    view! {
        <div class="camera-source">
            <div class="camera-buttons">
                <button type="button" on:click=start prop:disabled=running>"Start camera"</button>
                <button type="button" on:click=stop prop:disabled=move || !running()>"Stop"</button>
                <Show when=move || { cameras.with(|list| list.len() > 1) }>
                    <label>
                        "Camera "
                        <select on:change=pick>
                            {move || cameras.get().into_iter().map(|(id, label)| {
                                let selected = chosen.get().as_ref() == Some(&id);
                                view! { <option value=id selected=selected>{label}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                </Show>
                <label class="file-button">
                    "Use a video or image file"
                    <input type="file" accept="video/*,image/*" on:change=play_file />
                </label>
            </div>
            <p class="muted source-state" class:error=problem data-state=move || state.get().label() role="status">
                {move || state.get().describe()}
            </p>
        </div>
    }
    .into_any()
}

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{
        DomException, HtmlCanvasElement, HtmlImageElement, HtmlInputElement, HtmlVideoElement,
        MediaDeviceInfo, MediaDeviceKind, MediaStream, MediaStreamConstraints,
    };

    use super::{Camera, SourceState};
    use crate::ui::vision::frames::{Canvas, Source};

    /// Images shown as a video are drawn at most this large.
    const IMAGE_SIDE: u32 = 1024;

    fn video(video_id: &str) -> Option<HtmlVideoElement> {
        document().get_element_by_id(video_id)?.dyn_into().ok()
    }

    /// Asks for the camera `device` (any, when `None`) and shows it.
    pub fn start_camera(
        video_id: String,
        device: Option<String>,
        state: RwSignal<SourceState>,
        cameras: RwSignal<Vec<Camera>>,
    ) {
        state.set(SourceState::Starting);
        leptos::task::spawn_local(async move {
            let next = match open_camera(&video_id, device.as_deref()).await {
                Ok(label) => {
                    cameras.set(list_cameras().await);
                    SourceState::Running(label)
                }
                Err(state) => state,
            };
            state.set(next);
        });
    }

    async fn open_camera(video_id: &str, device: Option<&str>) -> Result<String, SourceState> {
        let devices = window().navigator().media_devices().map_err(|_| SourceState::Unsupported)?;
        let constraints = MediaStreamConstraints::new();
        let wanted: JsValue = match device {
            Some(id) => {
                let exact = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&exact, &"exact".into(), &id.into());
                let video = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&video, &"deviceId".into(), &exact);
                video.into()
            }
            None => true.into(),
        };
        constraints.set_video(&wanted);
        constraints.set_audio(&false.into());
        let promise = devices.get_user_media_with_constraints(&constraints).map_err(refusal)?;
        let stream: MediaStream = JsFuture::from(promise).await.map_err(refusal)?.unchecked_into();
        let label = stream
            .get_video_tracks()
            .get(0)
            .dyn_into::<web_sys::MediaStreamTrack>()
            .map(|track| track.label())
            .ok()
            .filter(|label| !label.is_empty())
            .unwrap_or_else(|| "the camera".into());
        show_stream(video_id, &stream).map_err(SourceState::Failed)?;
        Ok(label)
    }

    /// What a refused `getUserMedia` means for people.
    fn refusal(error: JsValue) -> SourceState {
        match error.dyn_into::<DomException>().map(|e| e.name()).as_deref() {
            Ok("NotAllowedError" | "SecurityError") => SourceState::PermissionDenied,
            Ok("NotFoundError" | "OverconstrainedError") => SourceState::NoCamera,
            Ok("NotReadableError") => {
                SourceState::Failed("the camera is in use by another application".into())
            }
            Ok(other) => SourceState::Failed(other.to_owned()),
            Err(_) => SourceState::Failed("the browser refused the camera".into()),
        }
    }

    async fn list_cameras() -> Vec<Camera> {
        let Ok(promise) = window().navigator().media_devices().and_then(|d| d.enumerate_devices()) else {
            return Vec::new();
        };
        let Ok(devices) = JsFuture::from(promise).await else { return Vec::new() };
        js_sys::Array::from(&devices)
            .iter()
            .filter_map(|device| device.dyn_into::<MediaDeviceInfo>().ok())
            .filter(|device| device.kind() == MediaDeviceKind::Videoinput)
            .enumerate()
            .map(|(n, device)| {
                let label = device.label();
                (device.device_id(), if label.is_empty() { format!("Camera {}", n + 1) } else { label })
            })
            .collect()
    }

    fn show_stream(video_id: &str, stream: &MediaStream) -> Result<(), String> {
        let video = video(video_id).ok_or("the video element is missing")?;
        stop(video_id);
        video.set_src_object(Some(stream));
        let _ = video.play();
        Ok(())
    }

    /// Stops the camera (or file) the video shows.
    pub fn stop(video_id: &str) {
        let Some(video) = video(video_id) else { return };
        if let Some(stream) = video.src_object() {
            for track in stream.get_tracks().iter() {
                if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
                    track.stop();
                }
            }
        }
        video.set_src_object(None);
        let source = video.src();
        if source.starts_with("blob:") {
            let _ = web_sys::Url::revoke_object_url(&source);
        }
        let _ = video.remove_attribute("src");
        video.load();
    }

    /// Shows the file chosen in the input that fired `event`: a video plays in a loop; an image
    /// becomes a still video stream.
    pub fn play_file(event: leptos::ev::Event, video_id: String, state: RwSignal<SourceState>) {
        let input: HtmlInputElement = event_target(&event);
        let Some(file) = input.files().and_then(|files| files.get(0)) else { return };
        leptos::task::spawn_local(async move {
            let result = if file.type_().starts_with("image/") {
                show_image(&video_id, &file).await
            } else {
                show_video(&video_id, &file)
            };
            state.set(match result {
                Ok(()) => SourceState::Running(file.name()),
                Err(why) => SourceState::Failed(why),
            });
        });
    }

    fn show_video(video_id: &str, file: &web_sys::File) -> Result<(), String> {
        let video = video(video_id).ok_or("the video element is missing")?;
        stop(video_id);
        let url = web_sys::Url::create_object_url_with_blob(file).map_err(|_| "cannot read the file")?;
        video.set_loop(true);
        video.set_muted(true);
        video.set_src(&url);
        let _ = video.play();
        Ok(())
    }

    async fn show_image(video_id: &str, file: &web_sys::File) -> Result<(), String> {
        let url = web_sys::Url::create_object_url_with_blob(file).map_err(|_| "cannot read the file")?;
        let image = HtmlImageElement::new().map_err(|_| "cannot create an image")?;
        image.set_src(&url);
        let decoded = JsFuture::from(image.decode()).await;
        let _ = web_sys::Url::revoke_object_url(&url);
        decoded.map_err(|_| "this file is neither a video nor an image")?;
        let canvas = Canvas::new()?;
        canvas.draw(Source::Image(&image), IMAGE_SIDE)?;
        // A canvas stream only carries frames painted after it starts, so paint once more.
        let element: HtmlCanvasElement = canvas.element();
        let stream = element.capture_stream().map_err(|_| "this browser cannot stream a canvas")?;
        canvas.draw(Source::Image(&image), IMAGE_SIDE)?;
        show_stream(video_id, &stream)
    }
}
