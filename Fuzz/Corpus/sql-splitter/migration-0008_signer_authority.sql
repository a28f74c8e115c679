-- The signer signs a leaf only when the TBS matches what was reserved: the
-- request's public key (SHA-256 of the SubjectPublicKeyInfo DER) and subject
-- (Name DER) are recorded with the reservation beside the SANs, validity,
-- profile and generation already there. reserved_by is the database role that
-- made the reservation; a trigger sets it, so no service can claim another's.
ALTER TABLE certificates ADD COLUMN spki_sha256 bytea CHECK (spki_sha256 IS NULL OR length(spki_sha256) = 32);
ALTER TABLE certificates ADD COLUMN subject_der bytea;
ALTER TABLE certificates ADD COLUMN reserved_by text NOT NULL DEFAULT current_user;

-- Delegated OCSP responder certificates are recorded (and audited) like any
-- certificate, by the signer, with no profile.
ALTER TABLE certificates DROP CONSTRAINT certificates_request_source_check;
ALTER TABLE certificates ADD CONSTRAINT certificates_request_source_check
    CHECK (request_source IN ('api', 'scep', 'est', 'internal', 'ocsp-responder'));

-- thisUpdate of the last CRL the signer signed for the issuer: the signer
-- expects the next CRL to list every revocation whose certificate had not
-- expired by then (an expired certificate's entry stays on one more CRL).
ALTER TABLE issuers ADD COLUMN last_crl_this_update timestamptz;

-- When a revocation row last changed. The signer refuses a CRL that leaves out
-- a change older than a few minutes: a CRL built from a stale read is retried,
-- never signed with a revocation hidden.
ALTER TABLE certificate_revocations ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();

CREATE FUNCTION certificate_revocations_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_at := now();
    IF NEW.change_seq IS NOT DISTINCT FROM OLD.change_seq THEN
        NEW.change_seq := nextval('certificate_revocations_change_seq');
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER certificate_revocations_changed
    BEFORE UPDATE ON certificate_revocations
    FOR EACH ROW EXECUTE FUNCTION certificate_revocations_changed();

-- The CRL reads revocations of one issuer in serial order (the order the
-- signer digests them in).
CREATE INDEX certificate_revocations_issuer_serial_c ON certificate_revocations (issuer_id, serial_hex COLLATE "C");
