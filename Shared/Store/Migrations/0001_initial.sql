-- certctl initial schema. Table names follow the operator runbook
-- (crl_cache, crl_generation_events, ocsp_responder_certs,
-- ocsp_response_cache, certificate_revocations).
-- Serial numbers are stored canonically everywhere: lowercase hex of the
-- positive integer, no leading zeros, at most 20 octets.

CREATE DOMAIN serial_hex AS text
    CHECK (VALUE ~ '^[1-9a-f][0-9a-f]{0,39}$');

CREATE DOMAIN issuer_id AS text
    CHECK (VALUE ~ '^[a-z0-9][a-z0-9-]{0,62}$');

-- Issuers and their CA key generations. The key itself never enters the
-- database: key_path names a file only certctl-signer reads.
CREATE TABLE issuers (
    id              issuer_id PRIMARY KEY,
    display_name    text NOT NULL,
    allow_sub_ca    boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    -- highest CRL number the signer has signed for this issuer (never decreases)
    last_crl_number numeric(49, 0) NOT NULL DEFAULT 0 CHECK (last_crl_number >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE issuer_generations (
    issuer_id         issuer_id NOT NULL REFERENCES issuers (id),
    generation        integer NOT NULL CHECK (generation >= 1),
    certificate_der   bytea NOT NULL,
    subject_der       bytea NOT NULL,
    subject_key_id    bytea NOT NULL,
    -- OCSP CertID lookups: hashes of the issuer name and public key
    name_hash_sha1    bytea NOT NULL,
    key_hash_sha1     bytea NOT NULL,
    name_hash_sha256  bytea NOT NULL,
    key_hash_sha256   bytea NOT NULL,
    key_algorithm     text NOT NULL,
    cert_path         text,
    key_path          text,
    not_before        timestamptz NOT NULL,
    not_after         timestamptz NOT NULL,
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer_id, generation),
    CHECK (not_after > not_before)
);
-- exactly one generation signs new certificates
CREATE UNIQUE INDEX issuer_generations_one_active ON issuer_generations (issuer_id) WHERE status = 'active';
CREATE INDEX issuer_generations_key_hash_sha1 ON issuer_generations (key_hash_sha1);
CREATE INDEX issuer_generations_key_hash_sha256 ON issuer_generations (key_hash_sha256);

CREATE TABLE profiles (
    id                     text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    description            text NOT NULL DEFAULT '',
    allowed_key_algorithms text[] NOT NULL,
    max_validity_days      integer NOT NULL CHECK (max_validity_days BETWEEN 1 AND 36500),
    extended_key_usages    text[] NOT NULL DEFAULT '{}',
    allowed_san_types      text[] NOT NULL DEFAULT '{}',
    san_patterns           text[] NOT NULL DEFAULT '{}',
    allow_ca               boolean NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE certificates (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    issuer_id         issuer_id NOT NULL REFERENCES issuers (id),
    issuer_generation integer,
    serial_hex        serial_hex NOT NULL,
    status            text NOT NULL CHECK (status IN ('pending', 'issued', 'failed', 'revoked')),
    profile_id        text REFERENCES profiles (id),
    subject           text NOT NULL DEFAULT '',
    subject_alt_names text[] NOT NULL DEFAULT '{}',
    not_before        timestamptz,
    not_after         timestamptz,
    certificate_der   bytea,
    csr_der           bytea,
    requested_by      text NOT NULL,
    request_source    text NOT NULL DEFAULT 'api' CHECK (request_source IN ('api', 'scep', 'est', 'internal')),
    idempotency_key   text,
    -- hash of the request body: a reused idempotency key must carry the same request
    request_fingerprint text,
    failure_reason    text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer_id, serial_hex),
    FOREIGN KEY (issuer_id, issuer_generation) REFERENCES issuer_generations (issuer_id, generation),
    CHECK (status NOT IN ('issued', 'revoked') OR certificate_der IS NOT NULL)
);
CREATE UNIQUE INDEX certificates_idempotency ON certificates (requested_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX certificates_status_created ON certificates (status, created_at);
CREATE INDEX certificates_not_after ON certificates (not_after);

-- Revocation log. change_seq grows on every insert or update, so a cache
-- that missed notifications can ask "what changed after N?".
CREATE SEQUENCE certificate_revocations_change_seq;
CREATE TABLE certificate_revocations (
    certificate_id      uuid PRIMARY KEY REFERENCES certificates (id),
    issuer_id           issuer_id NOT NULL,
    serial_hex          serial_hex NOT NULL,
    reason_code         smallint NOT NULL CHECK (reason_code IN (0, 1, 2, 3, 4, 5, 6, 8, 9, 10)),
    revoked_at          timestamptz NOT NULL,
    invalidity_date     timestamptz,
    revoked_by          text NOT NULL,
    -- set when a certificateHold is lifted (removeFromCRL)
    hold_released_at    timestamptz,
    change_seq          bigint NOT NULL DEFAULT nextval('certificate_revocations_change_seq'),
    UNIQUE (issuer_id, serial_hex),
    FOREIGN KEY (issuer_id, serial_hex) REFERENCES certificates (issuer_id, serial_hex)
);
CREATE INDEX certificate_revocations_change_seq_idx ON certificate_revocations (change_seq);
CREATE INDEX certificate_revocations_issuer ON certificate_revocations (issuer_id, serial_hex);

CREATE TABLE crl_cache (
    issuer_id              issuer_id NOT NULL REFERENCES issuers (id),
    issuer_generation      integer NOT NULL DEFAULT 1,
    crl_der                bytea NOT NULL,
    crl_number             numeric(49, 0) NOT NULL,
    this_update            timestamptz NOT NULL,
    next_update            timestamptz NOT NULL,
    generated_at           timestamptz NOT NULL DEFAULT now(),
    generation_duration_ms integer NOT NULL,
    revoked_count          integer NOT NULL,
    PRIMARY KEY (issuer_id, issuer_generation)
);

CREATE TABLE crl_generation_events (
    id                bigserial PRIMARY KEY,
    issuer_id         issuer_id NOT NULL,
    issuer_generation integer,
    trigger           text NOT NULL DEFAULT 'schedule',
    started_at        timestamptz NOT NULL,
    succeeded         boolean NOT NULL,
    error             text,
    duration_ms       integer NOT NULL,
    revoked_count     integer,
    crl_number        numeric(49, 0)
);
CREATE INDEX crl_generation_events_issuer_started ON crl_generation_events (issuer_id, started_at DESC);

CREATE TABLE ocsp_responder_certs (
    issuer_id         issuer_id NOT NULL REFERENCES issuers (id),
    issuer_generation integer NOT NULL DEFAULT 1,
    cert_subject      text NOT NULL,
    serial_number     serial_hex NOT NULL,
    certificate_der   bytea NOT NULL,
    key_path          text NOT NULL,
    not_before        timestamptz NOT NULL,
    not_after         timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer_id, issuer_generation)
);

CREATE TABLE ocsp_response_cache (
    issuer_id      issuer_id NOT NULL,
    serial_hex     serial_hex NOT NULL,
    hash_algorithm text NOT NULL CHECK (hash_algorithm IN ('sha1', 'sha256')),
    cert_status    text NOT NULL CHECK (cert_status IN ('good', 'revoked', 'unknown')),
    response_der   bytea NOT NULL,
    this_update    timestamptz NOT NULL,
    next_update    timestamptz NOT NULL,
    produced_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer_id, serial_hex, hash_algorithm)
);
CREATE INDEX ocsp_response_cache_next_update ON ocsp_response_cache (next_update);

-- API keys: only the SHA-256 of the secret is stored; key_prefix (the first
-- characters) lets operators recognise a key in listings.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    actor        text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    role         text NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
    key_hash     bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_prefix   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- Append-only audit trail: the trigger below refuses UPDATE, DELETE and TRUNCATE.
CREATE TABLE audit_events (
    id          bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    service     text NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    target_type text,
    target_id   text,
    error_code  text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at DESC);
CREATE INDEX audit_events_target ON audit_events (target_type, target_id);

CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Trust bundles (EST mTLS, SCEP signed challenges): the PEM stays a file;
-- the database records where it is and how its last reload went.
CREATE TABLE trust_anchors (
    name              text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    purpose           text NOT NULL CHECK (purpose IN ('est-mtls', 'scep-signed-challenge')),
    path              text NOT NULL,
    sha256            text,
    certificate_count integer,
    earliest_not_after timestamptz,
    last_reload_at    timestamptz,
    last_reload_error text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
