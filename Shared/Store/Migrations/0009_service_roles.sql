-- One database role per service, each with only what its job needs
-- (docs/security.md has the table). The schema belongs to the role that runs
-- migrations (certctl_owner in a provisioned deployment: `certctl-admin
-- provision-database`), which no service runs as: only the owner can ALTER a
-- table or switch off its triggers, so audit_events stays append-only.
-- `provision-database` creates the roles with LOGIN and passwords; where they
-- do not exist yet (a superuser migrating a bare database) they are created
-- here without LOGIN.
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['certctl_signer', 'certctl_admin', 'certctl_ocsp', 'certctl_crl', 'certctl_enroll'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', name);
        END IF;
    END LOOP;
END;
$$;

-- Every service: the migration ledger (readiness compares it with its build)
-- and the append-only audit trail. Only admin reads the trail.
GRANT SELECT ON schema_migrations TO certctl_signer, certctl_admin, certctl_ocsp, certctl_crl, certctl_enroll;
GRANT INSERT ON audit_events TO certctl_signer, certctl_admin, certctl_ocsp, certctl_crl, certctl_enroll;
GRANT USAGE ON SEQUENCE audit_events_id_seq TO certctl_signer, certctl_admin, certctl_ocsp, certctl_crl, certctl_enroll;
GRANT SELECT ON audit_events TO certctl_admin;

-- Issuers and key generations. The signer registers the CA certificates it
-- loads and maintains the CRL number; admin edits the issuer's policy; the
-- key files a generation names are written by the signer only.
GRANT SELECT ON issuers, issuer_generations TO certctl_signer, certctl_admin, certctl_ocsp, certctl_crl, certctl_enroll;
GRANT INSERT (id, display_name) ON issuers TO certctl_signer;
GRANT UPDATE (last_crl_number, last_crl_this_update, updated_at) ON issuers TO certctl_signer;
GRANT UPDATE (display_name, allow_sub_ca, status, updated_at) ON issuers TO certctl_admin;
GRANT INSERT ON issuer_generations TO certctl_signer;
GRANT UPDATE (status) ON issuer_generations TO certctl_signer;

-- Policy written through admin only.
GRANT SELECT ON profiles, scep_profiles, est_labels, trust_anchors
    TO certctl_signer, certctl_admin, certctl_enroll;
GRANT INSERT, UPDATE, DELETE ON profiles, scep_profiles, est_labels, est_users, trust_anchors, scep_challenges
    TO certctl_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys TO certctl_admin;
GRANT SELECT ON est_users, scep_challenges TO certctl_admin, certctl_enroll;
GRANT SELECT, INSERT ON trust_anchor_reloads TO certctl_admin;
GRANT USAGE ON SEQUENCE trust_anchor_reloads_id_seq TO certctl_admin;
GRANT SELECT ON trust_anchor_reload_results TO certctl_admin;
-- What enroll keeps up to date about policy: a reload's outcome, a consumed
-- one-time challenge, a password hash upgraded on login.
GRANT SELECT ON trust_anchor_reloads TO certctl_enroll;
GRANT SELECT, INSERT, UPDATE ON trust_anchor_reload_results TO certctl_enroll;
GRANT UPDATE (last_reload_at, last_reload_error, updated_at, sha256, certificate_count, earliest_not_after)
    ON trust_anchors TO certctl_enroll;
GRANT UPDATE (used_at, used_transaction_id) ON scep_challenges TO certctl_enroll;
GRANT UPDATE (password_hash) ON est_users TO certctl_enroll;

-- Enrollment's own state.
GRANT SELECT, INSERT, UPDATE, DELETE ON scep_signed_challenge_uses, scep_transactions TO certctl_enroll;
GRANT SELECT ON scep_transactions TO certctl_admin;
GRANT SELECT, INSERT, UPDATE ON enrollment_requests TO certctl_enroll;
GRANT SELECT, UPDATE ON enrollment_requests TO certctl_admin;

-- Certificates. admin and enroll reserve (status pending) and may mark their
-- reservations failed; only the signer completes one (pending → issued, with
-- the DER) or records a responder certificate; only admin revokes. The
-- column grants bound what each may write; the trigger below bounds the
-- status transitions and stamps reserved_by.
GRANT SELECT ON certificates, certificate_revocations TO certctl_signer, certctl_admin, certctl_ocsp, certctl_crl, certctl_enroll;
GRANT INSERT (issuer_id, issuer_generation, serial_hex, status, profile_id, subject, subject_der, spki_sha256,
              subject_alt_names, not_before, not_after, csr_der, requested_by, request_source, idempotency_key,
              request_fingerprint)
    ON certificates TO certctl_admin, certctl_enroll;
GRANT UPDATE (status, failure_reason, updated_at) ON certificates TO certctl_admin, certctl_enroll;
GRANT INSERT (issuer_id, issuer_generation, serial_hex, status, profile_id, subject, subject_der, spki_sha256,
              not_before, not_after, certificate_der, requested_by, request_source)
    ON certificates TO certctl_signer;
GRANT UPDATE (status, certificate_der, updated_at) ON certificates TO certctl_signer;
GRANT INSERT, UPDATE ON certificate_revocations TO certctl_admin;
GRANT USAGE ON SEQUENCE certificate_revocations_change_seq TO certctl_admin;

CREATE FUNCTION certificates_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    role text := current_user;
    service boolean := current_user IN ('certctl_signer', 'certctl_admin', 'certctl_ocsp', 'certctl_crl', 'certctl_enroll');
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.reserved_by := role;
        IF service AND NOT (
            (role IN ('certctl_admin', 'certctl_enroll') AND NEW.status = 'pending')
            OR (role = 'certctl_signer' AND NEW.status = 'issued' AND NEW.request_source = 'ocsp-responder')
        ) THEN
            RAISE EXCEPTION '% may not insert a certificate with status % (source %)', role, NEW.status, NEW.request_source
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.reserved_by IS DISTINCT FROM OLD.reserved_by THEN
        RAISE EXCEPTION 'reserved_by never changes' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF service AND (NEW.status IS DISTINCT FROM OLD.status OR NEW.certificate_der IS DISTINCT FROM OLD.certificate_der) AND NOT (
        (role = 'certctl_signer' AND OLD.status = 'pending' AND NEW.status = 'issued')
        OR (role = 'certctl_admin' AND OLD.status = 'pending' AND NEW.status = 'failed')
        OR (role = 'certctl_enroll' AND OLD.status = 'pending' AND NEW.status = 'failed' AND OLD.reserved_by = role)
        OR (role = 'certctl_admin' AND OLD.status = 'issued' AND NEW.status = 'revoked')
        OR (role = 'certctl_admin' AND OLD.status = 'revoked' AND NEW.status = 'issued')
    ) THEN
        RAISE EXCEPTION '% may not change a certificate from % to %', role, OLD.status, NEW.status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER certificates_guard
    BEFORE INSERT OR UPDATE ON certificates
    FOR EACH ROW EXECUTE FUNCTION certificates_guard();

-- The OCSP tier: its caches and its responder rows.
GRANT SELECT, INSERT, UPDATE, DELETE ON ocsp_response_cache, ocsp_responder_certs TO certctl_ocsp;
GRANT SELECT ON ocsp_responder_certs TO certctl_admin;

-- The CRL publisher: its cache and its generation log.
GRANT SELECT, INSERT, UPDATE ON crl_cache TO certctl_crl;
GRANT SELECT, INSERT ON crl_generation_events TO certctl_crl;
GRANT USAGE ON SEQUENCE crl_generation_events_id_seq TO certctl_crl;
GRANT SELECT ON crl_cache, crl_generation_events TO certctl_admin;
