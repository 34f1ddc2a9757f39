-- When each rule last fired, so that replicas sharing the database fire it once per cooldown.
ALTER TABLE alert_rules ADD COLUMN last_fired_at TIMESTAMPTZ;
