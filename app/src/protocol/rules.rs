use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AlertId, ApiError, EventId, RuleId, SightingId, StreamName};

/// Longest cooldown a rule may have: a day.
pub const MAX_COOLDOWN_SECS: u32 = 24 * 3600;
/// Longest a rule may wait for a label to stay: an hour.
pub const MAX_STAYS_SECS: u32 = 3600;

/// A rule as its owner writes it: when `labels` are recognised with at least `min_score` (the
/// median of the last few events, so one noisy frame does not fire), on `stream` or any, record
/// an alert — at most once per `cooldown_secs` — and optionally POST it to `webhook_url`. With
/// `stays_secs`, the rule waits until the label has stayed that long (once per sighting).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleDraft {
    /// A name for people, e.g. "Cat at the door".
    pub name: String,
    /// Comma-separated class names; each matches as on the Camera page (`cat` matches "tabby cat").
    pub labels: String,
    /// The least median score that fires.
    pub min_score: f64,
    /// Only events of this stream; any stream when empty.
    pub stream: Option<String>,
    /// Seconds after firing during which the rule stays quiet.
    pub cooldown_secs: u32,
    /// 0: fire when a label appears; more: fire once a sighting of it has lasted this many seconds.
    #[serde(default)]
    pub stays_secs: u32,
    /// An `http(s)://` address that receives each alert as JSON.
    pub webhook_url: Option<String>,
}

impl RuleDraft {
    /// Checks every field and trims the text ones.
    pub fn validate(mut self) -> Result<Self, ApiError> {
        let bad = |message: &str| Err(ApiError::bad_request(message));
        self.name = self.name.trim().to_owned();
        if !(1..=64).contains(&self.name.chars().count()) {
            return bad("a rule's name has 1 to 64 characters");
        }
        let labels: Vec<&str> = self.labels.split(',').map(str::trim).filter(|l| !l.is_empty()).collect();
        if labels.is_empty() || labels.iter().any(|l| l.len() > 128) || labels.len() > 20 {
            return bad("a rule names 1 to 20 labels, comma-separated");
        }
        self.labels = labels.join(", ");
        if !(0.0..=1.0).contains(&self.min_score) {
            return bad("the minimum score is between 0 and 1");
        }
        if self.cooldown_secs > MAX_COOLDOWN_SECS {
            return bad("the cooldown is at most a day (86400 seconds)");
        }
        if self.stays_secs > MAX_STAYS_SECS {
            return bad("a rule waits at most an hour (3600 seconds) for a label to stay");
        }
        self.stream = self.stream.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(stream) = &self.stream {
            StreamName::parse(stream)?;
        }
        self.webhook_url = self.webhook_url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
        if let Some(url) = &self.webhook_url {
            let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
            if !scheme_ok || url.len() > 2048 || url.chars().any(char::is_whitespace) {
                return bad("the webhook is an http:// or https:// address");
            }
        }
        Ok(self)
    }
}

/// A stored rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// Database id.
    pub id: RuleId,
    /// What the owner wrote.
    #[serde(flatten)]
    pub rule: RuleDraft,
    /// A paused rule does not fire.
    pub paused: bool,
}

/// How an alert's webhook delivery went, as text on the wire and in the database: `pending`,
/// `delivered`, `refused: …` or `failed: …`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum WebhookStatus {
    /// Not delivered yet.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// The address is not allowed (not public); not attempted.
    Refused,
    /// Every attempt failed; the last one's reason (`status 500`, `timed out`, `cannot connect`).
    Failed(String),
}

const REFUSED: &str = "refused: the address is not public";

impl From<String> for WebhookStatus {
    fn from(text: String) -> Self {
        match text.as_str() {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            _ if text.starts_with("refused") => Self::Refused,
            _ => Self::Failed(text.strip_prefix("failed: ").map(str::to_owned).unwrap_or(text)),
        }
    }
}

impl From<WebhookStatus> for String {
    fn from(status: WebhookStatus) -> Self {
        status.to_string()
    }
}

impl std::fmt::Display for WebhookStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pending => f.write_str("pending"),
            Self::Delivered => f.write_str("delivered"),
            Self::Refused => f.write_str(REFUSED),
            Self::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

#[cfg(feature = "ssr")]
super::text_column!(WebhookStatus);

/// A rule that fired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct AlertInfo {
    /// Database id.
    pub id: AlertId,
    /// The rule's id, unless it was deleted since.
    pub rule_id: Option<RuleId>,
    /// The rule's name when it fired.
    pub rule_name: String,
    /// The stream that showed it.
    pub stream: String,
    /// The recognised class.
    pub label: String,
    /// The median score that fired the rule.
    pub score: f64,
    /// The event that fired it.
    pub event_id: Option<EventId>,
    /// The stream's latest event with a thumbnail (`/api/events/{id}/thumbnail`), to show what was seen.
    pub thumbnail_event_id: Option<EventId>,
    /// When it fired.
    pub fired_at: DateTime<Utc>,
    /// How the webhook went; none when the rule has no webhook.
    pub webhook_status: Option<WebhookStatus>,
    /// The sighting of `label` on `stream` it was about.
    pub sighting_id: Option<SightingId>,
    /// When that sighting ended (what was seen left); none while it is still there.
    pub left_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_statuses_read_back_as_they_were_written() {
        for status in [
            WebhookStatus::Pending,
            WebhookStatus::Delivered,
            WebhookStatus::Refused,
            WebhookStatus::Failed("status 500".into()),
        ] {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(serde_json::from_str::<WebhookStatus>(&json).unwrap(), status, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&WebhookStatus::Failed("timed out".into())).unwrap(),
            r#""failed: timed out""#
        );
    }

    fn draft() -> RuleDraft {
        RuleDraft {
            name: " Cat at the door ".into(),
            labels: "cat, ,tabby ".into(),
            min_score: 0.6,
            stream: Some(" ".into()),
            cooldown_secs: 60,
            stays_secs: 0,
            webhook_url: Some("https://hooks.example.com/x".into()),
        }
    }

    #[test]
    fn a_valid_draft_is_tidied() {
        let rule = draft().validate().unwrap();
        assert_eq!(
            (rule.name.as_str(), rule.labels.as_str(), rule.stream),
            ("Cat at the door", "cat, tabby", None)
        );
    }

    #[test]
    fn bad_fields_are_refused() {
        assert!(RuleDraft { labels: " , ".into(), ..draft() }.validate().is_err());
        assert!(RuleDraft { min_score: 1.5, ..draft() }.validate().is_err());
        assert!(RuleDraft { cooldown_secs: MAX_COOLDOWN_SECS + 1, ..draft() }.validate().is_err());
        assert!(RuleDraft { stays_secs: MAX_STAYS_SECS + 1, ..draft() }.validate().is_err());
        assert!(RuleDraft { stream: Some("a/b".into()), ..draft() }.validate().is_err());
        assert!(RuleDraft { webhook_url: Some("ftp://x".into()), ..draft() }.validate().is_err());
        assert!(RuleDraft { name: String::new(), ..draft() }.validate().is_err());
    }
}
