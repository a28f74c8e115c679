-- OCSP responder keys are per replica: every certctl-ocsp process holds its
-- own delegated responder key (no shared secret), so responder rows are keyed
-- by the key they certify. A replica only ever signs with a row whose key_id
-- is the SHA-256 (hex) of the public key it holds in memory.
ALTER TABLE ocsp_responder_certs ADD COLUMN key_id text;
UPDATE ocsp_responder_certs SET key_id = 'legacy-' || serial_number WHERE key_id IS NULL;
ALTER TABLE ocsp_responder_certs ALTER COLUMN key_id SET NOT NULL;
ALTER TABLE ocsp_responder_certs DROP CONSTRAINT ocsp_responder_certs_pkey;
ALTER TABLE ocsp_responder_certs ADD PRIMARY KEY (issuer_id, issuer_generation, key_id);
CREATE INDEX ocsp_responder_certs_not_after ON ocsp_responder_certs (not_after);

-- Pre-signed responses record what they were built from, so a reader can
-- tell a stale row from a current one without anyone deleting it:
-- revocation_seq is certificate_revocations.change_seq at signing time
-- (NULL: no revocation row), issuer_generation the CA generation whose
-- CertID hashes the response carries.
TRUNCATE ocsp_response_cache;
ALTER TABLE ocsp_response_cache ADD COLUMN issuer_generation integer NOT NULL;
ALTER TABLE ocsp_response_cache ADD COLUMN revocation_seq bigint;
