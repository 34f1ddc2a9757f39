//! The signed-in user's classification events and sightings.

use crate::protocol::{EventId, SightingId};
use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::protocol::{ApiError, EventPage, LabelActivity, SightingPage, StoredEvent};
#[cfg(feature = "ssr")]
use {
    super::server::{context, require_identity},
    crate::backend::events::{EventQuery, SightingQuery},
};

/// Trims a text filter; empty means none.
#[cfg(feature = "ssr")]
fn filter_text(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// One page of the user's events, newest first, narrowed by the given filters (empty ones are
/// ignored); `before_id` asks for the page after a previous one.
#[server(endpoint = "events")]
pub async fn list_events(
    stream: Option<String>,
    label: Option<String>,
    min_score: Option<f64>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    before_id: Option<EventId>,
) -> Result<EventPage, ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    if min_score.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
        return Err(ApiError::bad_request("min_score is between 0 and 1"));
    }
    let query = EventQuery {
        stream: filter_text(stream),
        label: filter_text(label),
        min_score,
        since,
        until,
        before_id,
    };
    Ok(context.events.list(identity.user.id, &query).await?)
}

/// Hours the activity chart covers, one bucket each.
#[cfg(feature = "ssr")]
const ACTIVITY_HOURS: usize = 24;
/// Labels the activity chart shows.
#[cfg(feature = "ssr")]
const ACTIVITY_LABELS: usize = 5;

/// Sightings begun per hour over the last day for the user's most frequent labels.
#[server(endpoint = "events/activity")]
pub async fn recent_activity() -> Result<LabelActivity, ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    let hours = (ACTIVITY_HOURS, chrono::TimeDelta::hours(1));
    Ok(context.sightings.activity(identity.user.id, hours, ACTIVITY_LABELS).await?)
}

/// One page of the user's sightings, newest first (those going on included), narrowed by stream
/// and label; `before_id` asks for the page after a previous one.
#[server(endpoint = "sightings")]
pub async fn list_sightings(
    stream: Option<String>,
    label: Option<String>,
    before_id: Option<SightingId>,
) -> Result<SightingPage, ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    let query = SightingQuery { stream: filter_text(stream), label: filter_text(label), before_id };
    Ok(context.sightings.list(identity.user.id, &query).await?)
}

/// The events of one of the user's sightings, oldest first.
#[server(endpoint = "sightings/events")]
pub async fn sighting_events(id: SightingId) -> Result<Vec<StoredEvent>, ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    Ok(context.sightings.events(identity.user.id, id).await?)
}
