-- One row describing this installation: when its database was created.
CREATE TABLE instance (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    created_at TEXT NOT NULL
);

INSERT INTO instance (id, created_at) VALUES (1, CURRENT_TIMESTAMP);
