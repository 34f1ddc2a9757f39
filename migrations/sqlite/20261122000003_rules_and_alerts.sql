-- Alert rules and the alerts they fire; each belongs to one user.
CREATE TABLE alert_rules (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    min_score REAL NOT NULL CHECK (min_score BETWEEN 0 AND 1),
    stream TEXT,
    cooldown_secs INTEGER NOT NULL CHECK (cooldown_secs >= 0),
    webhook_url TEXT,
    paused INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX alert_rules_by_owner ON alert_rules (owner_id);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rule_id INTEGER REFERENCES alert_rules (id) ON DELETE SET NULL,
    rule_name TEXT NOT NULL,
    stream TEXT NOT NULL,
    label TEXT NOT NULL,
    score REAL NOT NULL,
    event_id INTEGER REFERENCES classification_events (id) ON DELETE SET NULL,
    thumbnail_event_id INTEGER REFERENCES classification_events (id) ON DELETE SET NULL,
    fired_at TEXT NOT NULL,
    webhook_status TEXT
);
CREATE INDEX alerts_by_owner ON alerts (owner_id, id);
