-- Enrollment (SCEP RFC 8894, EST RFC 7030) configuration and state. Every
-- enrollment replica reads it, so single-use challenges and transaction
-- replay checks hold across replicas.

-- A SCEP endpoint /scep/{name}: which issuer and certificate profile it issues
-- under, the RA certificate and key files (RSA, key mode 0600) and its
-- challenge policy. Only a SHA-256 of the static challenge is stored.
CREATE TABLE scep_profiles (
    name                    text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    issuer_id               issuer_id NOT NULL REFERENCES issuers (id),
    profile_id              text NOT NULL REFERENCES profiles (id),
    ra_cert_path            text NOT NULL,
    ra_key_path             text NOT NULL,
    static_challenge_sha256 bytea CHECK (static_challenge_sha256 IS NULL OR length(static_challenge_sha256) = 32),
    allow_one_time_challenges boolean NOT NULL DEFAULT true,
    validity_days           integer CHECK (validity_days IS NULL OR validity_days >= 1),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

-- One-time challenges minted by the admin API; used_at set once, atomically.
CREATE TABLE scep_challenges (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    profile_name       text NOT NULL REFERENCES scep_profiles (name) ON DELETE CASCADE,
    secret_sha256      bytea NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    expected_subject   text,
    expires_at         timestamptz NOT NULL,
    used_at            timestamptz,
    used_transaction_id text,
    created_by         text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scep_challenges_profile ON scep_challenges (profile_name, created_at);

-- A transactionID is accepted once per profile (replay protection).
CREATE TABLE scep_transactions (
    profile_name   text NOT NULL REFERENCES scep_profiles (name) ON DELETE CASCADE,
    transaction_id text NOT NULL,
    status         text NOT NULL CHECK (status IN ('started', 'issued', 'failed')),
    certificate_id uuid REFERENCES certificates (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_name, transaction_id)
);

-- An EST label /.well-known/est/{name} ('default' also serves /.well-known/est).
CREATE TABLE est_labels (
    name          text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    issuer_id     issuer_id NOT NULL REFERENCES issuers (id),
    profile_id    text NOT NULL REFERENCES profiles (id),
    allow_basic   boolean NOT NULL DEFAULT true,
    allow_mtls    boolean NOT NULL DEFAULT false,
    trust_anchor  text REFERENCES trust_anchors (name),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- HTTP Basic users of an EST label; the password is stored as a salted PBKDF2 hash.
CREATE TABLE est_users (
    label          text NOT NULL REFERENCES est_labels (name) ON DELETE CASCADE,
    username       text NOT NULL CHECK (username ~ '^[A-Za-z0-9._@-]{1,128}$'),
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (label, username)
);

-- Trust-anchor reloads requested through the admin API and each replica's answer.
CREATE TABLE trust_anchor_reloads (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL REFERENCES trust_anchors (name) ON DELETE CASCADE,
    requested_by  text NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE trust_anchor_reload_results (
    reload_id         bigint NOT NULL REFERENCES trust_anchor_reloads (id) ON DELETE CASCADE,
    replica           text NOT NULL,
    ok                boolean NOT NULL,
    error_code        text,
    error_message     text,
    certificate_count integer,
    sha256            text,
    reported_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reload_id, replica)
);
