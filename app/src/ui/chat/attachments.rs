//! Files in the chat: the composer's attachments (chosen with a button or dropped on the
//! composer, uploaded at once, sent with the next message), a message's files, and the list of a
//! session's files.

use leptos::prelude::*;

use crate::protocol::{ChatSessionId, FileId, FileInfo};

/// A file being attached in the composer.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum Attached {
    /// Uploading: its name.
    Uploading(String),
    /// Stored, ready to send.
    Ready(FileInfo),
    /// Refused: its name and why.
    Failed(String, String),
}

impl Attached {
    fn state(&self) -> &'static str {
        match self {
            Self::Uploading(_) => "uploading",
            Self::Ready(_) => "ready",
            Self::Failed(..) => "failed",
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::Uploading(name) | Self::Failed(name, _) => name,
            Self::Ready(info) => &info.filename,
        }
    }
}

/// The composer's attachments, each under a key of its own.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub struct Attachments {
    session_id: ChatSessionId,
    files: RwSignal<Vec<(u32, Attached)>>,
    next_key: StoredValue<u32>,
}

impl Attachments {
    /// No attachments yet, for `session_id`.
    pub fn new(session_id: ChatSessionId) -> Self {
        Self { session_id, files: RwSignal::new(Vec::new()), next_key: StoredValue::new(0) }
    }

    /// The stored files, to send.
    pub fn ready(&self) -> Vec<FileId> {
        self.files.with_untracked(|files| {
            files
                .iter()
                .filter_map(|(_, f)| match f {
                    Attached::Ready(info) => Some(info.id),
                    _ => None,
                })
                .collect()
        })
    }

    /// True while a file is still uploading.
    pub fn uploading(&self) -> bool {
        self.files.with(|files| files.iter().any(|(_, f)| matches!(f, Attached::Uploading(_))))
    }

    /// Forgets every attachment (once sent).
    pub fn clear(&self) {
        self.files.set(Vec::new());
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn add(&self, attached: Attached) -> u32 {
        let key = self.next_key.get_value();
        self.next_key.set_value(key + 1);
        self.files.update(|files| files.push((key, attached)));
        key
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn set(&self, key: u32, attached: Attached) {
        self.files.update(|files| {
            if let Some(slot) = files.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = attached;
            }
        });
    }

    fn remove(&self, key: u32) {
        self.files.update(|files| files.retain(|(k, _)| *k != key));
    }
}

/// The composer's attachment chips, each with a button that removes it.
#[component]
pub fn AttachmentChips(attachments: Attachments) -> impl IntoView {
    view! {
        <ul class="attachments" aria-label="Attached files">
            <For each=move || attachments.files.get() key=|(key, file)| (*key, file.state()) let:((key, file))>
                <li class="file-chip" data-state=file.state()>
                    <span>{file.name().to_owned()}</span>
                    {match &file {
                        Attached::Uploading(_) => view! { <span class="muted">" uploading…"</span> }.into_any(),
                        Attached::Ready(info) => view! { <span class="muted">{format!(" {}", size(info.size))}</span> }.into_any(),
                        Attached::Failed(_, reason) => view! { <span class="error">{format!(" {reason}")}</span> }.into_any(),
                    }}
                    <button type="button" class="link-button" aria-label=format!("Remove {}", file.name()) on:click=move |_| attachments.remove(key)>"×"</button>
                </li>
            </For>
        </ul>
    }
}

/// A size for people: bytes, KB or MB.
fn size(bytes: i64) -> String {
    match bytes {
        ..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.0} KB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MB", bytes as f64 / 1_048_576.0),
    }
}

/// A message's files, as links that download them.
#[component]
pub fn MessageFiles(files: Vec<FileInfo>) -> impl IntoView {
    (!files.is_empty()).then(|| {
        view! {
            <ul class="message-files">
                {files.into_iter().map(|file| view! {
                    <li class="file-chip">
                        <a href=format!("/ai-chat/api/files/{}/", file.id) download=file.filename.clone()>{file.filename.clone()}</a>
                        <span class="muted">{format!(" {}", size(file.size))}</span>
                    </li>
                }).collect_view()}
            </ul>
        }
    })
}

/// The files of a session, refreshed when `changed` changes.
#[component]
pub fn SessionFiles(session_id: ChatSessionId, changed: Signal<usize>) -> impl IntoView {
    let files = LocalResource::new(move || {
        changed.track();
        crate::api::chat_files(session_id)
    });
    move || {
        let list = files.get().and_then(Result::ok).unwrap_or_default();
        (!list.is_empty()).then(|| {
            view! {
                <details class="session-files">
                    <summary>{format!("Files ({})", list.len())}</summary>
                    <MessageFiles files=list />
                </details>
            }
        })
    }
}

#[cfg(feature = "hydrate")]
pub use browser::{attach_dropped, attach_picked};
#[cfg(not(feature = "hydrate"))]
pub use rendering::{attach_dropped, attach_picked};

/// On the server, files are never picked or dropped.
#[cfg(not(feature = "hydrate"))]
mod rendering {
    use super::Attachments;

    /// Attaches the files picked in a file input (in the browser).
    pub fn attach_picked(_attachments: Attachments, _event: leptos::ev::Event) {}

    /// Attaches the files dropped on the composer (in the browser).
    pub fn attach_dropped(_attachments: Attachments, _event: leptos::ev::DragEvent) {}
}

/// Uploading the files the user picks or drops (in the browser only).
#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;

    use super::{Attached, Attachments};
    use crate::protocol::{ApiError, FileInfo};

    /// Attaches the files picked in a file input.
    pub fn attach_picked(attachments: Attachments, event: leptos::ev::Event) {
        let Some(input) = event.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else {
            return;
        };
        if let Some(list) = input.files() {
            attach_all(attachments, &list);
        }
        input.set_value("");
    }

    /// Attaches the files dropped on the composer.
    pub fn attach_dropped(attachments: Attachments, event: leptos::ev::DragEvent) {
        event.prevent_default();
        if let Some(list) = event.data_transfer().and_then(|transfer| transfer.files()) {
            attach_all(attachments, &list);
        }
    }

    fn attach_all(attachments: Attachments, list: &web_sys::FileList) {
        for index in 0..list.length() {
            if let Some(file) = list.get(index) {
                let key = attachments.add(Attached::Uploading(file.name()));
                leptos::task::spawn_local(async move {
                    let name = file.name();
                    let done = match upload(attachments, &file).await {
                        Ok(info) => Attached::Ready(info),
                        Err(reason) => Attached::Failed(name, reason),
                    };
                    attachments.set(key, done);
                });
            }
        }
    }

    async fn upload(attachments: Attachments, file: &web_sys::File) -> Result<FileInfo, String> {
        let url = format!(
            "/ai-chat/api/sessions/{}/files/?filename={}",
            attachments.session_id,
            String::from(js_sys::encode_uri_component(&file.name()))
        );
        let request = gloo_net::http::Request::post(&url)
            .header("content-type", "application/octet-stream")
            .body(wasm_bindgen::JsValue::from(file.clone()))
            .map_err(|e| e.to_string())?;
        let response = request.send().await.map_err(|e| e.to_string())?;
        if response.ok() {
            response.json::<FileInfo>().await.map_err(|e| e.to_string())
        } else {
            let error = response.json::<ApiError>().await.map_err(|e| e.to_string())?;
            Err(error.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stored_files_are_sent_and_uploads_hold_the_message() {
        Owner::new().with(|| {
            let attachments = Attachments::new(ChatSessionId(1));
            let pdf = attachments.add(Attached::Uploading("a.pdf".into()));
            attachments.add(Attached::Failed("b.exe".into(), "not taken".into()));
            assert!(attachments.uploading());
            let info = FileInfo {
                id: FileId(9),
                filename: "a.pdf".into(),
                kind: crate::protocol::FileKind::Pdf,
                size: 2048,
                text_chars: 10,
                created_at: chrono::Utc::now(),
            };
            attachments.set(pdf, Attached::Ready(info));
            assert!(!attachments.uploading());
            assert_eq!(attachments.ready(), [FileId(9)]);
            assert_eq!(
                (size(900), size(2048), size(3 * 1_048_576)),
                ("900 B".into(), "2 KB".into(), "3.0 MB".into())
            );
        });
    }
}
