-- Seeds a steady-state OCSP cache for the refresh benchmark (docs/benchmarks.md,
-- "OCSP refresh: work ∝ change"): :n unexpired certificates of issuer iss-bench
-- created over the past 300 days, 1 % of them revoked, and both CertIDs of every
-- one pre-signed (300-byte placeholder answers, nextUpdate 50 min away, so none
-- is within the default 15 min margin). Run on a migrated scratch database:
--   psql "$URL" -v n=1000000 -f scripts/bench-lib/ocsp-refresh-seed.sql
\set ON_ERROR_STOP on
INSERT INTO issuers (id, display_name) VALUES ('iss-bench', 'bench');
INSERT INTO issuer_generations (issuer_id, generation, certificate_der, subject_der, subject_key_id,
    name_hash_sha1, key_hash_sha1, name_hash_sha256, key_hash_sha256, key_algorithm, not_before, not_after)
VALUES ('iss-bench', 1, '\x30', '\x30', '\x01', '\x01', '\x02', '\x03', '\x04', 'ecdsa-p256',
    now() - interval '400 days', now() + interval '10 years');
INSERT INTO certificates (id, issuer_id, issuer_generation, serial_hex, status, subject, not_before, not_after,
                          certificate_der, requested_by, created_at)
SELECT gen_random_uuid(), 'iss-bench', 1, '1' || lpad(to_hex(i), 7, '0') || substr(md5(i::text), 1, 30),
       CASE WHEN i % 100 = 0 THEN 'revoked' ELSE 'issued' END, 'CN=bench',
       now() - interval '1 day', now() + interval '100 days' + i * interval '1 second', '\x00'::bytea, 'bench',
       now() - interval '300 days' + i * interval '20 seconds'
FROM generate_series(1, :n) AS i;
INSERT INTO certificate_revocations (certificate_id, issuer_id, serial_hex, reason_code, revoked_at, revoked_by)
SELECT id, issuer_id, serial_hex, 1, now() - interval '1 hour', 'bench'
FROM certificates WHERE requested_by = 'bench' AND status = 'revoked';
INSERT INTO ocsp_response_cache (issuer_id, serial_hex, hash_algorithm, cert_status, response_der,
                                 this_update, next_update, issuer_generation, revocation_seq)
SELECT c.issuer_id, c.serial_hex, a.alg, CASE WHEN r.change_seq IS NULL THEN 'good' ELSE 'revoked' END,
       decode(repeat('30', 300), 'hex'), now() - interval '10 minutes', now() + interval '50 minutes', 1, r.change_seq
FROM certificates c CROSS JOIN (VALUES ('sha1'), ('sha256')) AS a(alg)
LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
WHERE c.requested_by = 'bench';
VACUUM ANALYZE certificates;
VACUUM ANALYZE certificate_revocations;
VACUUM ANALYZE ocsp_response_cache;
