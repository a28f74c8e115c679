#!/usr/bin/env bash
# drill crl-kill: certctl-crl gets SIGKILL while it generates a CRL of
# DRILL_CRL_ENTRIES (default 1,000,000) revocations, then starts again.
#   - no half-written crl_cache row: the row is the previous CRL, byte for
#     byte, and verifies against the CA (the generation is one transaction:
#     advisory lock, read, sign, COPY, upsert);
#   - the generation lock is released (no advisory lock left in pg_locks);
#   - CRL numbers stay monotonic: the restarted publisher's CRL has a higher
#     number than any before (the signer recorded the number it signed for the
#     killed run, so that number is skipped, never reused), and the successful
#     generation events' numbers increase with time;
#   - the next publisher finishes the job: a CRL covering every revocation,
#     served over HTTP, `verify OK` with openssl.
# DRILL_KILL_PHASE=store (default: while the CRL is being copied into
# Postgres, the moment a half-written row could appear) or read (while the
# revocations are being read). Manual: the bulk insert and a 1 M-entry CRL in a
# debug build take minutes.
# ci: manual
source "$(dirname "$0")/lib.sh"
ENTRIES=${DRILL_CRL_ENTRIES:-1000000}
PHASE=${DRILL_KILL_PHASE:-store}
case $PHASE in store|read) ;; *) die "DRILL_KILL_PHASE must be store or read" ;; esac
drill_stack
W=$DRILL_WORK
ISSUER=$CERTCTL_DEFAULT_ISSUER_ID
TAG="drill-crl-$(openssl rand -hex 4)"

crl_row() { sql -F ' ' -c "SELECT crl_number, md5(crl_der), revoked_count FROM crl_cache WHERE issuer_id = '$ISSUER' AND issuer_generation = 1"; }
verify_cached() { # the cached DER verifies against the CA
    sql -c "SELECT encode(crl_der, 'base64') FROM crl_cache WHERE issuer_id = '$ISSUER' AND issuer_generation = 1" |
        base64 -d >"$W/cached.der"
    openssl crl -inform DER -in "$W/cached.der" -CAfile "$CERTCTL_CA_CERT_PATH" -noout 2>&1 | grep -q "verify OK"
}

drill_log "inserting $ENTRIES revoked certificates"
t=$(now_us)
sql -v n="$ENTRIES" -v tag="$TAG" >/dev/null <<'SQL'
INSERT INTO certificates (id, issuer_id, issuer_generation, serial_hex, status, subject, not_before, not_after, certificate_der, requested_by)
SELECT gen_random_uuid(), 'iss-local', 1, '1' || md5(:'tag' || i::text) || lpad(to_hex(i), 6, '0'), 'revoked', 'CN=drill',
       now() - interval '1 day', now() + interval '300 days', '\x00'::bytea, :'tag'
FROM generate_series(1, :n) AS i;
INSERT INTO certificate_revocations (certificate_id, issuer_id, serial_hex, reason_code, revoked_at, revoked_by)
SELECT id, issuer_id, serial_hex, 1, now() - interval '1 hour', :'tag' FROM certificates WHERE requested_by = :'tag';
ANALYZE certificates; ANALYZE certificate_revocations;
SQL
drill_log "inserted in $(ms_since "$t") ms"
if [ -n "${DRILL_STACK:-}" ]; then   # a shared stack gets its table back
    DRILL_CLEANUPS+=("sql -c \"DELETE FROM certificate_revocations WHERE revoked_by = '$TAG'\" -c \"DELETE FROM certificates WHERE requested_by = '$TAG'\"")
fi

read -r number_before md5_before _ <<<"$(crl_row)"
last_before=$(sql -c "SELECT last_crl_number FROM issuer_generations WHERE issuer_id = '$ISSUER' AND generation = 1")
verify_cached || die "the CRL cached before the drill does not verify"
restart_script crl "$W/restart-crl.sh"
DRILL_CLEANUPS+=("kill -0 \$(cat $DATA/run/crl.pid) 2>/dev/null || $W/restart-crl.sh")

# A revocation through the API: its NOTIFY makes certctl-crl regenerate (debounced).
new_cert trigger
curl -fsS -o /dev/null -H "Authorization: Bearer $CERTCTL_API_KEY" -H 'Content-Type: application/json' \
    -d '{"reason": "keyCompromise"}' "$CERTCTL_ADMIN_URL/api/v1/certificates/$(cat "$W/trigger.id")/revoke"
started=$(now_us)
crl_query() { sql -c "SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 60) FROM pg_stat_activity WHERE usename = 'certctl_crl' AND state = 'active' AND query NOT ILIKE '%LISTEN%' LIMIT 1"; }
case $PHASE in
    store) wait_until 900 eval '[[ "$(crl_query)" == *crl_upload* ]]' || die "certctl-crl never started storing a CRL" ;;
    read) wait_until 300 eval '[[ "$(crl_query)" == *revocations* || "$(crl_query)" == *DECLARE* || "$(crl_query)" == *FETCH* ]]' \
        || die "certctl-crl never started reading revocations" ;;
esac
sleep "${DRILL_KILL_DELAY:-0.3}"
killed_during=$(crl_query)
kill -KILL "$(cat "$DATA/run/crl.pid")"
killed_after=$(ms_since "$started")
drill_log "SIGKILL ${killed_after} ms after the revocation, during: ${killed_during:-?}"

# the database's view right after the kill
locks=1
for _ in $(seq 50); do
    locks=$(sql -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1668443136")   # CRLStore.lockNamespace 0x63726c00
    [ "$locks" = 0 ] && break
    sleep 0.1
done
read -r number_after_kill md5_after_kill _ <<<"$(crl_row)"
intact=no
[ "$number_after_kill" = "$number_before" ] && [ "$md5_after_kill" = "$md5_before" ] && verify_cached && intact=yes
last_after_kill=$(sql -c "SELECT last_crl_number FROM issuer_generations WHERE issuer_id = '$ISSUER' AND generation = 1")

# the next publisher
"$W/restart-crl.sh"
restarted=$(now_us)
covered=$(sql -c "SELECT max(change_seq) FROM certificate_revocations")
wait_until 900 eval '[ "$(sql -c "SELECT count(*) FROM crl_cache WHERE issuer_id = '"'$ISSUER'"' AND issuer_generation = 1 AND covered_change_seq >= '"$covered"'")" = 1 ]' \
    || die "the restarted certctl-crl did not publish a CRL covering every revocation"
finished_ms=$(ms_since "$restarted")
read -r number_new _ count_new <<<"$(crl_row)"
curl -fsS -o "$W/served.der" "$CERTCTL_CRL_URL/.well-known/pki/crl/$ISSUER"
served_ok=no
openssl crl -inform DER -in "$W/served.der" -CAfile "$CERTCTL_CA_CERT_PATH" -noout 2>&1 | grep -q "verify OK" && served_ok=yes
served_number=$(openssl crl -inform DER -in "$W/served.der" -noout -crlnumber | sed 's/^crlNumber=0x//; s/^crlNumber=//')
non_monotonic=$(sql -c "SELECT count(*) FROM (SELECT crl_number, lag(crl_number) OVER (ORDER BY started_at, id) AS previous
    FROM crl_generation_events WHERE issuer_id = '$ISSUER' AND issuer_generation = 1 AND succeeded) e WHERE crl_number <= previous")

facts="$ENTRIES entries; SIGKILL ${killed_after} ms after the revocation, during \"${killed_during}\";"
facts+=" after the kill: cached CRL #$number_before intact=$intact, advisory locks $locks, signer's last number $last_before -> $last_after_kill;"
facts+=" restarted publisher: CRL #$number_new with $count_new entries in ${finished_ms} ms, served verify=$served_ok (number 0x$served_number);"
facts+=" non-monotonic successful events $non_monotonic"
verdict=PASS
[ "$intact" = yes ] && [ "$locks" = 0 ] || verdict=FAIL
[ "$number_new" -gt "$number_before" ] && [ "$number_new" -gt "$last_after_kill" ] && [ "$non_monotonic" = 0 ] || verdict=FAIL
[ "$count_new" -ge "$ENTRIES" ] && [ "$served_ok" = yes ] || verdict=FAIL
drill_result "$verdict" "$facts"
