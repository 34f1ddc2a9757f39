-- Failures a throttle counts (sign-in attempts per address and username), by the key's SHA-256.
CREATE TABLE throttle_failures (
    key TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE INDEX throttle_failures_by_key ON throttle_failures (key, failed_at);
CREATE INDEX throttle_failures_by_time ON throttle_failures (failed_at);
