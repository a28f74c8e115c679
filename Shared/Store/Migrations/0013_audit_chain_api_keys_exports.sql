-- Operator surface (docs/audit.md, docs/api-keys.md, docs/export.md):
-- a hash chain over the audit trail, API keys as a lifecycle, and the
-- per-key certificate export limit.

-- ---------------------------------------------------------------------------
-- Tamper-evident audit trail. Rows are inserted unsealed (chain_seq NULL) by
-- every service; audit_seal() (run by admin about once a second) gives each
-- committed row, one sealer at a time, the next chain_seq and
--     chain_hash = sha256(previous chain_hash || audit_event_canonical(row, chain_seq))
-- so a changed, removed or reordered row breaks every link after it. Sealing
-- after commit, rather than in an insert trigger, keeps audit inserts from
-- serialising every transaction that writes one behind a single lock.
ALTER TABLE audit_events
    ADD COLUMN chain_seq  bigint UNIQUE,
    ADD COLUMN chain_hash bytea CHECK (chain_hash IS NULL OR length(chain_hash) = 32),
    ADD CONSTRAINT audit_events_sealed_whole CHECK ((chain_seq IS NULL) = (chain_hash IS NULL));
CREATE INDEX audit_events_unsealed ON audit_events (id) WHERE chain_seq IS NULL;

CREATE TABLE audit_chain_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq       bigint NOT NULL CHECK (seq >= 0),
    hash      bytea NOT NULL CHECK (length(hash) = 32),
    sealed_at timestamptz NOT NULL DEFAULT now()
);
-- The genesis link: 32 zero bytes before sequence 1.
INSERT INTO audit_chain_head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

-- The bytes a row's link covers. Every field is length-prefixed (so no
-- choice of values can make two rows encode alike) and the time is integral
-- microseconds (independent of the session's TimeZone and DateStyle).
-- AuditChain.canonical (Shared/Store/AuditChain.swift) builds the same bytes.
CREATE FUNCTION audit_chain_field(value text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN value IS NULL THEN '-' ELSE octet_length(value)::text || ':' || value END
$$;

CREATE FUNCTION audit_event_canonical(e audit_events, seq bigint) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT convert_to('certctl-audit-v1'
        || audit_chain_field(seq::text)
        || audit_chain_field(e.id::text)
        || audit_chain_field((extract(epoch FROM e.occurred_at) * 1000000)::bigint::text)
        || audit_chain_field(e.service)
        || audit_chain_field(e.actor)
        || audit_chain_field(e.action)
        || audit_chain_field(e.outcome)
        || audit_chain_field(e.target_type)
        || audit_chain_field(e.target_id)
        || audit_chain_field(e.error_code)
        || audit_chain_field(e.details::text), 'UTF8')
$$;

-- Seals up to max_rows committed unsealed rows in id order and returns how
-- many. One sealer at a time: a second caller finds the head locked and
-- returns 0 at once. SECURITY DEFINER: the services cannot UPDATE the trail.
CREATE FUNCTION audit_seal(max_rows integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
    e         audit_events%ROWTYPE;
    sealed    integer := 0;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM audit_chain_head FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    FOR e IN SELECT * FROM audit_events WHERE chain_seq IS NULL ORDER BY id LIMIT max_rows LOOP
        head_seq := head_seq + 1;
        head_hash := sha256(head_hash || audit_event_canonical(e, head_seq));
        UPDATE audit_events SET chain_seq = head_seq, chain_hash = head_hash WHERE id = e.id;
        sealed := sealed + 1;
    END LOOP;
    IF sealed > 0 THEN
        UPDATE audit_chain_head SET seq = head_seq, hash = head_hash, sealed_at = now();
    END IF;
    RETURN sealed;
END;
$$;
REVOKE EXECUTE ON FUNCTION audit_seal(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_seal(integer) TO certctl_admin;
GRANT SELECT ON audit_chain_head TO certctl_admin;

-- Still append-only; the one UPDATE allowed is sealing: setting the chain
-- columns of an unsealed row and nothing else.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.chain_seq IS NULL AND NEW.chain_seq IS NOT NULL
       AND (to_jsonb(NEW) - 'chain_seq' - 'chain_hash') = (to_jsonb(OLD) - 'chain_seq' - 'chain_hash') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- Services insert the content only: not the time, not the chain.
REVOKE INSERT ON audit_events FROM certctl_signer, certctl_admin, certctl_ocsp, certctl_crl, certctl_enroll;
GRANT INSERT (service, actor, action, outcome, target_type, target_id, error_code, details)
    ON audit_events TO certctl_signer, certctl_admin, certctl_ocsp, certctl_crl, certctl_enroll;

-- ---------------------------------------------------------------------------
-- API keys as a lifecycle. Keys are stored as SHA-256(salt || key) with a
-- per-key salt; rows from before this migration (key_salt NULL) hold
-- SHA-256(key) and are re-hashed with a salt on their next use. Lookup is by
-- key_prefix, then the hash is compared in constant time.
ALTER TABLE api_keys
    ADD COLUMN description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    ADD COLUMN key_salt    bytea CHECK (key_salt IS NULL OR length(key_salt) = 16),
    ADD COLUMN created_by  text,
    ADD COLUMN revoked_by  text,
    ADD COLUMN bootstrap   boolean NOT NULL DEFAULT false,
    ADD COLUMN replaces    uuid REFERENCES api_keys (id);
UPDATE api_keys SET bootstrap = true, created_by = 'system' WHERE actor = 'bootstrap';
CREATE INDEX api_keys_prefix ON api_keys (key_prefix);

-- ---------------------------------------------------------------------------
-- One row per certificate export, kept for an hour: the per-key hourly limit
-- (CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR) holds across admin replicas.
CREATE TABLE certificate_exports (
    id          bigserial PRIMARY KEY,
    key_id      uuid NOT NULL,
    exported_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX certificate_exports_key ON certificate_exports (key_id, exported_at);
GRANT SELECT, INSERT, DELETE ON certificate_exports TO certctl_admin;
GRANT USAGE ON SEQUENCE certificate_exports_id_seq TO certctl_admin;

-- New functions get their search_path pinned as 0012 did for the others.
DO $$
DECLARE
    fn regprocedure;
BEGIN
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND p.prokind = 'f'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_catalog', fn, current_schema());
    END LOOP;
END;
$$;
