-- Web console sessions (docs/console.md). A session is started by signing in
-- with an API key and lives in Postgres so that it works across admin
-- replicas. Only SHA-256 of the session id is stored: a copy of this table
-- does not let anyone sign in. The CSRF token travels in every
-- state-changing form of the session and is compared with this row's.
-- A session belongs to its API key: revoking or expiring the key ends it
-- (the lookup joins api_keys), deleting the key deletes it.
CREATE TABLE console_sessions (
    id_hash      bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    api_key_id   uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL CHECK (length(csrf_token) BETWEEN 32 AND 100),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
CREATE INDEX console_sessions_key ON console_sessions (api_key_id);
GRANT SELECT, INSERT, DELETE ON console_sessions TO certctl_admin;
