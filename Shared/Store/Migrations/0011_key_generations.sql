-- CA key rotation as an operation (docs/disaster-recovery.md, "CA key
-- rotation"). A generation moves pending → active → retired → archived:
--   pending   made by a rotation; not signing yet (a sub-CA generation waits
--             here for its parent's certificate, any generation for activate_at);
--   active    issues leaves (one per issuer);
--   retired   issues nothing new, still signs its own CRLs and OCSP responder
--             certificates while certificates it issued are unexpired;
--   archived  its last certificate expired (plus the grace period): it signs
--             only its final CRL, valid until its CA certificate expires.
ALTER TABLE issuer_generations DROP CONSTRAINT issuer_generations_status_check;
ALTER TABLE issuer_generations ADD CONSTRAINT issuer_generations_status_check
    CHECK (status IN ('pending', 'active', 'retired', 'archived'));

-- A pending sub-CA generation has a key and a CSR but no certificate yet.
ALTER TABLE issuer_generations ALTER COLUMN certificate_der DROP NOT NULL;
ALTER TABLE issuer_generations ALTER COLUMN not_before DROP NOT NULL;
ALTER TABLE issuer_generations ALTER COLUMN not_after DROP NOT NULL;
ALTER TABLE issuer_generations
    ADD COLUMN csr_der bytea,
    -- certificates above a sub-CA generation's own (DER, nearest first)
    ADD COLUMN chain_der bytea[] NOT NULL DEFAULT '{}',
    -- the new generation's key certified by the previous one (optional)
    ADD COLUMN cross_certificate_der bytea,
    ADD COLUMN activate_at timestamptz,
    ADD COLUMN activated_at timestamptz,
    ADD COLUMN retired_at timestamptz,
    ADD COLUMN archived_at timestamptz,
    -- Each generation numbers its own CRLs (RFC 5280 §5.2.3: per CRL issuer and scope).
    ADD COLUMN last_crl_number numeric(49, 0) NOT NULL DEFAULT 0 CHECK (last_crl_number >= 0),
    ADD COLUMN last_crl_this_update timestamptz,
    ADD CONSTRAINT issuer_generations_certified
        CHECK (status = 'pending' OR (certificate_der IS NOT NULL AND not_before IS NOT NULL AND not_after IS NOT NULL));

-- Every generation continues from the issuer's shared counter, so no number
-- already published by any generation is used again.
UPDATE issuer_generations g SET last_crl_number = i.last_crl_number, last_crl_this_update = i.last_crl_this_update
FROM issuers i WHERE i.id = g.issuer_id;
UPDATE issuer_generations SET activated_at = created_at WHERE status IN ('active', 'retired');
UPDATE issuer_generations SET retired_at = created_at WHERE status = 'retired';
ALTER TABLE issuers DROP COLUMN last_crl_number, DROP COLUMN last_crl_this_update;

-- The generation that issued a revoked certificate, copied onto its
-- revocation row (as certificate_not_after is): a generation's CRL lists
-- only its own certificates. Rows from before generations were recorded on
-- certificates belong to the issuer's first generation.
ALTER TABLE certificate_revocations ADD COLUMN issuer_generation integer;
UPDATE certificate_revocations r
SET issuer_generation = COALESCE(c.issuer_generation,
    (SELECT min(generation) FROM issuer_generations g WHERE g.issuer_id = r.issuer_id), 1)
FROM certificates c WHERE c.id = r.certificate_id;
ALTER TABLE certificate_revocations ALTER COLUMN issuer_generation SET NOT NULL;
CREATE INDEX certificate_revocations_generation ON certificate_revocations (issuer_id, issuer_generation, change_seq);

CREATE OR REPLACE FUNCTION certificate_revocations_copy_not_after() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.not_after, COALESCE(c.issuer_generation,
           (SELECT min(generation) FROM issuer_generations g WHERE g.issuer_id = c.issuer_id), 1)
    INTO NEW.certificate_not_after, NEW.issuer_generation
    FROM certificates c WHERE c.id = NEW.certificate_id;
    RETURN NEW;
END;
$$;

-- Certificates per generation and state (GET /api/v1/issuers/{id}, metrics).
CREATE INDEX certificates_issuer_generation ON certificates (issuer_id, issuer_generation, not_after);

-- The OCSP response cache keeps answers for SHA-384 and SHA-512 CertIDs too.
ALTER TABLE ocsp_response_cache DROP CONSTRAINT ocsp_response_cache_hash_algorithm_check;
ALTER TABLE ocsp_response_cache ADD CONSTRAINT ocsp_response_cache_hash_algorithm_check
    CHECK (hash_algorithm IN ('sha1', 'sha256', 'sha384', 'sha512'));

-- The signer carries out rotations: it writes a new generation's row (its
-- key files, CSR and certificates) and moves generations between states; it
-- numbers each generation's CRLs. Nobody else writes generations.
GRANT UPDATE (status, certificate_der, subject_der, subject_key_id, name_hash_sha1, name_hash_sha256, cert_path,
              not_before, not_after, csr_der, chain_der, cross_certificate_der, activate_at,
              activated_at, retired_at, archived_at, last_crl_number, last_crl_this_update)
    ON issuer_generations TO certctl_signer;
