#!/usr/bin/env bash
# drill readonly-db: Postgres turns read-only for every session
# (ALTER SYSTEM SET default_transaction_read_only = on; pg_reload_conf(), as a
# maintenance window or a promoted-standby mix-up would).
#   - issuance (POST /api/v1/certificates) is refused: 503 database_read_only,
#     a JSON body without SQL text, no row reserved, nothing signed;
#   - OCSP keeps answering: a serial in the replica's memory, and one it has
#     not seen (answered from Postgres's pre-signed row or signed live; the
#     write-back fails and is only logged);
#   - every service stays ready; after the switch back, issuance works again.
# ci: fast
source "$(dirname "$0")/lib.sh"
drill_stack
W=$DRILL_WORK
OCSP_PORT=$(service_port ocsp)

new_cert seen; ocsp_request seen
new_cert unseen; ocsp_request unseen
[ "$(ocsp_status "$OCSP_PORT" seen)" = good ] || die "OCSP does not answer good before the drill"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/ro.key" -out "$W/ro.csr" \
    -subj "/CN=ro.drill.example.com" -addext "subjectAltName=DNS:ro.drill.example.com" 2>/dev/null
jq -n --rawfile csr "$W/ro.csr" '{csr_pem: $csr}' >"$W/ro.json"
issue() { # prints "HTTP-STATUS MILLISECONDS", body in $W/issue.out
    curl -sS -o "$W/issue.out" -w '%{http_code} %{time_total}' -H "Authorization: Bearer $CERTCTL_API_KEY" \
        -H 'Content-Type: application/json' --data-binary @"$W/ro.json" "$CERTCTL_ADMIN_URL/api/v1/certificates" |
        awk '{printf "%s %d", $1, $2 * 1000}'
}

rows_before=$(sql -c "SELECT count(*) FROM certificates")
readonly_on() { sql -c "ALTER SYSTEM SET default_transaction_read_only = on" -c "SELECT pg_reload_conf()" >/dev/null; }
readonly_off() {
    sql -c "SET default_transaction_read_only = off" -c "ALTER SYSTEM RESET default_transaction_read_only" \
        -c "SELECT pg_reload_conf()" >/dev/null
}
DRILL_CLEANUPS+=("readonly_off")
readonly_on
sleep 0.5   # the reload reaches every backend
[ "$(sql -c "SHOW default_transaction_read_only")" = on ] || die "the server did not turn read-only"

read -r status ms <<<"$(issue)"
code=$(jq -r '.error // "none"' "$W/issue.out" 2>/dev/null || echo not_json)
leaks_sql=$(grep -ciE 'sqlstate|read-only transaction|INSERT|UPDATE' "$W/issue.out" || true)
rows_during=$(sql -c "SELECT count(*) FROM certificates")
seen=$(ocsp_status "$OCSP_PORT" seen)
unseen=$(ocsp_status "$OCSP_PORT" unseen)
revoke_status=$(curl -s -o "$W/revoke.out" -w '%{http_code}' -H "Authorization: Bearer $CERTCTL_API_KEY" \
    -H 'Content-Type: application/json' -d '{"reason": "superseded"}' \
    "$CERTCTL_ADMIN_URL/api/v1/certificates/$(cat "$W/seen.id")/revoke")
revoke_code=$(jq -r '.error // "none"' "$W/revoke.out" 2>/dev/null || echo not_json)
not_ready=()
for s in signer admin ocsp crl enroll; do ready "$(service_port "$s")" || not_ready+=("$s"); done

readonly_off
sleep 0.5
read -r after_status _ <<<"$(issue)"

facts="issuance while read-only: HTTP $status $code in $ms ms (SQL text in body: $leaks_sql), rows $rows_before -> $rows_during;"
facts+=" OCSP: cached serial $seen, unseen serial $unseen; revoke: HTTP $revoke_status $revoke_code;"
facts+=" not ready: ${not_ready[*]:-none}; issuance after: HTTP $after_status"
verdict=PASS
[ "$status" = 503 ] && [ "$code" = database_read_only ] && [ "$leaks_sql" = 0 ] && [ "$rows_before" = "$rows_during" ] || verdict=FAIL
[ "$seen" = good ] && [ "$unseen" = good ] || verdict=FAIL
[ ${#not_ready[@]} = 0 ] && [ "$after_status" = 201 ] || verdict=FAIL
drill_result "$verdict" "$facts"
