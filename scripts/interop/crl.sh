#!/usr/bin/env bash
# CRL publisher interop: the real certctl-crl, certctl-signer and admin API,
# checked with the openssl CLI. Needs the stack's dev.env exported, plus
# CERTCTL_CRL_URL and CERTCTL_DEV_DATA (the stack's data directory: the suite
# starts a second publisher replica and stops/starts the signer; with
# CERTCTL_INTEROP_HOST_PROCESSES=0 those two sections are skipped).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
require_env CERTCTL_CRL_URL
! host_processes || require_env CERTCTL_DEV_DATA
interop_start
CRL=${CERTCTL_CRL_URL%/}/.well-known/pki/crl/$ISSUER

# fetch URL OUT [CURL-ARGS...]: STATUS and HEADERS (lower-case names) of a GET.
fetch() {
    local url=$1 out=$2; shift 2
    rm -f "$out"
    STATUS=$(curl -sS -o "$out" -D headers.txt -w '%{http_code}' "$@" "$url")
    HEADERS=$(tr -d '\r' <headers.txt | tr 'A-Z' 'a-z')
}
body_size() { if [ -e "$1" ]; then stat -c %s "$1"; else echo 0; fi; }
header() { grep -m1 "^$1:" <<<"$HEADERS" | cut -d' ' -f2- || true; }
crl_text() { openssl crl -inform DER -in "$1" -noout -text; }
crl_number() { openssl crl -inform DER -in "$1" -noout -crlnumber | cut -d= -f2; }
# serial_on_crl SERIAL FILE: 0 when the CRL lists it (openssl prints upper-case hex)
serial_on_crl() { crl_text "$2" | grep -qi "Serial Number: 0*$1\$"; }
# issue_leaf NAME: issues a P-256 leaf; sets LEAF_ID, LEAF_SERIAL and writes NAME.pem
issue_leaf() {
    new_csr "$1.csr" "$P256" "$1.$RUN.crl.test" "DNS:$1.$RUN.crl.test"
    issue_body "$1.csr" >"$1.json"
    post_json /api/v1/certificates "$1.json"
    expect_status 201
    LEAF_ID=$(jf .id)
    LEAF_SERIAL=$(jf .serial_hex)
    jf .certificate_pem >"$1.pem"
}
revoke() { printf '%s' "$2" >revoke.json; post_json "/api/v1/certificates/$1/revoke" revoke.json; expect_status 200; }
# check_here NAME COMMAND...: like check, but in this shell (the command sets variables)
check_here() {
    local name=$1; shift
    if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name" "\`$*\` succeeds" "it did not"; fi
}
# wait_for_crl CONDITION-FUNCTION ARGS...: polls the CRL (DER → crl.der) until the function succeeds; sets WAITED_MS
wait_for_crl() {
    local start deadline; start=$(date +%s%N); deadline=$((start + 5000000000))
    while :; do
        fetch "$CRL" crl.der
        if [ "$STATUS" = 200 ] && "$@"; then WAITED_MS=$(( ($(date +%s%N) - start) / 1000000 )); return 0; fi
        [ "$(date +%s%N)" -lt $deadline ] || { WAITED_MS=timeout; return 1; }
        sleep 0.05
    done
}

section "publication: DER, headers, signature"
fetch "$CRL" crl.der
expect_eq "GET the CDP URL" 200 "$STATUS"
expect_eq "content-type" application/pkix-crl "$(header content-type)"
check "openssl crl -inform DER parses it" crl_text crl.der
expect_match "v2 CRL" "Version 2" "$(crl_text crl.der)"
verify_out=$(openssl crl -inform DER -in crl.der -CAfile "$CA" -noout 2>&1)
expect_eq "signature verifies under the CA (openssl prints verify OK)" "verify OK" "$verify_out"
expect_eq "issuer is the CA certificate's subject" "$(openssl x509 -in "$CA" -noout -subject -nameopt RFC2253 | cut -d= -f2-)" \
    "$(openssl crl -inform DER -in crl.der -noout -issuer -nameopt RFC2253 | cut -d= -f2-)"
ca_ski=$(openssl x509 -in "$CA" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')
expect_match "authorityKeyIdentifier is the CA's key id" "$ca_ski" "$(crl_text crl.der | tr -d ' ')"
etag=$(header etag)
expect_match "strong ETag" '^"[0-9a-f]{64}"$' "$etag"
expect_eq "ETag is the SHA-256 of the DER" "\"$(openssl sha256 -r crl.der | cut -d' ' -f1)\"" "$etag"
last_update=$(openssl crl -inform DER -in crl.der -noout -lastupdate | cut -d= -f2)
next_update=$(openssl crl -inform DER -in crl.der -noout -nextupdate | cut -d= -f2)
expect_eq "Last-Modified = thisUpdate" "$(epoch "$last_update")" "$(epoch "$(header last-modified)")"
expect_eq "Expires = nextUpdate" "$(epoch "$next_update")" "$(epoch "$(header expires)")"
max_age=$(header cache-control | sed -n 's/.*max-age=\([0-9]*\).*/\1/p')
expect_match "Cache-Control public with max-age" '^public, max-age=[0-9]+$' "$(header cache-control)"
check "max-age never outlives nextUpdate" test "$max_age" -le $(( $(epoch "$next_update") - $(date +%s) + 1 ))
expect_eq "the cached row is what is served" "$(openssl sha256 -r crl.der | cut -d' ' -f1)" \
    "$(sql -c "SELECT encode(sha256(crl_der), 'hex') FROM crl_cache WHERE issuer_id = '$ISSUER'")"

section "PEM"
fetch "$CRL.pem" crl.pem
expect_eq ".pem: 200" 200 "$STATUS"
check ".pem parses as a PEM CRL" openssl crl -in crl.pem -noout
expect_eq ".pem is the same CRL" "$(openssl crl -in crl.pem -outform DER | openssl sha256 -r)" "$(openssl sha256 -r <crl.der)"
fetch "$CRL?format=pem" crl2.pem
expect_eq "?format=pem: 200 and PEM" "200 -----BEGIN X509 CRL-----" "$STATUS $(head -1 crl2.pem)"
check "the PEM has its own ETag" test "$(header etag)" != "$etag"

section "conditional requests (RFC 9110)"
fetch "$CRL" out.bin -H "If-None-Match: $etag"
expect_eq "If-None-Match with the ETag: 304" 304 "$STATUS"
expect_eq "304 has no body" 0 "$(body_size out.bin)"
expect_eq "304 repeats the ETag" "$etag" "$(header etag)"
fetch "$CRL" out.bin -H "If-None-Match: W/$etag"
expect_eq "If-None-Match weak form matches (weak comparison)" 304 "$STATUS"
fetch "$CRL" out.bin -H 'If-None-Match: "other", *'
expect_eq "If-None-Match * matches" 304 "$STATUS"
fetch "$CRL" out.bin -H "If-Modified-Since: $(date -u -d "$last_update" '+%a, %d %b %Y %H:%M:%S GMT')"
expect_eq "If-Modified-Since = Last-Modified: 304" 304 "$STATUS"
fetch "$CRL" out.bin -H "If-Modified-Since: $(date -u -d "$last_update - 1 hour" '+%a, %d %b %Y %H:%M:%S GMT')"
expect_eq "If-Modified-Since earlier: 200" 200 "$STATUS"
fetch "$CRL" out.bin -H 'If-None-Match: "something-else"' \
    -H "If-Modified-Since: $(date -u -d "$last_update + 1 hour" '+%a, %d %b %Y %H:%M:%S GMT')"
expect_eq "If-None-Match takes precedence over If-Modified-Since" 200 "$STATUS"
fetch "$CRL" out.bin -H "If-Modified-Since: yesterday"
expect_eq "an unparsable If-Modified-Since is ignored" 200 "$STATUS"
STATUS=$(curl -sS -o /dev/null -D head.txt -w '%{http_code} %{size_download}' -I "$CRL")
expect_eq "HEAD: 200 without a body" "200 0" "$STATUS"
expect_eq "HEAD: Content-Length of the DER" "$(stat -c %s crl.der)" "$(tr -d '\r' <head.txt | sed -n 's/^[Cc]ontent-[Ll]ength: //p')"

section "unknown issuers"
fetch "${CERTCTL_CRL_URL%/}/.well-known/pki/crl/no-such-issuer-$RUN" out.bin
expect_eq "unknown issuer: 404" 404 "$STATUS"
expect_eq "404 is short plain text" "text/plain; charset=utf-8" "$(header content-type)"
expect_match "404 names the issuer" "unknown issuer no-such-issuer-$RUN" "$(cat out.bin)"
fetch "${CERTCTL_CRL_URL%/}/.well-known/pki/crl/Bad%20Id" out.bin
expect_eq "malformed issuer id: 404" 404 "$STATUS"
fetch "${CERTCTL_CRL_URL%/}/.well-known/pki/ca/$ISSUER.crt" ca.der
expect_eq "AIA caIssuers URL serves the CA certificate (DER)" \
    "200 $(openssl x509 -in "$CA" -outform DER | openssl sha256 -r)" "$STATUS $(openssl sha256 -r <ca.der)"

section "revocation reaches the CRL within 2 s"
issue_leaf leaf1; serial1=$LEAF_SERIAL
fetch "$CRL" crl.der; openssl crl -inform DER -in crl.der -out crl.pem
check "openssl verify -crl_check passes before revocation" openssl verify -crl_check -CAfile "$CA" -CRLfile crl.pem leaf1.pem
number_before=$(crl_number crl.der)
invalidity=$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%SZ)
revoke "$LEAF_ID" "{\"reason\":\"keyCompromise\",\"invalidity_date\":\"$invalidity\"}"
check_here "the serial appears on the fetched CRL" wait_for_crl serial_on_crl "$LEAF_SERIAL" crl.der
echo "     (revocation → CRL: ${WAITED_MS} ms)"
check "within 2000 ms" test "$WAITED_MS" -le 2000
openssl crl -inform DER -in crl.der -out crl.pem
out=$(openssl verify -crl_check -CAfile "$CA" -CRLfile crl.pem leaf1.pem 2>&1 || true)
expect_match "openssl verify -crl_check: certificate revoked" "certificate revoked" "$out"
entry=$(crl_text crl.der | grep -i -A6 "Serial Number: 0*$LEAF_SERIAL\$")
expect_match "reason code Key Compromise" "Key Compromise" "$entry"
expect_match "invalidity date" "Invalidity Date" "$entry"
check "CRL number increased" test "$(( 16#$(crl_number crl.der | sed 's/^0x//') ))" -gt "$(( 16#$(sed 's/^0x//' <<<"$number_before") ))"
expect_eq "the generation event is recorded" t \
    "$(sql -c "SELECT succeeded FROM crl_generation_events WHERE issuer_id = '$ISSUER' ORDER BY id DESC LIMIT 1")"

issue_leaf leaf2; serial2=$LEAF_SERIAL; id2=$LEAF_ID
revoke "$id2" '{"reason":"unspecified"}'
check_here "unspecified revocation listed" wait_for_crl serial_on_crl "$serial2" crl.der
entry=$(crl_text crl.der | grep -i -A3 "Serial Number: 0*$serial2\$")
check "unspecified: no reason code extension (RFC 5280 §5.3.1)" bash -c "! grep -q 'CRL Reason Code' <<<\"\$1\"" _ "$entry"

section "certificateHold lifted by removeFromCRL disappears"
issue_leaf leaf3; serial3=$LEAF_SERIAL; id3=$LEAF_ID
revoke "$id3" '{"reason":"certificateHold"}'
check_here "on hold: listed" wait_for_crl serial_on_crl "$serial3" crl.der
expect_match "reason Certificate Hold" "Certificate Hold" "$(crl_text crl.der | grep -i -A6 "Serial Number: 0*$serial3\$")"
revoke "$id3" '{"reason":"removeFromCRL"}'
not_listed() { ! serial_on_crl "$1" crl.der; }
check_here "released: gone from the CRL" wait_for_crl not_listed "$serial3"
check "the keyCompromise entry stays" serial_on_crl "$serial1" crl.der

section "burst: many revocations, a handful of CRLs"
events_before=$(sql -c "SELECT count(*) FROM crl_generation_events WHERE issuer_id = '$ISSUER'")
burst_ids=() burst_pids=()
for i in $(seq 1 12); do issue_leaf "burst$i"; burst_ids+=("$LEAF_ID"); last_serial=$LEAF_SERIAL; done
for id in "${burst_ids[@]}"; do
    printf '{"reason":"superseded"}' >"r-$id.json"
    curl -sS -o /dev/null -X POST -H "Authorization: Bearer $CERTCTL_API_KEY" -H 'Content-Type: application/json' \
        --data-binary "@r-$id.json" "$ADMIN/api/v1/certificates/$id/revoke" &
    burst_pids+=($!)
done
wait "${burst_pids[@]}"
check_here "the last burst revocation is listed" wait_for_crl serial_on_crl "$last_serial" crl.der
sleep 1
events=$(( $(sql -c "SELECT count(*) FROM crl_generation_events WHERE issuer_id = '$ISSUER' AND succeeded") - events_before ))
echo "     (12 revocations → $events CRLs)"
check "fewer CRLs than revocations (debounced)" test "$events" -lt 12

section "runbook drill: DELETE FROM crl_cache"
fetch "$CRL" crl.der; number_cached=$(crl_number crl.der)
sql -c "DELETE FROM crl_cache WHERE issuer_id = '$ISSUER'" >/dev/null
fetch "$CRL" crl.der
expect_eq "next fetch works" 200 "$STATUS"
expect_eq "and verifies" "verify OK" "$(openssl crl -inform DER -in crl.der -CAfile "$CA" -noout 2>&1)"
expect_eq "the row reappears" 1 "$(sql -c "SELECT count(*) FROM crl_cache WHERE issuer_id = '$ISSUER'")"
check "with a higher CRL number" test "$(( 16#$(crl_number crl.der | sed 's/^0x//') ))" -gt "$(( 16#$(sed 's/^0x//' <<<"$number_cached") ))"
check "revocations survive the rebuild" serial_on_crl "$serial1" crl.der

section "corrupt cache row: falls through to live signing"
sql -c "UPDATE crl_cache SET crl_der = '\\x300301010a'::bytea WHERE issuer_id = '$ISSUER'" >/dev/null
fetch "$CRL" crl.der
expect_eq "a valid CRL is served" "200 verify OK" "$STATUS $(openssl crl -inform DER -in crl.der -CAfile "$CA" -noout 2>&1)"
expect_eq "the row is repaired" "$(openssl sha256 -r crl.der | cut -d' ' -f1)" \
    "$(sql -c "SELECT encode(sha256(crl_der), 'hex') FROM crl_cache WHERE issuer_id = '$ISSUER'")"
sql -c "TRUNCATE crl_cache" >/dev/null
fetch "$CRL" crl.der
expect_eq "after TRUNCATE the next fetch regenerates" "200 verify OK" "$STATUS $(openssl crl -inform DER -in crl.der -CAfile "$CA" -noout 2>&1)"

section "metrics"
metrics=$(curl -sS "${CERTCTL_CRL_URL%/}/metrics")
expect_match "generation duration histogram" 'certctl_crl_generation_duration_seconds_count [1-9]' "$metrics"
expect_match "last success timestamp" "certctl_crl_last_success_timestamp_seconds\{issuer=\"$ISSUER\"\} [1-9]" "$metrics"
expect_match "revoked entries gauge" "certctl_crl_revoked_entries\{issuer=\"$ISSUER\"\} [1-9]" "$metrics"
expect_match "served counter" 'certctl_crl_requests_total\{outcome="served"\} [1-9]' "$metrics"
expect_match "304 counter" 'certctl_crl_requests_total\{outcome="not_modified"\} [1-9]' "$metrics"
expect_match "404 counter" 'certctl_crl_requests_total\{outcome="not_found"\} [1-9]' "$metrics"

if ! host_processes; then
    skip_section "two publishers: CRL numbers never repeat or go back" "starts a second certctl-crl from /proc/PID/environ"
    skip_section "signer outage: a valid cached CRL keeps being served" "kills and restarts the signer's PID (scripts/compose test kills the signer container)"
    interop_done
    exit 0
fi

section "two publishers: CRL numbers never repeat or go back"
# a second certctl-crl replica with the first one's environment on another port
crl_pid=$(cat "$CERTCTL_DEV_DATA/run/crl.pid")
port2=$(free_port)
mapfile -d '' crl_env <"/proc/$crl_pid/environ"
env -i "${crl_env[@]}" CERTCTL_CRL_LISTEN="127.0.0.1:$port2" "$(process_exe "$crl_pid")" >replica2.log 2>&1 &
replica2=$!
trap 'rc=$?; kill $replica2 2>/dev/null || true; (exit $rc); interop_cleanup' EXIT
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port2/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
check "replica 2 is ready" curl -fsS "http://127.0.0.1:$port2/readyz"
first_event=$(sql -c "SELECT COALESCE(max(id), 0) FROM crl_generation_events")
race_ids=()
for i in $(seq 1 8); do issue_leaf "race$i"; race_ids+=("$LEAF_ID"); race_last=$LEAF_SERIAL; done
racers=()
for id in "${race_ids[@]}"; do
    revoke "$id" '{"reason":"affiliationChanged"}'
    sql -c "DELETE FROM crl_cache WHERE issuer_id = '$ISSUER'" >/dev/null &   # both replicas also regenerate on request
    racers+=($!)
    curl -sS -o /dev/null "http://127.0.0.1:$port2/.well-known/pki/crl/$ISSUER" & racers+=($!)
    curl -sS -o /dev/null "$CRL" & racers+=($!)
done
wait "${racers[@]}"
check_here "replica 1 lists the last revocation" wait_for_crl serial_on_crl "$race_last" crl.der
CRL2="http://127.0.0.1:$port2/.well-known/pki/crl/$ISSUER"
for _ in $(seq 50); do curl -sS -o crl2.der "$CRL2"; serial_on_crl "$race_last" crl2.der && break; sleep 0.1; done
check "replica 2 lists it too" serial_on_crl "$race_last" crl2.der
numbers=$(sql -c "SELECT crl_number FROM crl_generation_events WHERE id > $first_event AND succeeded AND issuer_id = '$ISSUER' ORDER BY id")
expect_eq "no CRL number was issued twice" "$(sort -n <<<"$numbers" | uniq | wc -l)" "$(wc -l <<<"$numbers")"
expect_eq "numbers increase in commit order" "$(sort -n <<<"$numbers")" "$numbers"
expect_eq "the cache holds the highest number" "$(tail -1 <<<"$numbers")" \
    "$(sql -c "SELECT crl_number FROM crl_cache WHERE issuer_id = '$ISSUER'")"
echo "     ($(wc -l <<<"$numbers") CRLs from two replicas)"
kill $replica2; wait $replica2 2>/dev/null || true
trap interop_cleanup EXIT

section "signer outage: a valid cached CRL keeps being served"
stop_signer
fetch "$CRL" crl.der
expect_eq "signer down: still 200 and valid" "200 verify OK" "$STATUS $(openssl crl -inform DER -in crl.der -CAfile "$CA" -noout 2>&1)"
check_here "signer back" start_signer 10
sql -c "DELETE FROM crl_cache WHERE issuer_id = '$ISSUER'" >/dev/null
# the publisher's connection to the signer reconnects within its backoff (at most 5 s)
crl_verifies() { [ "$(openssl crl -inform DER -in crl.der -CAfile "$CA" -noout 2>&1)" = "verify OK" ]; }
check_here "signing works again within seconds of the signer's return" wait_for_crl crl_verifies
expect_eq "signing works again after the outage" "200 verify OK" "$STATUS $(openssl crl -inform DER -in crl.der -CAfile "$CA" -noout 2>&1)"

interop_done
