#!/usr/bin/env bash
# drill ocsp-standby: a certctl-ocsp replica reading a streaming standby (scripts/dev DEV_STANDBY=1:
# pg_basebackup -R; docs/scaling.md), with admin and signer on the primary.
#   - the standby replica says it found a hot standby, and is ready;
#   - a new certificate: the standby replica answers good (from memory the second time);
#   - DRILL_REVOCATIONS revocations (default 5): each answered revoked within 1 s of the revoke API's response;
#   - its log holds no warning or error (no refused writes: shared answers, refresh loop, responder row);
#   - the standby promoted (pg_ctl promote): the replica notices within 5 s, runs the refresh loop and,
#     at its next signature, records its responder certificate there, without a restart.
# Needs a stack of its own (a standby), so not `ci: fast`.
source "$(dirname "$0")/lib.sh"
unset DRILL_STACK
pick_ports DEV_OCSP_STANDBY_PORT
export DEV_STANDBY=1 DEV_OCSP_RATE_LIMIT=0 DEV_OCSP_STANDBY_PORT
drill_stack
S=$DEV_OCSP_STANDBY_PORT
LOG="$DATA/logs/ocsp-standby.log"
standby_sql() { psql "postgres://postgres@localhost:$(cat "$DATA/standby/port")/certctl?host=$DATA/standby/socket" -v ON_ERROR_STOP=1 -qtA "$@"; }

ready "$S" || die "the standby replica is not ready"
grep -q "database is a hot standby" "$LOG" || die "the standby replica did not notice the standby"
[ "$(standby_sql -c 'SELECT pg_is_in_recovery()')" = t ] || die "the standby is not in recovery"

worst=0
for i in $(seq "${DRILL_REVOCATIONS:-5}"); do
    new_cert "rev$i"; ocsp_request "rev$i"
    wait_until 5 test "$(ocsp_status "$S" "rev$i")" = good || die "the standby replica does not answer good for rev$i"
    [ "$(ocsp_status "$S" "rev$i")" = good ] || die "rev$i: second answer not good"
    curl -fsS -o /dev/null -H "Authorization: Bearer $CERTCTL_API_KEY" -H 'Content-Type: application/json' \
        -d '{"reason":"keyCompromise"}' "$CERTCTL_ADMIN_URL/api/v1/certificates/$(cat "$DRILL_WORK/rev$i.id")/revoke"
    started=$(now_us)
    until [ "$(ocsp_status "$S" "rev$i")" = revoked ]; do
        [ "$(ms_since "$started")" -lt 5000 ] || die "rev$i: the standby replica still does not answer revoked after 5 s"
        sleep 0.02
    done
    ms=$(ms_since "$started")
    drill_log "rev$i: revoked on the standby replica after $ms ms"
    [ "$ms" -gt "$worst" ] && worst=$ms
done
[ "$worst" -le 1000 ] || { drill_result FAIL "slowest revocation → revoked ${worst} ms (> 1000 ms)"; exit 1; }

# postgres-nio's "run() hasn't been called yet" at start-up is benign (every service logs it)
if grep -E " (WARNING|ERROR|CRITICAL) " "$LOG" | grep -v "hasn't been called yet" >&2; then
    drill_result FAIL "the standby replica logged warnings or errors"; exit 1
fi

[ "$(standby_sql -c 'SELECT count(*) FROM ocsp_responder_certs')" = "$(sql -c 'SELECT count(*) FROM ocsp_responder_certs')" ] \
    || die "the standby holds responder rows the primary does not"
rows_before=$(standby_sql -c 'SELECT count(*) FROM ocsp_responder_certs')
(cd / && pg_run "$(pg_bin_dir)/pg_ctl" -D "$DATA/standby/db" promote -w >/dev/null)
wait_until 5 grep -q "database promoted to primary" "$LOG" || die "the replica did not notice the promotion"
wait_until 10 grep -q "OCSP full sweep done" "$LOG" || die "the refresh loop did not run after the promotion"
# the certificate is recorded at the replica's next signature once its identity is re-checked (≥ 1 s)
sleep 1.1
openssl ocsp -issuer "$CERTCTL_CA_CERT_PATH" -cert "$DRILL_WORK/rev1.pem" -nonce -url "http://127.0.0.1:$S/.well-known/pki/ocsp/iss-local" \
    -CAfile "$CERTCTL_CA_CERT_PATH" 2>&1 | grep -q "rev1.pem: revoked" || die "no nonce answer from the promoted replica"
wait_until 5 test "$(standby_sql -c 'SELECT count(*) FROM ocsp_responder_certs')" -gt "$rows_before" \
    || die "the replica did not record its responder certificate after the promotion"
ready "$S" || die "the replica is not ready after the promotion"
drill_result PASS "slowest revocation → revoked on the standby replica ${worst} ms; promotion picked up without restart"
