//! Alert rules and alerts in the database, always within one owner's records. Each owner's
//! active rules are cached for the alert engine and forgotten whenever the owner edits them.

use crate::protocol::{AlertId, EventId, RuleId, SightingId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio::sync::broadcast;

use super::Webhooks;
use crate::backend::db::{Pool, on_engine};
use crate::backend::{AppError, Hub};
use crate::protocol::{AlertInfo, LiveUpdate, RuleDraft, RuleInfo, WebhookStatus};

/// Most alerts listed at once.
const ALERT_PAGE: i64 = 50;

type RuleRow = (RuleId, String, String, f64, Option<String>, i64, i64, Option<String>, bool);

const RULE_COLUMNS: &str =
    "id, name, labels, min_score, stream, cooldown_secs, stays_secs, webhook_url, paused";
const ALERT_COLUMNS: &str = "id, rule_id, rule_name, stream, label, score, event_id, thumbnail_event_id, fired_at, \
     webhook_status, sighting_id, (SELECT ended_at FROM sightings WHERE sightings.id = sighting_id) AS left_at";

fn rule(
    (id, name, labels, min_score, stream, cooldown_secs, stays_secs, webhook_url, paused): RuleRow,
) -> RuleInfo {
    let cooldown_secs = u32::try_from(cooldown_secs).unwrap_or(0);
    let stays_secs = u32::try_from(stays_secs).unwrap_or(0);
    RuleInfo {
        id,
        rule: RuleDraft { name, labels, min_score, stream, cooldown_secs, stays_secs, webhook_url },
        paused,
    }
}

/// What fired, for [`Rules::record_alert`].
#[derive(Clone, Debug)]
pub struct Firing {
    /// The rule's owner.
    pub owner_id: UserId,
    /// The rule.
    pub rule: RuleInfo,
    /// The stream that showed it.
    pub stream: String,
    /// The recognised class.
    pub label: String,
    /// The median score.
    pub score: f64,
    /// The event that fired the rule.
    pub event_id: EventId,
    /// The sighting of `label` going on.
    pub sighting_id: Option<SightingId>,
}

/// An owner's active rules as loaded, and the owner's hub updates since, which say when they
/// changed (on this replica or another).
#[derive(Debug)]
struct Cached {
    rules: Arc<Vec<RuleInfo>>,
    news: broadcast::Receiver<LiveUpdate>,
}

impl Cached {
    /// Whether a `rules_changed` came (or updates were missed) since the rules were loaded.
    fn stale(&mut self) -> bool {
        loop {
            match self.news.try_recv() {
                Ok(LiveUpdate::RulesChanged) => return true,
                Ok(_) => {}
                Err(broadcast::error::TryRecvError::Empty) => return false,
                Err(_) => return true,
            }
        }
    }
}

/// The rules and alerts service.
#[derive(Clone, Debug)]
pub struct Rules {
    pool: Pool,
    active: Arc<Mutex<HashMap<UserId, Cached>>>,
    webhooks: Webhooks,
    hub: Hub,
}

impl Rules {
    /// Rules in `pool`, whose webhooks go out through `webhooks`; changes are announced on `hub`.
    pub fn new(pool: Pool, webhooks: Webhooks, hub: Hub) -> Self {
        Self { pool, active: Arc::default(), webhooks, hub }
    }

    /// Where alerts of webhook rules are sent.
    pub fn webhooks(&self) -> &Webhooks {
        &self.webhooks
    }

    /// Forgets `owner_id`'s cached rules here, and tells their pages and the other replicas.
    fn changed(&self, owner_id: UserId) {
        self.active.lock().unwrap_or_else(|p| p.into_inner()).remove(&owner_id);
        self.hub.publish(owner_id, LiveUpdate::RulesChanged);
    }

    /// `owner_id`'s rules, oldest first.
    pub async fn list(&self, owner_id: UserId) -> Result<Vec<RuleInfo>, AppError> {
        let rows: Vec<RuleRow> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE owner_id = $1 ORDER BY id"
        ))
        .bind(owner_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(rule).collect())
    }

    /// `owner_id`'s rules that are not paused, cached until they change on any replica.
    pub async fn active(&self, owner_id: UserId) -> Result<Arc<Vec<RuleInfo>>, AppError> {
        {
            let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(cached) = active.get_mut(&owner_id) {
                if !cached.stale() {
                    return Ok(Arc::clone(&cached.rules));
                }
                active.remove(&owner_id);
            }
        }
        // Listening before loading, a change made meanwhile is not missed.
        let news = self.hub.subscribe(owner_id);
        let rules: Arc<Vec<RuleInfo>> =
            Arc::new(self.list(owner_id).await?.into_iter().filter(|r| !r.paused).collect());
        let cached = Cached { rules: Arc::clone(&rules), news };
        self.active.lock().unwrap_or_else(|p| p.into_inner()).insert(owner_id, cached);
        Ok(rules)
    }

    /// Creates a rule (`id` none) or replaces rule `id`'s fields.
    pub async fn save(
        &self,
        owner_id: UserId,
        id: Option<RuleId>,
        draft: RuleDraft,
    ) -> Result<RuleInfo, AppError> {
        let draft = draft.validate()?;
        if let Some(url) = &draft.webhook_url {
            self.webhooks
                .policy()
                .check(url)
                .await
                .map_err(|refusal| AppError::BadRequest(refusal.to_string()))?;
        }
        // Both statements take the same parameters: the rule's id, its owner, its fields in
        // column order, and the time.
        let sql = match id {
            None => format!(
                "INSERT INTO alert_rules
                    (owner_id, name, labels, min_score, stream, cooldown_secs, stays_secs, webhook_url, created_at)
                 VALUES ($2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {RULE_COLUMNS}"
            ),
            Some(_) => format!(
                "UPDATE alert_rules SET name = $3, labels = $4, min_score = $5, stream = $6,
                    cooldown_secs = $7, stays_secs = $8, webhook_url = $9
                 WHERE id = $1 AND owner_id = $2 RETURNING {RULE_COLUMNS}"
            ),
        };
        let row: Option<RuleRow> = on_engine!(&self.pool, |pool| sqlx::query_as(&sql)
            .bind(id)
            .bind(owner_id)
            .bind(&draft.name)
            .bind(&draft.labels)
            .bind(draft.min_score)
            .bind(&draft.stream)
            .bind(i64::from(draft.cooldown_secs))
            .bind(i64::from(draft.stays_secs))
            .bind(&draft.webhook_url)
            .bind(Utc::now())
            .fetch_optional(pool)
            .await)?;
        self.changed(owner_id);
        row.map(rule).ok_or(AppError::NotFound)
    }

    /// Pauses or resumes rule `id`.
    pub async fn set_paused(&self, owner_id: UserId, id: RuleId, paused: bool) -> Result<(), AppError> {
        let done = on_engine!(&self.pool, |pool| sqlx::query(
            "UPDATE alert_rules SET paused = $3 WHERE id = $1 AND owner_id = $2"
        )
        .bind(id)
        .bind(owner_id)
        .bind(paused)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        self.changed(owner_id);
        if done == 0 { Err(AppError::NotFound) } else { Ok(()) }
    }

    /// Deletes rule `id`; its alerts stay.
    pub async fn delete(&self, owner_id: UserId, id: RuleId) -> Result<(), AppError> {
        let done = on_engine!(&self.pool, |pool| sqlx::query(
            "DELETE FROM alert_rules WHERE id = $1 AND owner_id = $2"
        )
        .bind(id)
        .bind(owner_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        self.changed(owner_id);
        if done == 0 { Err(AppError::NotFound) } else { Ok(()) }
    }

    /// `owner_id`'s latest alerts, newest first.
    pub async fn alerts(&self, owner_id: UserId) -> Result<Vec<AlertInfo>, AppError> {
        Ok(on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE owner_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(owner_id)
        .bind(ALERT_PAGE)
        .fetch_all(pool)
        .await)?)
    }

    /// Stores an alert, with its sighting's best thumbnail (or the stream's latest) so people see
    /// what was recognised — unless the rule fired within its cooldown already, on this or
    /// another replica sharing the database (the rule's `last_fired_at`, claimed in the same
    /// transaction): then `None`.
    pub async fn record_alert(&self, firing: &Firing) -> Result<Option<AlertInfo>, AppError> {
        let now = Utc::now();
        let cooled_since = now - chrono::TimeDelta::seconds(i64::from(firing.rule.rule.cooldown_secs));
        let webhook_status = firing.rule.rule.webhook_url.as_ref().map(|_| WebhookStatus::Pending);
        Ok(on_engine!(&self.pool, |pool| {
            let mut tx = pool.begin().await?;
            let claimed = sqlx::query(
                "UPDATE alert_rules SET last_fired_at = $2
                 WHERE id = $1 AND (last_fired_at IS NULL OR last_fired_at <= $3)",
            )
            .bind(firing.rule.id)
            .bind(now)
            .bind(cooled_since)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                return Ok(None);
            }
            let alert = sqlx::query_as(&format!(
                "INSERT INTO alerts
                    (owner_id, rule_id, rule_name, stream, label, score, event_id, thumbnail_event_id, fired_at,
                     webhook_status, sighting_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7,
                     COALESCE((SELECT thumbnail_event_id FROM sightings WHERE id = $10),
                         (SELECT id FROM classification_events
                           WHERE owner_id = $1 AND stream = $4 AND thumbnail IS NOT NULL AND id <= $7
                           ORDER BY id DESC LIMIT 1)),
                     $8, $9, $10)
                 RETURNING {ALERT_COLUMNS}"
            ))
            .bind(firing.owner_id)
            .bind(firing.rule.id)
            .bind(&firing.rule.rule.name)
            .bind(&firing.stream)
            .bind(&firing.label)
            .bind(firing.score)
            .bind(firing.event_id)
            .bind(now)
            .bind(webhook_status)
            .bind(firing.sighting_id)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Some(alert)
        }))
    }

    /// Records how alert `id`'s webhook went.
    pub async fn set_webhook_status(&self, id: AlertId, status: &WebhookStatus) -> Result<(), AppError> {
        on_engine!(&self.pool, |pool| sqlx::query("UPDATE alerts SET webhook_status = $2 WHERE id = $1")
            .bind(id)
            .bind(status)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }
}
