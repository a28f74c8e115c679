-- Times the OCSP refresh loop's reads on a database seeded by
-- ocsp-refresh-seed.sql (docs/benchmarks.md, "OCSP refresh: work ∝ change"):
--   psql "$URL" -f scripts/bench-lib/ocsp-refresh-measure.sql
-- The statements are those of Shared/Store/OCSPRefresh{Store,Queries}.swift
-- with the binds written in (margin 15 min, batch 500). Everything that
-- writes is rolled back, so the script can be run again.
\set ON_ERROR_STOP on
\timing on
\pset pager off
-- due_within_margin must be 0 for sections 1-4 ("nothing due"): the seed's rows
-- have nextUpdate 50 min ahead, so measure within 35 min of seeding or first run
--   UPDATE ocsp_response_cache SET next_update = now() + interval '50 minutes'; VACUUM ANALYZE ocsp_response_cache;
SELECT count(*) AS certificates, (SELECT count(*) FROM ocsp_response_cache) AS cached_rows,
       (SELECT count(*) FROM ocsp_response_cache WHERE next_update < now() + interval '15 minutes') AS due_within_margin,
       (SELECT max(change_seq) FROM certificate_revocations) AS high_water FROM certificates;
SELECT max(change_seq) AS seq FROM certificate_revocations \gset

\echo == 1. former tick: the full scan (every unexpired certificate x 2 hash algorithms), nothing due
EXPLAIN (ANALYZE, BUFFERS)
SELECT c.issuer_id, c.serial_hex, a.alg, c.issuer_generation, c.status,
       r.reason_code, r.revoked_at, r.hold_released_at IS NOT NULL, r.change_seq
FROM certificates c
CROSS JOIN (VALUES ('sha1'), ('sha256')) AS a(alg)
LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
LEFT JOIN ocsp_response_cache o
    ON o.issuer_id = c.issuer_id AND o.serial_hex = c.serial_hex AND o.hash_algorithm = a.alg
WHERE c.status IN ('issued', 'revoked') AND c.not_after > now() AND c.issuer_generation IS NOT NULL
  AND (o.serial_hex IS NULL
       OR o.next_update < now() + make_interval(secs => 900)
       OR o.revocation_seq IS DISTINCT FROM r.change_seq)
LIMIT 500;
\echo == 1b. former tick: its DELETE (NOT EXISTS over the whole table), rolled back
BEGIN;
EXPLAIN (ANALYZE, BUFFERS)
DELETE FROM ocsp_response_cache o WHERE o.next_update < now() OR NOT EXISTS (
    SELECT 1 FROM certificates c WHERE c.issuer_id = o.issuer_id AND c.serial_hex = o.serial_hex
    AND c.not_after > now());
ROLLBACK;

\echo == 2. incremental tick, nothing due (watermark = high water, created after now() - 6 min)
BEGIN;
SELECT pg_try_advisory_xact_lock(7236001), now(),
       (SELECT COALESCE(max(change_seq), 0) FROM certificate_revocations)::bigint;
EXPLAIN (ANALYZE, BUFFERS) DELETE FROM ocsp_response_cache WHERE next_update < now();
EXPLAIN (ANALYZE, BUFFERS)
SELECT c.issuer_id, c.serial_hex, a.alg, c.issuer_generation,
       r.reason_code, r.revoked_at, r.hold_released_at IS NOT NULL, r.change_seq
FROM certificate_revocations r
JOIN certificates c ON c.id = r.certificate_id
CROSS JOIN (VALUES ('sha1'), ('sha256')) AS a(alg)
LEFT JOIN ocsp_response_cache o
    ON o.issuer_id = c.issuer_id AND o.serial_hex = c.serial_hex AND o.hash_algorithm = a.alg
WHERE r.change_seq > :seq - 64
  AND c.status IN ('issued', 'revoked') AND c.not_after > now() AND c.issuer_generation IS NOT NULL
  AND (o.serial_hex IS NULL OR o.revocation_seq IS DISTINCT FROM r.change_seq
       OR o.next_update < now() + make_interval(secs => 900))
ORDER BY r.change_seq
LIMIT 500;
EXPLAIN (ANALYZE, BUFFERS)
SELECT c.issuer_id, c.serial_hex, o.hash_algorithm, c.issuer_generation,
       r.reason_code, r.revoked_at, r.hold_released_at IS NOT NULL, r.change_seq
FROM ocsp_response_cache o
JOIN certificates c ON c.issuer_id = o.issuer_id AND c.serial_hex = o.serial_hex
LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
WHERE o.next_update < now() + make_interval(secs => 900)
  AND c.status IN ('issued', 'revoked') AND c.not_after > now() AND c.issuer_generation IS NOT NULL
ORDER BY o.next_update
LIMIT 500;
EXPLAIN (ANALYZE, BUFFERS)
SELECT c.issuer_id, c.serial_hex, a.alg, c.issuer_generation,
       r.reason_code, r.revoked_at, r.hold_released_at IS NOT NULL, r.change_seq
FROM certificates c
CROSS JOIN (VALUES ('sha1'), ('sha256')) AS a(alg)
LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
LEFT JOIN ocsp_response_cache o
    ON o.issuer_id = c.issuer_id AND o.serial_hex = c.serial_hex AND o.hash_algorithm = a.alg
WHERE c.status IN ('issued', 'revoked') AND c.created_at > now() - interval '6 minutes'
  AND c.not_after > now() AND c.issuer_generation IS NOT NULL
  AND (o.serial_hex IS NULL OR o.revocation_seq IS DISTINCT FROM r.change_seq
       OR o.next_update < now() + make_interval(secs => 900))
LIMIT 500;
ROLLBACK;

-- One sweep page per EXECUTE, with the cursor written in as literals (the
-- service's unnamed statements are planned with their binds, too); counts
-- the candidates instead of returning them.
CREATE OR REPLACE FUNCTION pg_temp.sweep(size int) RETURNS TABLE (pages int, candidates bigint, seconds numeric)
LANGUAGE plpgsql AS $fn$
DECLARE a text; s text; li text; ls text; n bigint; k bigint; t0 timestamptz := clock_timestamp();
BEGIN
    pages := 0; candidates := 0;
    LOOP
        EXECUTE format($q$
            WITH page AS MATERIALIZED (
                SELECT id, issuer_id, serial_hex FROM certificates
                WHERE %L::text IS NULL OR (issuer_id, serial_hex) > (%L, %L)
                ORDER BY issuer_id, serial_hex LIMIT %s),
            last AS (
                SELECT issuer_id, serial_hex, (SELECT count(*) FROM page)::bigint AS n FROM page
                ORDER BY issuer_id DESC, serial_hex DESC LIMIT 1),
            candidates AS (
                SELECT c.issuer_id, c.serial_hex, a.alg
                FROM page JOIN certificates c ON c.id = page.id
                CROSS JOIN (VALUES ('sha1'), ('sha256')) AS a(alg)
                LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
                LEFT JOIN ocsp_response_cache o
                    ON o.issuer_id = c.issuer_id AND o.serial_hex = c.serial_hex AND o.hash_algorithm = a.alg
                WHERE c.status IN ('issued', 'revoked') AND c.not_after > now() AND c.issuer_generation IS NOT NULL
                  AND (o.serial_hex IS NULL OR o.revocation_seq IS DISTINCT FROM r.change_seq
                       OR o.next_update < now() + make_interval(secs => 900)))
            SELECT last.issuer_id, last.serial_hex, last.n, (SELECT count(*) FROM candidates) FROM last
            $q$, a, a, s, size) INTO li, ls, n, k;
        EXIT WHEN li IS NULL;
        pages := pages + 1; candidates := candidates + k; a := li; s := ls;
        EXIT WHEN n < size;
    END LOOP;
    seconds := round(extract(epoch FROM clock_timestamp() - t0)::numeric, 2);
    RETURN NEXT;
END $fn$;

\echo == 3. full sweep, steady state (every row current): reads of all pages of 250 certificates
SELECT * FROM pg_temp.sweep(250);
\echo == 4. full sweep, cold (ocsp_response_cache emptied, rolled back): reads of all pages
BEGIN;
TRUNCATE ocsp_response_cache;
SELECT * FROM pg_temp.sweep(250);
ROLLBACK;
\echo == 5. former query with half of the cache filled (halfway through a cold start), rolled back
BEGIN;
DELETE FROM ocsp_response_cache WHERE serial_hex > '1007a120';
EXPLAIN (ANALYZE, BUFFERS)
SELECT c.issuer_id, c.serial_hex, a.alg, c.issuer_generation, c.status,
       r.reason_code, r.revoked_at, r.hold_released_at IS NOT NULL, r.change_seq
FROM certificates c
CROSS JOIN (VALUES ('sha1'), ('sha256')) AS a(alg)
LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
LEFT JOIN ocsp_response_cache o
    ON o.issuer_id = c.issuer_id AND o.serial_hex = c.serial_hex AND o.hash_algorithm = a.alg
WHERE c.status IN ('issued', 'revoked') AND c.not_after > now() AND c.issuer_generation IS NOT NULL
  AND (o.serial_hex IS NULL
       OR o.next_update < now() + make_interval(secs => 900)
       OR o.revocation_seq IS DISTINCT FROM r.change_seq)
LIMIT 500;
ROLLBACK;
\echo == 6. one incremental batch with 22,000 rows coming due (a 60 s tick of 1 M certificates re-signed every 45 min), rolled back
BEGIN;
UPDATE ocsp_response_cache SET next_update = now() + interval '5 minutes' WHERE serial_hex < '10002b00';
EXPLAIN (ANALYZE, BUFFERS)
SELECT c.issuer_id, c.serial_hex, o.hash_algorithm, c.issuer_generation,
       r.reason_code, r.revoked_at, r.hold_released_at IS NOT NULL, r.change_seq
FROM ocsp_response_cache o
JOIN certificates c ON c.issuer_id = o.issuer_id AND c.serial_hex = o.serial_hex
LEFT JOIN certificate_revocations r ON r.certificate_id = c.id
WHERE o.next_update < now() + make_interval(secs => 900)
  AND c.status IN ('issued', 'revoked') AND c.not_after > now() AND c.issuer_generation IS NOT NULL
ORDER BY o.next_update
LIMIT 500;
ROLLBACK;
