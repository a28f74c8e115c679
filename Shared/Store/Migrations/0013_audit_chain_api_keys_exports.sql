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
-- Written out field by field: a helper function per field made sealing
-- several times slower.
CREATE FUNCTION audit_event_canonical(e audit_events, seq bigint) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to('certctl-audit-v1'
        || octet_length(seq::text) || ':' || seq::text
        || octet_length(e.id::text) || ':' || e.id::text
        || octet_length(((extract(epoch FROM e.occurred_at) * 1000000)::bigint)::text) || ':'
            || ((extract(epoch FROM e.occurred_at) * 1000000)::bigint)::text
        || octet_length(e.service) || ':' || e.service
        || octet_length(e.actor) || ':' || e.actor
        || octet_length(e.action) || ':' || e.action
        || octet_length(e.outcome) || ':' || e.outcome
        || CASE WHEN e.target_type IS NULL THEN '-' ELSE octet_length(e.target_type) || ':' || e.target_type END
        || CASE WHEN e.target_id IS NULL THEN '-' ELSE octet_length(e.target_id) || ':' || e.target_id END
        || CASE WHEN e.error_code IS NULL THEN '-' ELSE octet_length(e.error_code) || ':' || e.error_code END
        || octet_length(e.details::text) || ':' || e.details::text, 'UTF8')
$$;

-- Seals up to max_rows committed unsealed rows in id order and returns how
-- many. One sealer at a time: a second caller finds the head locked and
-- returns 0 at once. SECURITY DEFINER: the services cannot UPDATE the trail.
-- The canonical bytes are computed set-wise, the chain in a loop (each link
-- needs the one before), and the rows are written back in one UPDATE.
CREATE FUNCTION audit_seal(max_rows integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
    ids       bigint[] := '{}';
    seqs      bigint[] := '{}';
    hashes    bytea[] := '{}';
    r         record;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM audit_chain_head FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    FOR r IN
        SELECT u.id, u.seq, audit_event_canonical(u.e, u.seq) AS canonical FROM (
            SELECT t.e, t.id, head_seq + row_number() OVER (ORDER BY t.id) AS seq FROM (
                SELECT a AS e, a.id FROM audit_events a WHERE a.chain_seq IS NULL ORDER BY a.id LIMIT max_rows) t) u
        ORDER BY u.seq
    LOOP
        head_hash := sha256(head_hash || r.canonical);
        ids := ids || r.id;
        seqs := seqs || r.seq;
        hashes := hashes || head_hash;
    END LOOP;
    IF cardinality(ids) = 0 THEN
        RETURN 0;
    END IF;
    UPDATE audit_events a SET chain_seq = s.seq, chain_hash = s.hash
    FROM unnest(ids, seqs, hashes) AS s(id, seq, hash) WHERE a.id = s.id;
    UPDATE audit_chain_head SET seq = seqs[cardinality(seqs)], hash = head_hash, sealed_at = now();
    RETURN cardinality(ids);
END;
$$;
REVOKE EXECUTE ON FUNCTION audit_seal(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_seal(integer) TO certctl_admin;
GRANT SELECT ON audit_chain_head TO certctl_admin;

-- Still append-only; the one UPDATE allowed is sealing: setting the chain
-- columns of an unsealed row and nothing else. The test is the trigger's WHEN
-- clause, evaluated without calling a function for every sealed row. A
-- migration that adds a column to audit_events must add it here.
DROP TRIGGER audit_events_no_update_delete ON audit_events;
CREATE TRIGGER audit_events_no_update
    BEFORE UPDATE ON audit_events
    FOR EACH ROW
    WHEN (NOT (OLD.chain_seq IS NULL AND NEW.chain_seq IS NOT NULL AND NEW.chain_hash IS NOT NULL
               AND NEW.id = OLD.id AND NEW.occurred_at = OLD.occurred_at AND NEW.service = OLD.service
               AND NEW.actor = OLD.actor AND NEW.action = OLD.action AND NEW.outcome = OLD.outcome
               AND NEW.target_type IS NOT DISTINCT FROM OLD.target_type
               AND NEW.target_id IS NOT DISTINCT FROM OLD.target_id
               AND NEW.error_code IS NOT DISTINCT FROM OLD.error_code AND NEW.details = OLD.details))
    EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_delete
    BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

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
