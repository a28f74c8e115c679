-- The highest certificate_revocations.change_seq a cached CRL reflects. A
-- publisher woken by a revocation skips regenerating when the cached CRL
-- (perhaps from another replica) already covers every change.
ALTER TABLE crl_cache ADD COLUMN covered_change_seq bigint NOT NULL DEFAULT 0;

-- Every change to crl_cache, including an operator's DELETE or TRUNCATE from
-- the runbook, tells every CRL publisher to drop its in-memory copy, so the
-- next fetch reads (or regenerates) the row. Payload: issuer id, or '*'.
CREATE FUNCTION crl_cache_notify_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('certctl_crl_published', COALESCE(NEW.issuer_id, OLD.issuer_id));
    RETURN NULL;
END;
$$;

CREATE FUNCTION crl_cache_notify_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('certctl_crl_published', '*');
    RETURN NULL;
END;
$$;

CREATE TRIGGER crl_cache_changed
    AFTER INSERT OR UPDATE OR DELETE ON crl_cache
    FOR EACH ROW EXECUTE FUNCTION crl_cache_notify_row();

CREATE TRIGGER crl_cache_truncated
    AFTER TRUNCATE ON crl_cache
    FOR EACH STATEMENT EXECUTE FUNCTION crl_cache_notify_truncate();
