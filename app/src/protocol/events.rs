use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ApiError, Category, ErrorCode, EventId, SightingId};

/// Most heads one event may carry.
pub const MAX_HEADS: usize = 4;
/// Most categories one head may carry.
pub const MAX_CATEGORIES: usize = 20;
/// Largest thumbnail accepted, in bytes of JPEG.
pub const MAX_THUMBNAIL_BYTES: usize = 48 * 1024;

/// The output of one classifier head, in the shape of the original AI Channels event:
/// `{categories: [{index, score, categoryName, displayName}], headIndex, headName}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Classification {
    /// The recognised classes, best first.
    pub categories: Vec<Category>,
    /// Which head produced them (0 for single-head models).
    pub head_index: u32,
    /// The head's name, e.g. `"probability"`.
    pub head_name: String,
}

/// A camera stream's name, as in `/ws/events/{stream}`: 1–64 characters of letters, digits,
/// `-`, `_` and `.`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamName(String);

impl StreamName {
    /// Checks a stream name from a URL or a form.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let ok = (1..=64).contains(&input.len())
            && input.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(ApiError::bad_request("a stream name has 1 to 64 letters, digits, '-', '_' or '.'"))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One recognition, as a browser sends it over `/ws/events/{stream}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassificationEvent {
    /// Identifies the sending page (random per page load); with `seq`, the event's identity.
    pub producer: String,
    /// Per-producer sequence number, from 1; re-sent events keep theirs.
    pub seq: u64,
    /// The model that classified, e.g. `"efficientnet_lite0"`.
    pub model: String,
    /// When the frame was classified, by the browser's clock.
    pub client_time: DateTime<Utc>,
    /// One entry per classifier head.
    pub classifications: Vec<Classification>,
    /// A small JPEG of the frame, base64-encoded, when the top category changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
}

/// What a camera page sends on `/ws/events/{stream}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventRequest {
    /// A recognition to store.
    Classification(ClassificationEvent),
    /// Asks for a `pong`.
    Ping,
}

/// What the server answers on `/ws/events/{stream}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventReply {
    /// The connection is open for this stream.
    ConnectionEstablished {
        /// The stream the events go to.
        stream: String,
    },
    /// The event `seq` of `producer` is stored (now, or already before: `duplicate`).
    Ack {
        /// The acknowledged event's producer.
        producer: String,
        /// The acknowledged event's sequence number.
        seq: u64,
        /// True when the event had been stored before (a re-send).
        duplicate: bool,
    },
    /// The answer to `ping`.
    Pong,
    /// A message was refused; the connection stays open.
    Error {
        /// The kind of failure.
        code: ErrorCode,
        /// A human-readable explanation.
        message: String,
        /// The refused event's sequence number, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
}

/// A classification event after validation: safe to store and act on.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidEvent {
    /// The event as sent.
    pub event: ClassificationEvent,
    /// The best category over all heads.
    pub top: Category,
    /// The decoded thumbnail JPEG.
    pub thumbnail: Option<Vec<u8>>,
}

impl ClassificationEvent {
    /// Checks every field against the model's `label_count` classes: scores are probabilities,
    /// indices are known classes, sizes are bounded, the thumbnail is a JPEG.
    pub fn validate(self, label_count: usize) -> Result<ValidEvent, ApiError> {
        let bad = |message: String| Err(ApiError::bad_request(message));
        if !(1..=64).contains(&self.producer.len()) || !(1..=64).contains(&self.model.len()) {
            return bad("producer and model have 1 to 64 characters".into());
        }
        if self.seq == 0 {
            return bad("seq starts at 1".into());
        }
        if self.classifications.is_empty() || self.classifications.len() > MAX_HEADS {
            return bad(format!("an event has 1 to {MAX_HEADS} classifications"));
        }
        for head in &self.classifications {
            if head.categories.is_empty() || head.categories.len() > MAX_CATEGORIES {
                return bad(format!("a classification has 1 to {MAX_CATEGORIES} categories"));
            }
            for category in &head.categories {
                if !(0.0..=1.0).contains(&category.score) {
                    return bad(format!("score {} is not in [0, 1]", category.score));
                }
                if category.index as usize >= label_count {
                    return bad(format!(
                        "class index {} is not one of the {label_count} classes",
                        category.index
                    ));
                }
                if category.category_name.len() > 128 || category.display_name.len() > 128 {
                    return bad("category names have at most 128 characters".into());
                }
            }
        }
        let top = self
            .classifications
            .iter()
            .flat_map(|head| &head.categories)
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .cloned()
            .ok_or_else(|| ApiError::bad_request("an event has at least one category"))?;
        let thumbnail = self.thumbnail.as_deref().map(decode_thumbnail).transpose()?;
        Ok(ValidEvent { event: self, top, thumbnail })
    }
}

fn decode_thumbnail(base64: &str) -> Result<Vec<u8>, ApiError> {
    use base64::Engine as _;
    let base64 = base64.strip_prefix("data:image/jpeg;base64,").unwrap_or(base64);
    if base64.len() > MAX_THUMBNAIL_BYTES * 4 / 3 + 4 {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("a thumbnail has at most {} KiB", MAX_THUMBNAIL_BYTES / 1024),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|e| ApiError::bad_request(format!("the thumbnail is not base64: {e}")))?;
    if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Err(ApiError::bad_request("the thumbnail is not a JPEG"));
    }
    Ok(bytes)
}

/// A stored classification event, as the Events page and the API list it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct StoredEvent {
    /// Database id; newer events have larger ids.
    pub id: EventId,
    /// The camera stream it came from.
    pub stream: String,
    /// The model that classified.
    pub model: String,
    /// The best class's index.
    pub top_index: i64,
    /// The best class's name.
    pub top_label: String,
    /// The best class's score.
    pub top_score: f64,
    /// Whether a thumbnail of the frame is stored (`/api/events/{id}/thumbnail`).
    pub has_thumbnail: bool,
    /// When the browser classified the frame.
    pub client_time: DateTime<Utc>,
    /// When the server stored the event.
    pub received_at: DateTime<Utc>,
}

/// A label on a stream from when it was recognised until it had been absent for a while: "a cat
/// at the door from 12:00:04 to 12:03:10". Worked out on the server from the events cameras send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct Sighting {
    /// Database id; newer sightings have larger ids.
    pub id: SightingId,
    /// The camera stream that saw it.
    pub stream: String,
    /// The recognised class.
    pub label: String,
    /// When it was first seen (the first of the events that confirmed it).
    pub started_at: DateTime<Utc>,
    /// When it was last seen.
    pub last_seen_at: DateTime<Utc>,
    /// When it left (the last time it was seen); none while it is still there.
    pub ended_at: Option<DateTime<Utc>>,
    /// Its best score.
    pub peak_score: f64,
    /// Its first event.
    pub first_event_id: EventId,
    /// Its latest event.
    pub last_event_id: EventId,
    /// The event whose thumbnail shows it best (`/api/events/{id}/thumbnail`).
    pub thumbnail_event_id: Option<EventId>,
}

impl Sighting {
    /// How long it has been there, up to its last sighting.
    pub fn duration(&self) -> chrono::TimeDelta {
        self.last_seen_at - self.started_at
    }

    /// Whether it has left.
    pub fn ended(&self) -> bool {
        self.ended_at.is_some()
    }
}

/// One page of sightings, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SightingPage {
    /// The sightings.
    pub sightings: Vec<Sighting>,
    /// Pass as `before_id` for the next (older) page; none when this is the last.
    pub next_before_id: Option<SightingId>,
}

/// One page of events, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    /// The events.
    pub events: Vec<StoredEvent>,
    /// Pass as `before_id` for the next (older) page; none when this is the last.
    pub next_before_id: Option<EventId>,
}

/// How often each of the most frequent labels was seen per time bucket: sightings begun (the
/// Events page's chart) or events (the camera assistant's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelActivity {
    /// Start of the first bucket.
    pub start: DateTime<Utc>,
    /// Length of each bucket, in minutes.
    pub bucket_minutes: u32,
    /// One series per label, most frequent first; every series has the same number of buckets.
    pub series: Vec<LabelSeries>,
}

/// Counts of one label, one per bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelSeries {
    /// The label.
    pub label: String,
    /// Counts per bucket, oldest first.
    pub counts: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category(index: u32, score: f32) -> Category {
        Category { index, score, category_name: format!("class {index}"), display_name: String::new() }
    }

    fn event(categories: Vec<Category>) -> ClassificationEvent {
        ClassificationEvent {
            producer: "p".into(),
            seq: 1,
            model: "m".into(),
            client_time: Utc::now(),
            classifications: vec![Classification {
                categories,
                head_index: 0,
                head_name: "probability".into(),
            }],
            thumbnail: None,
        }
    }

    #[test]
    fn a_valid_event_names_its_best_category() {
        let valid = event(vec![category(3, 0.2), category(7, 0.7)]).validate(10).unwrap();
        assert_eq!(valid.top.index, 7);
    }

    #[test]
    fn scores_indices_and_sizes_are_checked() {
        assert!(event(vec![category(1, 1.2)]).validate(10).is_err());
        assert!(event(vec![category(1, f32::NAN)]).validate(10).is_err());
        assert!(event(vec![category(10, 0.5)]).validate(10).is_err());
        assert!(event(vec![]).validate(10).is_err());
        assert!(event(vec![category(1, 0.1); MAX_CATEGORIES + 1]).validate(10).is_err());
        let mut zero = event(vec![category(1, 0.5)]);
        zero.seq = 0;
        assert!(zero.validate(10).is_err());
    }

    #[test]
    fn thumbnails_must_be_small_jpegs() {
        use base64::Engine as _;
        let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut with = event(vec![category(1, 0.5)]);
        with.thumbnail = Some(format!("data:image/jpeg;base64,{}", encode(&[0xFF, 0xD8, 0xFF, 0xE0, 1, 2])));
        assert_eq!(with.clone().validate(10).unwrap().thumbnail.unwrap().len(), 6);
        with.thumbnail = Some(encode(b"GIF89a"));
        assert!(with.clone().validate(10).is_err());
        with.thumbnail = Some(encode(&vec![0xFF; MAX_THUMBNAIL_BYTES + 10]));
        assert_eq!(with.validate(10).unwrap_err().code, ErrorCode::TooLarge);
    }

    #[test]
    fn stream_names_are_checked() {
        assert!(StreamName::parse("cam-0.front_door").is_ok());
        assert!(StreamName::parse("").is_err());
        assert!(StreamName::parse("a/b").is_err());
        assert!(StreamName::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn events_keep_the_original_field_names() {
        let json = serde_json::to_value(event(vec![category(1, 0.5)])).unwrap();
        let head = &json["classifications"][0];
        assert!(head.get("headIndex").is_some() && head.get("headName").is_some());
        assert!(head["categories"][0].get("categoryName").is_some());
    }
}
