#!/usr/bin/env bash
# Interop suite: the OCSP responder tier (certctl-ocsp) driven by the real
# `openssl ocsp` client and curl: good / revoked (with reason) / unknown,
# nonce and no nonce, POST and GET, SHA-1 and SHA-256 CertIDs, RFC 5019
# caching headers, malformed and oversized requests, unauthorized issuers,
# extra replicas on their own ports and keys (bootstrap race on an empty
# table, revocation seen by both, LISTEN cut with pg_terminate_backend), the
# per-IP rate limit, the runbook drills, and Postgres going away.
#
#   set -a; source <data>/dev.env; set +a; bash scripts/interop/ocsp.sh
set -Eeuo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
require_env CERTCTL_OCSP_URL
! host_processes || require_env CERTCTL_DEV_DATA CERTCTL_BIN_DIR CERTCTL_SIGNER_ADDR
interop_start
OCSP=${CERTCTL_OCSP_URL%/}
DATA=${CERTCTL_DEV_DATA:-}
URL="$OCSP/.well-known/pki/ocsp/$ISSUER"
REPLICA_PIDS=()
cleanup_replicas() {
    local pid
    for pid in ${REPLICA_PIDS[@]+"${REPLICA_PIDS[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in ${REPLICA_PIDS[@]+"${REPLICA_PIDS[@]}"}; do wait "$pid" 2>/dev/null || true; done
}
# Postgres back up whatever happens in section 10 (later suites need it).
# (From /: pg_ctl runs as postgres when we are root, and cannot enter $WORK.)
ensure_postgres() {
    host_processes || return 0
    ( cd /; pg_is_running "$DATA/pg" || pg_start "$DATA/pg" "$(cat "$DATA/pg/port")" >/dev/null ) || true
}
trap 'rc=$?; cleanup_replicas; ensure_postgres; (exit $rc); interop_cleanup' EXIT INT TERM

# new_cert NAME: issues a P-256 certificate; NAME.pem, ID_<NAME>, SERIAL_<NAME>.
new_cert() {
    local name=$1 host="ocsp-$1-$RUN.example.com"
    new_csr "$name.csr" "$P256" "$host" "DNS:$host"
    issue_body "$name.csr" >"$name.json"
    post_json /api/v1/certificates "$name.json"
    [ "$STATUS" = 201 ] || fail "issue $name" "HTTP 201" "HTTP $STATUS"
    jf .certificate_pem >"$name.pem"
    printf -v "ID_$name" '%s' "$(jf .id)"
    printf -v "SERIAL_$name" '%s' "$(jf .serial_hex)"
    LAST_REQUEST=
}
revoke() { # NAME REASON
    local id_var="ID_$1"
    printf '{"reason":"%s"}' "$2" >revoke.json
    post_json "/api/v1/certificates/${!id_var}/revoke" revoke.json
    [ "$STATUS" = 200 ] || fail "revoke $1" "HTTP 200" "HTTP $STATUS $BODY"
    LAST_REQUEST=
}
# query URL CERT [OPENSSL-ARGS...]: `openssl ocsp` against URL; prints its
# stdout and stderr (status lines, "Response verify OK", responder errors).
query() {
    local url=$1 cert=$2; shift 2
    # (a digest option such as -sha256 must come before -cert)
    openssl ocsp -issuer "$CA" "$@" -cert "$cert" -url "$url" -CAfile "$CA" 2>&1 || true
}
# status_of OUTPUT CERT: "good", "revoked", "unknown" or the responder error.
status_of() {
    local line
    line=$(grep -E "^$2: |Responder Error" <<<"$1" | head -1 || true)
    case $line in
        *"Responder Error: "*) echo "error:${line#*Responder Error: }" ;;
        *) echo "${line#*: }" ;;
    esac
}
# expect_ocsp NAME EXPECTED URL CERT [ARGS...]: status and a verified signature.
expect_ocsp() {
    local name=$1 want=$2 url=$3 cert=$4 out; shift 4
    out=$(query "$url" "$cert" "$@")
    [ "$(status_of "$out" "$cert")" = "$want" ] || fail "$name" "$want" "$out"
    if [[ $want != error:* ]]; then
        grep -q "Response verify OK" <<<"$out" || fail "$name: signature" "Response verify OK" "$out"
    fi
    pass "$name -> $want"
}
# A tier behind a balancer (scripts/compose test) lists its replicas' base URLs
# in CERTCTL_OCSP_REPLICA_URLS; the tier's port then sums them all.
metric() { # PORT NAME-WITH-LABELS: the sample's value (0 when absent)
    local urls=("http://127.0.0.1:$1") url
    if [ -n "${CERTCTL_OCSP_REPLICA_URLS:-}" ] && [ "$1" = "$(ocsp_port)" ]; then read -ra urls <<<"$CERTCTL_OCSP_REPLICA_URLS"; fi
    for url in "${urls[@]}"; do curl -s "$url/metrics"; done | awk -v m="$2" '$1 == m { v += $2 } END { print v + 0 }'
}
ocsp_port() { local p=${OCSP##*:}; echo "${p%%/*}"; }
# start_replica NAME PORT [VAR=VALUE...]: another certctl-ocsp with its own key directory.
start_replica() {
    local name=$1 port=$2 database; shift 2
    mapfile -t database < <(service_database_env ocsp "$CERTCTL_DEV_DATA")   # the ocsp role, as certctl-ocsp runs
    env -i PATH="$PATH" "${database[@]}" CERTCTL_LOG_FORMAT=text \
        CERTCTL_RPC_TLS_CERT="$DATA/rpc/ocsp.crt" CERTCTL_RPC_TLS_KEY="$DATA/rpc/ocsp.key" CERTCTL_RPC_TLS_CA="$DATA/rpc/ca.crt" \
        CERTCTL_SIGNER_ADDR="$CERTCTL_SIGNER_ADDR" CERTCTL_OCSP_LISTEN="127.0.0.1:$port" \
        CERTCTL_OCSP_RESPONDER_KEY_DIR="$WORK/keys-$name" "$@" \
        "$CERTCTL_BIN_DIR/certctl-ocsp" >"$WORK/$name.log" 2>&1 &
    REPLICA_PIDS+=($!)
}
wait_ready() { # PORT
    local i
    for i in $(seq 150); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ] && return 0
        sleep 0.2
    done
    cat "$WORK"/*.log >&2 || true
    fail "replica on port $1 ready" "/readyz 200" "$(curl -s "http://127.0.0.1:$1/readyz")"
}
# resp_text FILE: the response as text, lower-case (openssl exits non-zero on error statuses).
resp_text() { { openssl ocsp -respin "$1" -resp_text -noverify 2>&1 || true; } | tr 'A-Z' 'a-z'; }
responder_id() { openssl ocsp -respin "$1" -resp_text -noverify 2>/dev/null | awk -F': ' '/Responder Id/ { print $2; exit }'; }

# ---------------------------------------------------------------------------
section "1. good: POST with and without nonce, SHA-1 and SHA-256, AIA URL"
new_cert a
expect_eq "AIA OCSP URL is this tier" "$URL" "$(openssl x509 -in a.pem -noout -ocsp_uri)"
expect_ocsp "POST, nonce, SHA-1" good "$URL" a.pem
expect_ocsp "POST, -no_nonce, SHA-1" good "$URL" a.pem -no_nonce
expect_ocsp "POST, nonce, SHA-256" good "$URL" a.pem -sha256
expect_ocsp "POST, -no_nonce, SHA-256" good "$URL" a.pem -sha256 -no_nonce
out=$(query "$URL" a.pem -nonce -reqout nonce-req.der -respout nonce-resp.der)
expect_match "nonce echoed (openssl checks it)" "Response verify OK" "$out"
expect_eq "no nonce warning" "" "$(grep -i nonce <<<"$out" || true)"
expect_match "response carries the nonce" "OCSP Nonce" "$(openssl ocsp -respin nonce-resp.der -resp_text -noverify 2>&1)"
expect_match "responder certificate: OCSP Signing EKU" "OCSP Signing" "$(openssl ocsp -respin nonce-resp.der -resp_text -noverify 2>&1)"
expect_match "responder certificate: ocsp-nocheck" "OCSP No Check" "$(openssl ocsp -respin nonce-resp.der -resp_text -noverify 2>&1)"
expect_match "responder ID byKey" "^[0-9A-F]{40}$" "$(responder_id nonce-resp.der)"

# ---------------------------------------------------------------------------
section "2. GET (RFC 6960 A.1) and RFC 5019 headers"
openssl ocsp -issuer "$CA" -cert a.pem -no_nonce -reqout get-req.der >/dev/null 2>&1
b64=$(base64 -w0 get-req.der)
enc=$(jq -rn --arg b64 "$b64" '$b64 | @uri')   # '+', '/' and '=' percent-encoded
# headers URL OUT [CURL-ARGS...]: status line and headers, names in canonical
# case (they are case-insensitive, RFC 9110 5.1; HAProxy in front of the
# replicas sends them in lower case).
headers() {
    curl -s -D headers.txt -o "$2" "${@:3}" "$1"
    tr -d '\r' <headers.txt | awk -F': ' 'NF > 1 && $1 !~ / / {
        n = split($1, w, "-"); name = ""
        for (i = 1; i <= n; i++) name = name (i > 1 ? "-" : "") toupper(substr(w[i], 1, 1)) tolower(substr(w[i], 2))
        sub(/^[^:]*/, name) } { print }'
}
h=$(headers "$URL/$enc" get.der)
expect_match "GET url-encoded base64 -> 200" "^HTTP/1.1 200" "$h"
expect_match "Content-Type" "Content-Type: application/ocsp-response" "$h"
expect_match "Cache-Control (RFC 5019)" "Cache-Control: max-age=[0-9]+, public, no-transform, must-revalidate" "$h"
expect_match "Last-Modified" "Last-Modified: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT" "$h"
expect_match "Expires" "Expires: [A-Z][a-z]{2}, " "$h"
etag=$(awk -F': ' 'tolower($1) == "etag" { print $2 }' <<<"$h")
expect_match "strong ETag" '^"[0-9a-f]{32}"$' "$etag"
max_age=$(grep -oE 'max-age=[0-9]+' <<<"$h" | cut -d= -f2)
expires=$(awk -F': ' '$1 == "Expires" { print $2 }' <<<"$h")
delta=$(( $(epoch "$expires") - $(date -u +%s) - max_age ))
expect_match "max-age counts down to Expires (nextUpdate)" '^-?[0-2]$' "$delta"
expect_match "GET response is good for a.pem" "good" \
    "$(openssl ocsp -respin get.der -CAfile "$CA" -issuer "$CA" -cert a.pem -no_nonce 2>&1)"
h=$(headers "$URL/$enc" notmod.der -H "If-None-Match: $etag")
expect_match "If-None-Match -> 304" "^HTTP/1.1 304" "$h"
expect_eq "304 has no body" 0 "$(stat -c %s notmod.der 2>/dev/null || echo 0)"
# '+' mangled to a space, unencoded base64, a double slash
h=$(headers "$OCSP/.well-known/pki/ocsp//$ISSUER//${b64//+/%20}" raw.der)
expect_match "GET with '+' as space and double slashes -> 200" "^HTTP/1.1 200" "$h"
expect_eq "same body" "$(sha256sum <get.der | cut -c1-64)" "$(sha256sum <raw.der | cut -c1-64)"
h=$(headers "$URL/$SERIAL_a" serial.der)
expect_match "GET …/{serial_hex} -> 200" "^HTTP/1.1 200" "$h"
expect_match "convenience GET answers good" "Cert Status: good" "$(openssl ocsp -respin serial.der -resp_text -CAfile "$CA" 2>&1)"
# a nonce response is not cacheable
h=$(headers "$URL" nonce-post.der -H 'Content-Type: application/ocsp-request' --data-binary @nonce-req.der)
expect_match "nonce response: Cache-Control no-cache" "Cache-Control: no-cache" "$h"
expect_eq "nonce response: no ETag" "" "$(grep -i '^etag' <<<"$h" || true)"

# ---------------------------------------------------------------------------
section "3. revoked with reason, via the admin API"
new_cert r
expect_ocsp "before revocation (warms the caches)" good "$URL" r.pem -no_nonce
expect_ocsp "before revocation, SHA-256" good "$URL" r.pem -no_nonce -sha256
revoke r keyCompromise
for args in "-no_nonce" "-nonce" "-sha256 -no_nonce" "-sha256 -nonce"; do
    read -r -a extra <<<"$args"
    out=$(query "$URL" r.pem "${extra[@]}")
    [ "$(status_of "$out" r.pem)" = revoked ] || fail "revoked ($args)" revoked "$out"
    expect_match "revoked ($args): reason" "Reason: keyCompromise" "$out"
done
expect_match "GET …/{serial_hex} answers revoked" "Cert Status: revoked" \
    "$(curl -s "$URL/$SERIAL_r" | openssl ocsp -respin /dev/stdin -resp_text -CAfile "$CA" 2>&1)"
out=$(openssl ocsp -issuer "$CA" -cert a.pem -cert r.pem -url "$URL" -CAfile "$CA" 2>&1 || true)
expect_match "two certificates in one request: a good" "a.pem: good" "$out"
expect_match "two certificates in one request: r revoked" "r.pem: revoked" "$out"
expect_match "two certificates in one request: verified" "Response verify OK" "$out"
expect_eq "pre-signed rows for r carry its revocation" "revoked" \
    "$(sql -c "SELECT string_agg(DISTINCT cert_status, ',') FROM ocsp_response_cache WHERE serial_hex = '$SERIAL_r'")"

# ---------------------------------------------------------------------------
section "4. unknown, unauthorized, malformed, oversized"
out=$(openssl ocsp -issuer "$CA" -serial "0x$(openssl rand -hex 19)" -url "$URL" -CAfile "$CA" 2>&1 || true)
expect_match "serial never issued -> unknown" ": unknown" "$out"
expect_match "unknown is signed" "Response verify OK" "$out"
out=$(query "$OCSP/.well-known/pki/ocsp/iss-nonexistent" a.pem)
expect_eq "unknown issuer id -> unauthorized" "error:unauthorized (6)" "$(status_of "$out" a.pem)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.pem -days 1 \
    -subj "/CN=another CA $RUN" 2>/dev/null
out=$(openssl ocsp -issuer other.pem -serial 0x1234 -url "$URL" -CAfile "$CA" 2>&1 || true)
expect_match "another CA's CertID -> unauthorized" "Responder Error: unauthorized" "$out"
ocsp_post() { curl -s -o "$1" -w '%{http_code} %header{cache-control}' -H 'Content-Type: application/ocsp-request' "${@:2}" "$URL"; }
res=$(ocsp_post bad.der --data-binary 'not DER at all')
expect_eq "garbage body -> HTTP 200, no-cache" "200 no-cache" "$res"
expect_match "garbage body -> malformedRequest" "malformedrequest \(1\)" "$(resp_text bad.der)"
head -c 100 nonce-req.der >truncated.der
ocsp_post trunc.der --data-binary @truncated.der >/dev/null
expect_match "truncated request -> malformedRequest" "malformedrequest" "$(resp_text trunc.der)"
res=$(curl -s -o badget.der -w '%{http_code}' "$URL/M@@@notbase64")
expect_match "GET undecodable -> malformedRequest" "malformedrequest" "$(resp_text badget.der)"
head -c 11000 /dev/urandom >big.bin
res=$(ocsp_post big.der --data-binary @big.bin)
expect_eq "11000-byte body -> HTTP 413, no-cache" "413 no-cache" "$res"
expect_match "metrics count malformed" "^[1-9]" "$(metric "$(ocsp_port)" 'certctl_ocsp_responses_total{outcome="malformed"}')"
expect_match "metrics count unauthorized" "^[1-9]" "$(metric "$(ocsp_port)" 'certctl_ocsp_responses_total{outcome="unauthorized"}')"
expect_match "metrics count revoked" "^[1-9]" "$(metric "$(ocsp_port)" 'certctl_ocsp_responses_total{outcome="revoked"}')"

if ! host_processes; then
    # scripts/compose test checks a revocation at every replica of its own tier instead of 5-6
    for name in "5. two more replicas on an empty responder table" "6. one revocation, every replica answers revoked" \
        "7. LISTEN cut (replica 3 of section 5)" "8. per-IP rate limit (a replica with its own limit)" \
        "8b. responder rotation (a replica with 1h certificates)" "9. runbook drills (the key file on the host)" \
        "10. Postgres unavailable (pg_ctl stop)"; do
        skip_section "$name" "starts certctl-ocsp from CERTCTL_BIN_DIR, reads its key directory or stops Postgres"
    done
    interop_done
    exit 0
fi

# ---------------------------------------------------------------------------
section "5. two more replicas started together on an empty responder table"
sql -c "DELETE FROM ocsp_responder_certs WHERE issuer_id = '$ISSUER'" >/dev/null
pick_ports P2 P3
start_replica r2 "$P2" CERTCTL_OCSP_REFRESH_MARGIN=20s   # refresh loop every 5 s
start_replica r3 "$P3"
wait_ready "$P2"; wait_ready "$P3"
new_cert m
# first requests at both replicas at once: each bootstraps its own key and certificate
queries=()
for i in 1 2 3; do
    query "http://127.0.0.1:$P2/.well-known/pki/ocsp/$ISSUER" m.pem -no_nonce -respout "m2-$i.der" >"m2-$i.txt" &
    queries+=($!)
    query "http://127.0.0.1:$P3/.well-known/pki/ocsp/$ISSUER" m.pem -nonce -respout "m3-$i.der" >"m3-$i.txt" &
    queries+=($!)
done
wait "${queries[@]}"
for i in 1 2 3; do
    expect_match "replica 2 answer $i verifies (signed by the key its certificate names)" "good" "$(cat "m2-$i.txt")"
    expect_match "replica 3 answer $i verifies" "Response verify OK" "$(cat "m3-$i.txt")"
done
expect_eq "each replica holds one responder row of its own" 2 \
    "$(sql -c "SELECT count(DISTINCT key_id) FROM ocsp_responder_certs WHERE issuer_id = '$ISSUER' AND key_path LIKE '$WORK/keys-%'")"
# (a no-nonce answer may be the other replica's: replicas serve one shared answer per serial;
# a nonce answer is always signed by the replica that sends it)
query "http://127.0.0.1:$P2/.well-known/pki/ocsp/$ISSUER" m.pem -nonce -respout m2-nonce.der >/dev/null
expect_match "replicas sign with different keys" "^different$" \
    "$([ "$(responder_id m3-1.der)" != "$(responder_id m2-nonce.der)" ] && echo different || echo same)"
expect_eq "replica 2 key file mode 0600" 600 "$(stat -c %a "$WORK/keys-r2/$ISSUER.key")"
expect_eq "key directory mode 0700" 700 "$(stat -c %a "$WORK/keys-r2")"

new_cert p
for i in $(seq 100); do
    [ "$(sql -c "SELECT count(*) FROM ocsp_response_cache WHERE serial_hex = '$SERIAL_p'")" = 2 ] && break
    sleep 0.2
done
expect_eq "refresh loop pre-signs SHA-1 and SHA-256 answers for a new certificate (nobody asked)" "good,good sha1,sha256" \
    "$(sql -c "SELECT string_agg(cert_status, ',' ORDER BY hash_algorithm) || ' ' || string_agg(hash_algorithm, ',' ORDER BY hash_algorithm)
               FROM ocsp_response_cache WHERE serial_hex = '$SERIAL_p'")"
expect_ocsp "the pre-signed answer is served" good "$URL" p.pem -no_nonce -sha256

# ---------------------------------------------------------------------------
section "6. one revocation, every replica answers revoked"
expect_ocsp "main replica: good (memory warm)" good "$URL" m.pem -no_nonce
expect_ocsp "replica 3: good (memory warm)" good "http://127.0.0.1:$P3/.well-known/pki/ocsp/$ISSUER" m.pem -no_nonce
revoke m superseded
start=$(date +%s%N)
for url in "$URL" "http://127.0.0.1:$P2/.well-known/pki/ocsp/$ISSUER" "http://127.0.0.1:$P3/.well-known/pki/ocsp/$ISSUER"; do
    out=$(query "$url" m.pem -no_nonce)
    [ "$(status_of "$out" m.pem)" = revoked ] || fail "revoked at $url right after the revocation" revoked "$out"
    expect_match "revoked at $url, reason superseded" "Reason: superseded" "$out"
done
echo "     (three replicas answered revoked within $(( ($(date +%s%N) - start) / 1000000 )) ms of the API call returning)"

# ---------------------------------------------------------------------------
section "7. LISTEN cut with pg_terminate_backend while a revocation happens"
new_cert l
R3="http://127.0.0.1:$P3/.well-known/pki/ocsp/$ISSUER"
expect_ocsp "replica 3: l good" good "$R3" l.pem -no_nonce
expect_ocsp "replica 3: l good again (from memory)" good "$R3" l.pem -no_nonce
resyncs=$(metric "$P3" certctl_ocsp_listen_resyncs_total)
# the listeners' backends: their last statement is LISTEN or the heartbeat's SELECT 1
sql -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database()
        AND pid <> pg_backend_pid() AND (query ILIKE 'LISTEN%' OR query = 'SELECT 1')" >/dev/null
revoke l cessationOfOperation
for i in $(seq 100); do
    [ "$(metric "$P3" certctl_ocsp_listen_resyncs_total)" -gt "$resyncs" ] && break
    sleep 0.05
done
expect_match "replica 3 re-established LISTEN" "^[1-9]" "$(( $(metric "$P3" certctl_ocsp_listen_resyncs_total) - resyncs ))"
sleep 1
expect_ocsp "replica 3: l revoked within a second of reconnecting" revoked "$R3" l.pem -no_nonce

new_cert n
expect_ocsp "replica 3: n good, twice (memory)" good "$R3" n.pem -no_nonce
expect_ocsp "replica 3: n good from memory" good "$R3" n.pem -no_nonce
# a revocation whose NOTIFY never comes (written without the admin API): the
# revocation-log poller evicts it within about a second
sql -c "INSERT INTO certificate_revocations (certificate_id, issuer_id, serial_hex, reason_code, revoked_at, revoked_by)
        SELECT id, issuer_id, serial_hex, 4, now(), 'interop-no-notify' FROM certificates WHERE id = '$ID_n';
        UPDATE certificates SET status = 'revoked' WHERE id = '$ID_n';" >/dev/null
sleep 1.5
expect_ocsp "replica 3: n revoked without a NOTIFY (revocation-log poll)" revoked "$R3" n.pem -no_nonce

# ---------------------------------------------------------------------------
section "8. per-IP rate limit and trusted proxies"
P4=$(free_port)
start_replica r4 "$P4" CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN=5 CERTCTL_OCSP_TRUSTED_PROXIES=127.0.0.1
wait_ready "$P4"
R4="http://127.0.0.1:$P4/.well-known/pki/ocsp/$ISSUER/$SERIAL_a"
codes=""
for i in 1 2 3 4 5; do codes+=$(curl -s -o /dev/null -w '%{http_code} ' -H 'X-Forwarded-For: 198.51.100.7' "$R4"); done
expect_eq "5 requests within the limit" "200 200 200 200 200 " "$codes"
h=$(headers "$R4" limited.der -H 'X-Forwarded-For: 198.51.100.7')
expect_match "6th -> Retry-After" "Retry-After: [0-9]+" "$h"
expect_match "6th -> tryLater" "trylater \(3\)" "$(resp_text limited.der)"
expect_match "another client behind the trusted proxy is not limited" "Cert Status: good" \
    "$(curl -s -H 'X-Forwarded-For: 198.51.100.8' "$R4" | openssl ocsp -respin /dev/stdin -resp_text -CAfile "$CA" 2>&1)"
expect_match "metrics count rate-limited" "^[1-9]" "$(metric "$P4" 'certctl_ocsp_responses_total{outcome="rate_limited"}')"

# ---------------------------------------------------------------------------
section "8b. responder rotation before expiry"
P5=$(free_port)
# 1h certificates replaced when less than 59m59s is left: due one second after issuance
start_replica r5 "$P5" CERTCTL_OCSP_RESPONDER_VALIDITY=1h CERTCTL_OCSP_RESPONDER_ROTATION_GRACE=59m59s
wait_ready "$P5"
R5="http://127.0.0.1:$P5/.well-known/pki/ocsp/$ISSUER"
expect_ocsp "replica 5: first answer" good "$R5" a.pem -respout rot1.der
key1=$(sha256sum <"$WORK/keys-r5/$ISSUER.key" | cut -c1-64)
sleep 2.2
expect_ocsp "replica 5: answer after the grace point" good "$R5" a.pem -respout rot2.der
expect_match "rotated: a new responder key signs" "^rotated$" \
    "$([ "$(responder_id rot1.der)" != "$(responder_id rot2.der)" ] && echo rotated || echo same)"
expect_match "rotated: the key file was replaced" "^replaced$" \
    "$([ "$(sha256sum <"$WORK/keys-r5/$ISSUER.key" | cut -c1-64)" != "$key1" ] && echo replaced || echo same)"
expect_eq "rotated: mode 0600" 600 "$(stat -c %a "$WORK/keys-r5/$ISSUER.key")"
expect_match "bootstraps counted" "^[2-9]" "$(metric "$P5" "certctl_ocsp_responder_bootstraps_total{issuer_id=\"$ISSUER\"}")"

# ---------------------------------------------------------------------------
section "9. runbook drills: responder row and key file, response cache"
sleep 1.1  # let the main replica's responder check expire
keyfile="$DATA/ocsp-responder-keys/$ISSUER.key"
key_before=$(sha256sum <"$keyfile" | cut -c1-64)
sql -c "DELETE FROM ocsp_responder_certs WHERE issuer_id = '$ISSUER';" >/dev/null
curl -sS "$URL/00" >/dev/null
expect_eq "row deleted -> next request re-bootstraps (main replica row back)" 1 \
    "$(sql -c "SELECT count(*) FROM ocsp_responder_certs WHERE issuer_id = '$ISSUER' AND key_path = '$keyfile'")"
expect_eq "the key file is kept" "$key_before" "$(sha256sum <"$keyfile" | cut -c1-64)"
sleep 1.1
sql -c "DELETE FROM ocsp_responder_certs WHERE issuer_id = '$ISSUER';" >/dev/null
rm -f "$keyfile"
expect_match "runbook request with key file and row gone" "Cert Status: unknown" \
    "$(curl -sS "$URL/00" | openssl ocsp -respin /dev/stdin -resp_text -CAfile "$CA" 2>&1)"
expect_eq "new key file, mode 0600" 600 "$(stat -c %a "$keyfile")"
expect_match "it is a new key" "^new$" "$([ "$(sha256sum <"$keyfile" | cut -c1-64)" != "$key_before" ] && echo new || echo same)"
expect_match "runbook query shows the row" "^$ISSUER\|CN=OCSP responder $ISSUER g1 " \
    "$(sql -c "SELECT issuer_id, cert_subject, not_before, not_after, created_at, key_path FROM ocsp_responder_certs WHERE issuer_id='$ISSUER' AND key_path = '$keyfile'")"
expect_ocsp "answers verify with the new responder" good "$URL" a.pem
sql -c "DELETE FROM ocsp_response_cache WHERE issuer_id = '$ISSUER' AND serial_hex = '$SERIAL_r';" >/dev/null
expect_match "after DELETE of the cached row: revoked" "Cert Status: revoked" \
    "$(curl -sS "$URL/$SERIAL_r" | openssl ocsp -respin /dev/stdin -resp_text -CAfile "$CA" 2>&1)"
sql -c "TRUNCATE ocsp_response_cache;" >/dev/null
expect_ocsp "after TRUNCATE: a good" good "$URL" a.pem -no_nonce -sha256
expect_ocsp "after TRUNCATE: r revoked" revoked "$URL" r.pem -no_nonce
expect_match "the cache rebuilds" "^[1-9]" "$(sql -c "SELECT count(*) FROM ocsp_response_cache")"

# ---------------------------------------------------------------------------
section "10. Postgres unavailable: cached answers until nextUpdate, misses tryLater, /readyz degraded"
new_cert d
new_cert e
expect_ocsp "d good (now in memory)" good "$URL" d.pem -no_nonce
( cd /; pg_stop "$DATA/pg" )
expect_ocsp "Postgres down: d still answered from memory" good "$URL" d.pem -no_nonce
expect_ocsp "Postgres down: e (never asked) -> tryLater" "error:trylater (3)" "$URL" e.pem -no_nonce
for i in $(seq 50); do
    curl -s "$OCSP/readyz" | grep -q '"status":"degraded"' && break
    sleep 0.2
done
expect_match "/readyz reports degraded, naming the database" '"status":"degraded".*database' "$(curl -s "$OCSP/readyz")"
expect_eq "/readyz stays 200 while degraded (the balancer keeps the replica)" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$OCSP/readyz")"
( cd /; pg_start "$DATA/pg" "$(cat "$DATA/pg/port")" >/dev/null )
for i in $(seq 100); do
    curl -s "$OCSP/readyz" | grep -q '"status":"ready"' && break
    sleep 0.2
done
expect_match "/readyz ready again" '"status":"ready"' "$(curl -s "$OCSP/readyz")"
expect_ocsp "recovered: e good" good "$URL" e.pem -no_nonce
# admin rechecks Postgres once a second and answers 503 until then: the next suites use it
for i in $(seq 50); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$CERTCTL_ADMIN_URL/readyz")" = 200 ] && break
    sleep 0.2
done
expect_eq "admin /readyz 200 again" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$CERTCTL_ADMIN_URL/readyz")"

interop_done
