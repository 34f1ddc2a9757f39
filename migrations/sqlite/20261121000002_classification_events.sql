-- What the cameras recognised: one row per classification event a browser sent.
-- (owner, stream, producer, seq) identifies an event, so a re-sent event is stored once.

CREATE TABLE classification_events (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stream TEXT NOT NULL,
    producer TEXT NOT NULL,
    seq BIGINT NOT NULL,
    model TEXT NOT NULL,
    classifications TEXT NOT NULL,
    top_index INTEGER NOT NULL,
    top_label TEXT NOT NULL,
    top_score REAL NOT NULL,
    thumbnail BLOB,
    client_time TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (owner_id, stream, producer, seq)
);

CREATE INDEX classification_events_owner_received ON classification_events (owner_id, received_at);
CREATE INDEX classification_events_owner_label ON classification_events (owner_id, top_label, received_at);
