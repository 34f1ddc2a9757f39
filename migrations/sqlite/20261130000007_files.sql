-- Files attached to chat messages: uploaded to a session (the bytes under the data directory,
-- named by id), their text extracted at upload, attached to the user message that sends them.
-- A message keeps the descriptions of its files (JSON) as they were when it was sent.
CREATE TABLE chat_files (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id INTEGER NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    message_id INTEGER REFERENCES chat_messages (id) ON DELETE SET NULL,
    filename TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX chat_files_by_session ON chat_files (session_id, id);
ALTER TABLE chat_messages ADD COLUMN files TEXT;
