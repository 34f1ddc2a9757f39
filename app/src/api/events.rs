//! The signed-in user's classification events.

use crate::protocol::EventId;
use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::protocol::{ApiError, EventPage, LabelActivity};
#[cfg(feature = "ssr")]
use {
    super::server::{context, require_identity},
    crate::backend::events::EventQuery,
};

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
    let text = |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let query = EventQuery { stream: text(stream), label: text(label), min_score, since, until, before_id };
    Ok(context.events.list(identity.user.id, &query).await?)
}

/// Hours the activity chart covers, one bucket each.
#[cfg(feature = "ssr")]
const ACTIVITY_HOURS: usize = 24;
/// Labels the activity chart shows.
#[cfg(feature = "ssr")]
const ACTIVITY_LABELS: usize = 5;

/// Events per hour over the last day for the user's most frequent labels.
#[server(endpoint = "events/activity")]
pub async fn recent_activity() -> Result<LabelActivity, ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    let hour = chrono::TimeDelta::hours(1);
    Ok(context.events.activity(identity.user.id, ACTIVITY_HOURS, hour, ACTIVITY_LABELS).await?)
}
