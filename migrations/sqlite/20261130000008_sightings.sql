-- Sightings: a label on a stream from when it was recognised until it had been absent for a while.
-- Its events are the stream's events with ids from first_event_id to last_event_id.
CREATE TABLE sightings (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stream TEXT NOT NULL,
    label TEXT NOT NULL,
    started_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    ended_at TEXT,
    peak_score REAL NOT NULL,
    first_event_id INTEGER NOT NULL,
    last_event_id INTEGER NOT NULL,
    thumbnail_event_id INTEGER REFERENCES classification_events (id) ON DELETE SET NULL
);
CREATE INDEX sightings_by_owner ON sightings (owner_id, id);
CREATE INDEX sightings_by_owner_started ON sightings (owner_id, started_at);
CREATE INDEX sightings_open ON sightings (id) WHERE ended_at IS NULL;

-- A rule fires when a label appears (0) or once it has stayed this many seconds.
ALTER TABLE alert_rules ADD COLUMN stays_secs INTEGER NOT NULL DEFAULT 0 CHECK (stays_secs >= 0);
-- The sighting an alert was about, to say when it left.
ALTER TABLE alerts ADD COLUMN sighting_id INTEGER REFERENCES sightings (id) ON DELETE SET NULL;
