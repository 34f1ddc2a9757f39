//! One session's transcript as the page holds it, and (in the browser) its websocket: messages
//! are loaded when the connection opens, replies grow chunk by chunk in sequence order, and a
//! reply in progress is resumed after a reload or a reconnect. Each message has its own signal,
//! so a chunk re-renders only the reply it belongs to.

use crate::protocol::{ChatSessionId, FileId, MessageId};
use leptos::prelude::*;

use crate::protocol::{ChatMessage, ChatReply, ChatRequest, MessageStatus, PlacedPart};

/// A message in the transcript.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// Its database id.
    pub id: MessageId,
    /// The message; replies change as they stream.
    pub message: RwSignal<ChatMessage>,
}

/// Where the session's connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum Link {
    /// Opening (or re-opening) the websocket.
    Connecting,
    /// Open: messages can be sent.
    Online,
}

/// The page's view of one session.
#[derive(Clone, Copy)]
pub struct Conversation {
    /// The session.
    pub session_id: ChatSessionId,
    /// The messages, oldest first.
    pub entries: RwSignal<Vec<Entry>>,
    /// The id to load earlier messages before, when there are any.
    pub earlier: RwSignal<Option<MessageId>>,
    /// The connection's state.
    pub link: RwSignal<Link>,
    /// The reply being written, and the last sequence number received for it.
    pub streaming: RwSignal<Option<(MessageId, u64)>>,
    /// The last refusal from the server (not a failed reply: those show in place).
    pub notice: RwSignal<Option<String>>,
    /// The user is typing in this session on another page.
    pub typing_elsewhere: RwSignal<bool>,
    /// Messages sent but not yet confirmed, re-sent after a reconnect.
    pending: StoredValue<Vec<ChatRequest>>,
    #[cfg(feature = "hydrate")]
    outgoing: StoredValue<Option<futures::channel::mpsc::UnboundedSender<ChatRequest>>>,
}

impl Conversation {
    /// An empty conversation for `session_id`; in the browser, connects at once and stays
    /// connected until the owner is disposed.
    pub fn open(session_id: ChatSessionId) -> Self {
        #[cfg(feature = "hydrate")]
        let (sender, requests) = futures::channel::mpsc::unbounded();
        let conversation = Self {
            session_id,
            entries: RwSignal::new(Vec::new()),
            earlier: RwSignal::new(None),
            link: RwSignal::new(Link::Connecting),
            streaming: RwSignal::new(None),
            notice: RwSignal::new(None),
            typing_elsewhere: RwSignal::new(false),
            pending: StoredValue::new(Vec::new()),
            #[cfg(feature = "hydrate")]
            outgoing: StoredValue::new(Some(sender)),
        };
        #[cfg(feature = "hydrate")]
        {
            leptos::task::spawn_local(client::run(conversation, requests));
            on_cleanup(move || conversation.outgoing.set_value(None));
        }
        conversation
    }

    /// Sends `request` on the connection (dropped while offline, except messages, which are
    /// kept and sent on reconnect).
    pub fn request(&self, request: ChatRequest) {
        if let ChatRequest::SendMessage { client_id: Some(_), .. } = &request {
            self.pending.update_value(|p| p.push(request.clone()));
        }
        #[cfg(feature = "hydrate")]
        self.outgoing.with_value(|sender| {
            if let Some(sender) = sender {
                let _ = sender.unbounded_send(request);
            }
        });
    }

    /// Sends a user message, with a fresh client id so a re-send is never stored twice.
    pub fn send(&self, text: String) {
        self.send_with(text, None, Vec::new());
    }

    /// Sends a user message with the values of a submitted form, or files uploaded to the session.
    pub fn send_with(&self, text: String, values: Option<serde_json::Value>, files: Vec<FileId>) {
        let client_id = format!("{}-{}", self.session_id, unique_suffix());
        self.notice.set(None);
        self.request(ChatRequest::SendMessage {
            message: text,
            client_id: Some(client_id),
            response_format: None,
            values,
            files,
        });
    }

    /// Replaces the last reply by a new one.
    pub fn regenerate(&self) {
        self.notice.set(None);
        self.entries.update(|entries| {
            if entries
                .last()
                .is_some_and(|e| e.message.with_untracked(|m| m.role == crate::protocol::Role::Assistant))
            {
                entries.pop();
            }
        });
        self.request(ChatRequest::Regenerate);
    }

    /// Shows `messages` (a freshly loaded page), replacing what was shown.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub fn show(&self, messages: Vec<ChatMessage>, earlier: Option<MessageId>) {
        self.entries.set(messages.into_iter().map(entry).collect());
        self.earlier.set(earlier);
    }

    /// Puts earlier messages in front.
    pub fn prepend(&self, messages: Vec<ChatMessage>, earlier: Option<MessageId>) {
        self.entries.update(|entries| {
            let mut older: Vec<Entry> = messages.into_iter().map(entry).collect();
            older.append(entries);
            *entries = older;
        });
        self.earlier.set(earlier);
    }

    /// Adds a message, or replaces the one with its id.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn upsert(&self, message: ChatMessage) {
        let existing =
            self.entries.with_untracked(|entries| entries.iter().rev().find(|e| e.id == message.id).copied());
        match existing {
            Some(entry) => entry.message.set(message),
            None => self.entries.update(|entries| entries.push(entry(message))),
        }
    }

    /// Applies one message from the server; returns a request to send back, if one is needed.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub fn apply(&self, reply: ChatReply) -> Option<ChatRequest> {
        match reply {
            ChatReply::UserMessage { message } => {
                let confirmed = message.client_id.clone();
                self.pending.update_value(|p| {
                    p.retain(|r| !matches!(r, ChatRequest::SendMessage { client_id, .. } if *client_id == confirmed))
                });
                self.upsert(message);
            }
            ChatReply::AiTyping { message } => {
                self.streaming.set(Some((message.id, 0)));
                self.upsert(message);
            }
            ChatReply::AiMessageChunk { message_id, seq, content } => {
                return self.grow(message_id, seq, |m| m.content.push_str(&content));
            }
            ChatReply::AiMessageComplete { message } => {
                if self.streaming.get_untracked().is_some_and(|(id, _)| id == message.id) {
                    self.streaming.set(None);
                }
                self.upsert(message);
            }
            ChatReply::Error { code, message } => {
                if code != crate::protocol::ErrorCode::Upstream {
                    self.notice.set(Some(message));
                }
            }
            ChatReply::Typing { active } => self.typing_elsewhere.set(active),
            ChatReply::ConnectionEstablished { .. } | ChatReply::Pong => {}
            part => {
                if let Some((message_id, seq, part)) = part.into_part() {
                    return self
                        .grow(message_id, seq, |m| m.parts.push(PlacedPart { at: m.content.len(), part }));
                }
            }
        }
        None
    }

    /// Applies the reply's chunk `seq` once and in order; a gap asks for the rest again.
    fn grow(
        &self,
        message_id: MessageId,
        seq: u64,
        change: impl FnOnce(&mut ChatMessage),
    ) -> Option<ChatRequest> {
        let (id, last) = self.streaming.get_untracked()?;
        if id != message_id || seq <= last {
            return None; // already have it
        }
        if seq > last + 1 {
            // A gap: ask for the rest again from what we have.
            return Some(ChatRequest::Resume { message_id, after_seq: last });
        }
        self.streaming.set(Some((id, seq)));
        if let Some(entry) = self.entries.with_untracked(|e| e.iter().rev().find(|e| e.id == id).copied()) {
            entry.message.update(change);
        }
        None
    }

    /// After (re)connecting and reloading the messages: re-send unconfirmed messages and resume
    /// the reply in progress from its start.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub fn rejoin(&self, streaming_message_id: Option<MessageId>) -> Vec<ChatRequest> {
        let mut requests: Vec<ChatRequest> = self.pending.get_value();
        self.streaming.set(streaming_message_id.map(|id| (id, 0)));
        if let Some(id) = streaming_message_id {
            let shown = self.entries.with_untracked(|e| e.iter().rev().find(|e| e.id == id).copied());
            if let Some(entry) = shown {
                entry.message.update(|m| {
                    m.content.clear();
                    m.parts.clear();
                    m.status = MessageStatus::Streaming;
                });
            }
            requests.push(ChatRequest::Resume { message_id: id, after_seq: 0 });
        }
        requests
    }
}

fn entry(message: ChatMessage) -> Entry {
    Entry { id: message.id, message: RwSignal::new(message) }
}

/// A suffix that makes client ids unique per page and message.
fn unique_suffix() -> String {
    #[cfg(feature = "hydrate")]
    {
        format!("{:x}{:x}", js_sys::Date::now() as u64, (js_sys::Math::random() * 1e9) as u64)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Role;

    fn reply(id: MessageId, content: &str, status: MessageStatus) -> ChatMessage {
        ChatMessage::new(id, Role::Assistant, content.into(), status)
    }

    fn chunk(seq: u64, content: &str) -> ChatReply {
        ChatReply::AiMessageChunk { message_id: MessageId(7), seq, content: content.into() }
    }

    fn text(conversation: &Conversation) -> String {
        conversation.entries.with_untracked(|e| e[0].message.with_untracked(|m| m.content.clone()))
    }

    #[test]
    fn chunks_apply_once_and_in_order_and_a_gap_asks_to_resume() {
        Owner::new().with(chunks_apply_once_and_in_order);
    }

    fn chunks_apply_once_and_in_order() {
        let conversation = Conversation::open(ChatSessionId(1));
        conversation
            .apply(ChatReply::AiTyping { message: reply(MessageId(7), "", MessageStatus::Streaming) });
        assert_eq!(conversation.apply(chunk(1, "Hel")), None);
        assert_eq!(conversation.apply(chunk(1, "Hel")), None, "a repeated chunk is ignored");
        assert_eq!(conversation.apply(chunk(2, "lo")), None);
        assert_eq!(text(&conversation), "Hello");
        let call = crate::protocol::ToolCallPart {
            call_id: "c1".into(),
            name: "count_events".into(),
            arguments: serde_json::json!({}),
        };
        assert_eq!(conversation.apply(ChatReply::ToolCall { message_id: MessageId(7), seq: 3, call }), None);
        let parts = conversation.entries.with_untracked(|e| e[0].message.with_untracked(|m| m.parts.clone()));
        assert_eq!(parts.len(), 1, "a part takes its place in the sequence");
        assert_eq!(parts[0].at, 5, "after the text so far");
        assert_eq!(
            conversation.apply(chunk(5, "?")),
            Some(ChatRequest::Resume { message_id: MessageId(7), after_seq: 3 })
        );
        assert_eq!(text(&conversation), "Hello", "nothing is applied past a gap");
        conversation.apply(ChatReply::AiMessageComplete {
            message: reply(MessageId(7), "Hello!", MessageStatus::Complete),
        });
        assert_eq!(
            (text(&conversation), conversation.streaming.get_untracked()),
            ("Hello!".to_owned(), None)
        );
    }

    #[test]
    fn rejoining_resumes_the_reply_from_its_start() {
        Owner::new().with(rejoining_resumes);
    }

    fn rejoining_resumes() {
        let conversation = Conversation::open(ChatSessionId(1));
        conversation
            .show(vec![reply(MessageId(7), "partial from the datab", MessageStatus::Streaming)], None);
        assert_eq!(
            conversation.rejoin(Some(MessageId(7))),
            vec![ChatRequest::Resume { message_id: MessageId(7), after_seq: 0 }]
        );
        assert_eq!(text(&conversation), "", "the replay rebuilds the text exactly");
        conversation.apply(chunk(1, "whole"));
        assert_eq!(text(&conversation), "whole");
    }
}

#[cfg(feature = "hydrate")]
mod client {
    use std::time::Duration;

    use futures::channel::mpsc::UnboundedReceiver;
    use futures::{SinkExt, StreamExt};
    use gloo_net::websocket::Message;
    use gloo_net::websocket::futures::WebSocket;
    use leptos::prelude::*;

    use super::{Conversation, Link};
    use crate::api::chat_messages;
    use crate::protocol::{ChatReply, ChatRequest, parse_frame};
    use crate::ui::common::websocket_url;

    const MAX_BACKOFF: Duration = Duration::from_secs(10);

    enum Input {
        Frame(String),
        Closed,
        Request(ChatRequest),
        Left,
    }

    /// True once the page has left the session (its signals are gone).
    fn left(conversation: &Conversation) -> bool {
        conversation.outgoing.try_with_value(Option::is_some) != Some(true)
    }

    /// Keeps the session's websocket open until the page leaves the session.
    pub async fn run(conversation: Conversation, mut requests: UnboundedReceiver<ChatRequest>) {
        let url = websocket_url(&format!("/ws/ai-chat/session/{}/", conversation.session_id));
        let mut backoff = Duration::from_millis(250);
        loop {
            conversation.link.set(Link::Connecting);
            if let Ok(socket) = WebSocket::open(&url) {
                let (mut sink, stream) = socket.split();
                let frames = stream
                    .take_while(|frame| std::future::ready(frame.is_ok()))
                    .filter_map(|frame| {
                        std::future::ready(match frame {
                            Ok(Message::Text(text)) => Some(Input::Frame(text)),
                            _ => None,
                        })
                    })
                    .chain(futures::stream::once(std::future::ready(Input::Closed)));
                let requests = requests
                    .by_ref()
                    .map(Input::Request)
                    .chain(futures::stream::once(std::future::ready(Input::Left)));
                let mut inputs = futures::stream::select(frames, requests);
                while let Some(input) = inputs.next().await {
                    if left(&conversation) {
                        return;
                    }
                    let outgoing = match input {
                        Input::Closed => break,
                        Input::Left => return,
                        Input::Request(request) => vec![request],
                        Input::Frame(text) => match parse_frame::<ChatReply>(&text) {
                            Ok(ChatReply::ConnectionEstablished { streaming_message_id, .. }) => {
                                backoff = Duration::from_millis(250);
                                let page = chat_messages(conversation.session_id, None).await;
                                if left(&conversation) {
                                    return;
                                }
                                match page {
                                    Ok(page) => conversation.show(page.messages, page.earlier),
                                    Err(e) => conversation.notice.set(Some(e.message)),
                                }
                                conversation.link.set(Link::Online);
                                conversation.rejoin(streaming_message_id)
                            }
                            Ok(reply) => conversation.apply(reply).into_iter().collect(),
                            Err(_) => Vec::new(),
                        },
                    };
                    for request in outgoing {
                        let Ok(text) = serde_json::to_string(&request) else { continue };
                        if sink.send(Message::Text(text)).await.is_err() {
                            break;
                        }
                    }
                }
            }
            if left(&conversation) {
                return;
            }
            conversation.link.set(Link::Connecting);
            gloo_timers::future::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if left(&conversation) {
                return;
            }
        }
    }
}
