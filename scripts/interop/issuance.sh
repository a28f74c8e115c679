#!/usr/bin/env bash
# Interop suite: issuance, inspection, lookup, revocation, idempotency and
# error handling of the admin REST API, checked with curl, openssl, jq and psql
# against a running stack (see docs/issuance.md).
#
# Reads only the environment that `./scripts/dev up` writes to dev.env:
#   set -a; source <data>/dev.env; set +a; bash scripts/interop/issuance.sh
# Stops at the first failed check (expected vs. got, plus the last response);
# ends with "N passed, 0 failed".
set -Eeuo pipefail

for var in DATABASE_URL CERTCTL_ADMIN_URL CERTCTL_OCSP_URL CERTCTL_CRL_URL \
           CERTCTL_API_KEY CERTCTL_CA_CERT_PATH CERTCTL_DEFAULT_ISSUER_ID; do
    [ -n "${!var:-}" ] || { echo "error: $var is not set (export the stack's dev.env first)" >&2; exit 1; }
done
for tool in curl openssl jq psql od; do
    command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is required" >&2; exit 1; }
done
[ -r "$CERTCTL_CA_CERT_PATH" ] || { echo "error: CERTCTL_CA_CERT_PATH=$CERTCTL_CA_CERT_PATH is not readable" >&2; exit 1; }

ADMIN=${CERTCTL_ADMIN_URL%/}
OCSP=${CERTCTL_OCSP_URL%/}
CRL=${CERTCTL_CRL_URL%/}
ISSUER=$CERTCTL_DEFAULT_ISSUER_ID
CA=$CERTCTL_CA_CERT_PATH
RUN=$(openssl rand -hex 5)            # makes host names and keys unique per run
AUDITOR_KEY=
PASSED=0 STATUS= BODY= LAST_REQUEST=

WORK=$(mktemp -d /tmp/certctl-interop.XXXXXX)
cleanup() {
    local status=$?
    if [ -n "$AUDITOR_KEY" ]; then
        psql "$DATABASE_URL" -XAtq -c "DELETE FROM api_keys WHERE actor = 'interop-auditor' AND key_prefix = '${AUDITOR_KEY:0:10}'" \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit $status
}
trap cleanup EXIT INT TERM
trap 'echo "error: line $LINENO: \`$BASH_COMMAND\` failed unexpectedly (after $PASSED passed checks)" >&2' ERR
cd "$WORK"

# ---------------------------------------------------------------------------
# Check helpers. Every check counts once; the first failure exits 1.


section() { printf '\n== %s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); printf '  ok  %s\n' "$1"; }

fail() { # NAME EXPECTED GOT
    {
        printf 'FAIL: %s\n  expected: %s\n  got:      %s\n' "$1" "$2" "$3"
        if [ -n "$LAST_REQUEST" ]; then
            printf '  last request: %s -> HTTP %s\n  response body:\n' "$LAST_REQUEST" "$STATUS"
            printf '%s\n' "$BODY" | head -c 4000 | sed 's/^/    /'
        fi
    } >&2
    printf '%d passed, 1 failed\n' "$PASSED"
    exit 1
}

# check NAME COMMAND...: passes if COMMAND succeeds.
check() {
    local name=$1 out; shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "\`$*\` succeeds" "it failed: ${out:-no output}"; fi
}
# expect_eq NAME EXPECTED ACTUAL
expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "$2" "$3"; fi; }
# expect_match NAME EXTENDED-REGEX ACTUAL
expect_match() { if [[ $3 =~ $2 ]]; then pass "$1"; else fail "$1" "a match for /$2/" "$3"; fi; }
# expect_status CODE [ERROR]: status (and JSON `error`) of the last response.
expect_status() {
    local want="HTTP $1${2:+ $2}" got="HTTP $STATUS"
    [ -z "${2:-}" ] || got="$got $(jq -r '.error // "<no error field>"' <<<"$BODY" 2>/dev/null || echo '<not JSON>')"
    expect_eq "$LAST_REQUEST -> $want" "$want" "$got"
}

# ---------------------------------------------------------------------------
# HTTP and SQL helpers.

# request KEY METHOD PATH [CURL-ARGS...]: sets STATUS and BODY. An empty KEY
# sends no Authorization header. Waits for the stack if it is restarting.
request() {
    local key=$1 method=$2 path=$3 tries=0 rc; shift 3
    local auth=()
    [ -z "$key" ] || auth=(-H "Authorization: Bearer $key")
    LAST_REQUEST="$method ${path%%\?*}"
    while :; do
        rc=0
        STATUS=$(curl -sS -o "$WORK/body" -w '%{http_code}' -X "$method" "${auth[@]}" "$@" "$ADMIN$path" \
            2>"$WORK/curl.err") || rc=$?
        # 7 = could not connect: the stack is being restarted, wait for it.
        if [ "$rc" = 7 ] && [ $tries -lt 30 ]; then tries=$((tries + 1)); sleep 1; continue; fi
        break
    done
    BODY=$(cat "$WORK/body" 2>/dev/null || true)
    [ "$rc" = 0 ] || BODY="(curl exit $rc: $(cat "$WORK/curl.err")) $BODY"
}
api() { request "$CERTCTL_API_KEY" "$@"; }
# post_json PATH FILE [CURL-ARGS...] as the admin key.
post_json() { local path=$1 file=$2; shift 2; api POST "$path" -H 'Content-Type: application/json' --data-binary "@$file" "$@"; }
jf() { jq -r "$1" <<<"$BODY"; }

sql() { # SQL on stdin or as -c; retried while Postgres is restarting
    local tries=0 out
    until out=$(psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "$@" 2>&1); do
        tries=$((tries + 1)); [ $tries -lt 10 ] || { echo "error: psql failed: $out" >&2; return 1; }
        sleep 1
    done
    printf '%s\n' "$out"
}
cert_count() { sql -c 'SELECT count(*) FROM certificates'; }

# ---------------------------------------------------------------------------
# Certificate helpers.

# new_csr FILE OPENSSL-NEWKEY-ARGS SUBJECT-CN SAN
new_csr() {
    local out=$1 cn=$3 san=$4; local -a newkey
    read -r -a newkey <<<"$2"
    openssl req -new "${newkey[@]}" -nodes -keyout "$out.key" -out "$out" \
        -subj "/CN=$cn" -addext "subjectAltName=$san" 2>/dev/null
}
# issue_body CSR-FILE [EXTRA-JQ-OBJECT]: the request body as JSON.
issue_body() { local extra=${2:-}; jq -Rs "{csr_pem: .} + ${extra:-null}" "$1"; }
der_sha() { openssl x509 -in "$1" -outform DER | openssl sha256 -r | cut -d' ' -f1; }
epoch() { date -u -d "$1" +%s; }
# ext CERT NAME: one extension as "line|line" with indentation trimmed.
ext() { openssl x509 -in "$1" -noout -ext "$2" | sed 's/^ *//; s/ *$//' | paste -sd'|' -; }
# split_pem FILE PREFIX: PREFIX-1.pem, PREFIX-2.pem, ...; prints the count.
split_pem() {
    awk -v p="$2" '/-----BEGIN CERTIFICATE-----/ { n++ } n { print > (p "-" n ".pem") } END { print n + 0 }' "$1"
}
random_uuid() { local h; h=$(openssl rand -hex 16); echo "${h:0:8}-${h:8:4}-4${h:13:3}-a${h:17:3}-${h:20:12}"; }

TS_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})'
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
# 20 octets, first 0x01-0x7f, lowercase, no leading zeros: 40 digits, or 39 when the first octet is < 0x10.
SERIAL_RE='^([1-7][0-9a-f]{39}|[1-9a-f][0-9a-f]{38})$'

# issue_and_verify CSR-FILE OUT-PREFIX: POST the CSR, check the answer and the
# chain; leaves OUT-PREFIX.json, OUT-PREFIX.pem and sets ID and SERIAL.
issue_and_verify() {
    local csr=$1 out=$2 n
    issue_body "$csr" >"$out-request.json"
    post_json /api/v1/certificates "$out-request.json"
    expect_status 201
    printf '%s' "$BODY" >"$out.json"
    ID=$(jf .id); SERIAL=$(jf .serial_hex)
    expect_match "id is a UUID" "$UUID_RE" "$ID"
    expect_match "serial_hex is lowercase hex, 20 octets, no leading zero" "$SERIAL_RE" "$SERIAL"
    expect_eq "issuer_id" "$ISSUER" "$(jf .issuer_id)"
    expect_eq "status" "issued" "$(jf .status)"
    expect_match "not_before is RFC 3339" "^$TS_RE\$" "$(jf .not_before)"
    expect_match "not_after is RFC 3339" "^$TS_RE\$" "$(jf .not_after)"
    jf .certificate_pem >"$out.pem"
    jf .chain_pem >"$out-chain.pem"
    check "certificate_pem is a certificate" openssl x509 -in "$out.pem" -noout
    expect_eq "openssl verify -CAfile \$CERTCTL_CA_CERT_PATH" "$out.pem: OK" \
        "$(openssl verify -CAfile "$CA" "$out.pem" 2>&1)"
    n=$(split_pem "$out-chain.pem" "$out-chain")
    expect_eq "chain_pem holds two certificates" 2 "$n"
    expect_eq "chain_pem[0] is the certificate" "$(der_sha "$out.pem")" "$(der_sha "$out-chain-1.pem")"
    expect_eq "chain_pem[1] is the CA certificate" "$(der_sha "$CA")" "$(der_sha "$out-chain-2.pem")"
}

# rejects DESCRIPTION STATUS ERROR KEY METHOD PATH [CURL-ARGS...]: the request
# fails with STATUS/ERROR and no certificate row appears.
rejects() {
    local desc=$1 status=$2 error=$3 before after; shift 3
    before=$(cert_count)
    request "$@"
    LAST_REQUEST="$LAST_REQUEST ($desc)"
    expect_status "$status" "$error"
    after=$(cert_count)
    expect_eq "certificates count unchanged ($desc)" "$before" "$after"
}

# ---------------------------------------------------------------------------
section "1. Issue from a P-256 CSR"
HOST="app-$RUN.example.com"
new_csr p256.csr "-newkey ec -pkeyopt ec_paramgen_curve:P-256" "$HOST" "DNS:$HOST,IP:10.1.2.3"
issue_and_verify p256.csr p256
P256_ID=$ID P256_SERIAL=$SERIAL

# ---------------------------------------------------------------------------
section "2. Extensions, validity and serial of the P-256 certificate"
expect_eq "basicConstraints" "X509v3 Basic Constraints: critical|CA:FALSE" "$(ext p256.pem basicConstraints)"
expect_eq "keyUsage (ECDSA: no keyEncipherment)" "X509v3 Key Usage: critical|Digital Signature" "$(ext p256.pem keyUsage)"
expect_eq "extendedKeyUsage" "X509v3 Extended Key Usage:|TLS Web Server Authentication, TLS Web Client Authentication" \
    "$(ext p256.pem extendedKeyUsage)"
expect_match "subjectKeyIdentifier present" '^X509v3 Subject Key Identifier:\|([0-9A-F]{2}:)+[0-9A-F]{2}$' \
    "$(ext p256.pem subjectKeyIdentifier)"
ca_ski=$(ext "$CA" subjectKeyIdentifier | cut -d'|' -f2)
leaf_aki=$(ext p256.pem authorityKeyIdentifier | cut -d'|' -f2 | sed 's/^keyid://')
expect_match "CA has a subjectKeyIdentifier" '^([0-9A-F]{2}:)+[0-9A-F]{2}$' "$ca_ski"
expect_eq "authorityKeyIdentifier = CA subjectKeyIdentifier" "$ca_ski" "$leaf_aki"
expect_eq "subjectAltName" "X509v3 Subject Alternative Name:|DNS:$HOST, IP Address:10.1.2.3" \
    "$(ext p256.pem subjectAltName)"
expect_eq "authorityInfoAccess" \
    "Authority Information Access:|OCSP - URI:$OCSP/.well-known/pki/ocsp/$ISSUER|CA Issuers - URI:$CRL/.well-known/pki/ca/$ISSUER.crt" \
    "$(ext p256.pem authorityInfoAccess)"
expect_eq "crlDistributionPoints" "X509v3 CRL Distribution Points:|Full Name:|URI:$CRL/.well-known/pki/crl/$ISSUER" \
    "$(ext p256.pem crlDistributionPoints)"

now=$(date -u +%s)
not_before=$(epoch "$(openssl x509 -in p256.pem -noout -startdate | cut -d= -f2)")
not_after=$(epoch "$(openssl x509 -in p256.pem -noout -enddate | cut -d= -f2)")
check "notBefore earlier than now" [ "$not_before" -lt "$now" ]
# docs: notBefore is 5 minutes before issuance
check "notBefore backdated about 5 minutes (now - notBefore = $((now - not_before))s)" \
    [ $((now - not_before)) -ge 240 -a $((now - not_before)) -le 420 ]
# no validity_days sent: the default profile's 397 days
check "notAfter within 397 days + 1 day (now + $(((not_after - now) / 86400))d)" \
    [ "$not_after" -le $((now + 398 * 86400)) -a "$not_after" -ge $((now + 396 * 86400)) ]
cert_serial=$(openssl x509 -in p256.pem -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
expect_eq "certificate serial = serial_hex" "$P256_SERIAL" "$cert_serial"

# ---------------------------------------------------------------------------
section "3. Issue from an RSA-2048 CSR"
RSA_HOST="rsa-$RUN.example.com"
new_csr rsa.csr "-newkey rsa:2048" "$RSA_HOST" "DNS:$RSA_HOST,IP:10.1.2.4"
issue_and_verify rsa.csr rsa
RSA_ID=$ID
expect_eq "keyUsage (RSA: plus keyEncipherment)" "X509v3 Key Usage: critical|Digital Signature, Key Encipherment" \
    "$(ext rsa.pem keyUsage)"

# ---------------------------------------------------------------------------
section "4. Look the certificate up"
api GET "/api/v1/certificates/$P256_ID"
expect_status 200
expect_eq "GET by id: serial_hex" "$P256_SERIAL" "$(jf .serial_hex)"
# openssl -text style, upper case, one extra 00 octet in front
padded=$P256_SERIAL; [ $((${#padded} % 2)) = 0 ] || padded="0$padded"
openssl_style=$(echo "00$padded" | tr 'a-f' 'A-F' | sed 's/../&:/g; s/:$//')
api GET /api/v1/certificates -G --data-urlencode "serial=$openssl_style"
expect_status 200
expect_eq "?serial=$openssl_style finds exactly that certificate" "$P256_ID" "$(jf '[.items[].id] | join(",")')"
api GET /api/v1/certificates -G --data-urlencode "q=$HOST"
expect_status 200
expect_eq "?q=$HOST finds it" "true" "$(jq -r --arg id "$P256_ID" '[.items[].id] | index($id) != null' <<<"$BODY")"

# ---------------------------------------------------------------------------
section "5. Revoke"
invalidity=$(date -u -d '1 hour ago' +%Y-%m-%dT%H:%M:%SZ)
printf '{"reason":"keyCompromise","invalidity_date":"%s"}' "$invalidity" >revoke.json
post_json "/api/v1/certificates/$P256_ID/revoke" revoke.json
expect_status 200
expect_eq "status after revoke" revoked "$(jf .status)"
expect_eq "revocation.reason" keyCompromise "$(jf .revocation.reason)"
expect_eq "revocation.reason_code" 1 "$(jf .revocation.reason_code)"
expect_eq "revocation.invalidity_date" "$(epoch "$invalidity")" "$(epoch "$(jf .revocation.invalidity_date)")"
expect_eq "revocation.revoked_by" bootstrap "$(jf .revocation.revoked_by)"
revoked_at=$(jf .revocation.revoked_at)
expect_match "revocation.revoked_at is RFC 3339" "^$TS_RE\$" "$revoked_at"

post_json "/api/v1/certificates/$P256_ID/revoke" revoke.json
expect_status 200
expect_eq "revoking again keeps revoked_at" "$revoked_at" "$(jf .revocation.revoked_at)"
expect_eq "exactly one certificate.revoke audit row" 1 \
    "$(sql -c "SELECT count(*) FROM audit_events WHERE action = 'certificate.revoke' AND target_id = '$P256_ID'")"

api GET "/api/v1/certificates/$P256_ID"
expect_status 200
expect_eq "GET after revoke: status revoked, certificate_pem kept" "revoked true" \
    "$(jf '.status + " " + (.certificate_pem != null | tostring)')"

api GET /api/v1/audit -G --data-urlencode "target_id=$P256_ID"
expect_status 200
expect_eq "audit lists certificate.revoke by bootstrap" 1 \
    "$(jf '[.items[] | select(.action == "certificate.revoke" and .actor == "bootstrap" and .outcome == "success")] | length')"
# docs/issuance.md (8. Read the audit trail): at least a certificate.issue event
expect_eq "audit lists certificate.issue by bootstrap" true \
    "$(jf '[.items[] | select(.action == "certificate.issue" and .actor == "bootstrap" and .outcome == "success")] | length >= 1')"

# certificateHold, then lift it
echo '{"reason":"certificateHold"}' >hold.json
echo '{"reason":"removeFromCRL"}' >release.json
post_json "/api/v1/certificates/$RSA_ID/revoke" hold.json
expect_status 200
expect_eq "hold: status and reason" "revoked certificateHold 6" \
    "$(jf '"\(.status) \(.revocation.reason) \(.revocation.reason_code)"')"
post_json "/api/v1/certificates/$RSA_ID/revoke" release.json
expect_status 200
expect_eq "removeFromCRL: status issued, revocation null" "issued null" "$(jf '"\(.status) \(.revocation)"')"
post_json "/api/v1/certificates/$RSA_ID/revoke" release.json
expect_status 409 not_revocable

# ---------------------------------------------------------------------------
section "6. Idempotency"
IDEM_KEY="interop-$(openssl rand -hex 12)"
new_csr idem.csr "-newkey ec -pkeyopt ec_paramgen_curve:P-256" "idem-$RUN.example.com" "DNS:idem-$RUN.example.com"
issue_body idem.csr >idem-request.json
post_json /api/v1/certificates idem-request.json -H "Idempotency-Key: $IDEM_KEY"
expect_status 201
idem_id=$(jf .id)
post_json /api/v1/certificates idem-request.json -H "Idempotency-Key: $IDEM_KEY"
expect_status 200
expect_eq "replay returns the same certificate" "$idem_id" "$(jf .id)"
new_csr idem2.csr "-newkey ec -pkeyopt ec_paramgen_curve:P-256" "idem2-$RUN.example.com" "DNS:idem2-$RUN.example.com"
issue_body idem2.csr >idem2-request.json
rejects "same key, other CSR" 409 idempotency_conflict "$CERTCTL_API_KEY" POST /api/v1/certificates \
    -H 'Content-Type: application/json' -H "Idempotency-Key: $IDEM_KEY" --data-binary @idem2-request.json

# ---------------------------------------------------------------------------
section "7. Bad input is refused and issues nothing"
JSON=(-H 'Content-Type: application/json')
issue() { # DESCRIPTION STATUS ERROR BODY-FILE: POST it as the admin key
    rejects "$1" "$2" "$3" "$CERTCTL_API_KEY" POST /api/v1/certificates "${JSON[@]}" --data-binary "@$4"
}

echo '{"csr_pem":"hello"}' >garbage.json
issue "garbage csr_pem" 400 invalid_csr garbage.json

openssl req -in p256.csr -outform DER -out p256.der
jq -n --arg b64 "$(openssl base64 -A -in p256.der)" '{csr_pem: $b64}' >bare.json
issue "base64 DER without PEM armour" 400 invalid_csr bare.json

# flip one bit 5 bytes from the end: inside the ECDSA signature's s, so the DER stays valid
hex=$(od -An -v -tx1 p256.der | tr -d ' \n')
i=$((${#hex} - 10))
hex="${hex:0:i}$(printf '%02x' $((16#${hex:i:2} ^ 1)))${hex:i+2}"
printf '%b' "$(sed 's/../\\x&/g' <<<"$hex")" >badsig.der
{ echo '-----BEGIN CERTIFICATE REQUEST-----'; openssl base64 -in badsig.der; echo '-----END CERTIFICATE REQUEST-----'; } >badsig.csr
check "corrupted CSR still parses" openssl req -in badsig.csr -noout
# (openssl 3.0 exits 0 here, so match its message)
expect_match "corrupted CSR fails openssl's signature check" 'verify failure' \
    "$(openssl req -in badsig.csr -noout -verify 2>&1 || true)"
issue_body badsig.csr >badsig.json
issue "broken CSR signature" 400 csr_signature_invalid badsig.json

new_csr rsa1024.csr "-newkey rsa:1024" "small-$RUN.example.com" "DNS:small-$RUN.example.com"
issue_body rsa1024.csr >rsa1024.json
issue "RSA-1024" 400 key_not_allowed rsa1024.json

new_csr p521.csr "-newkey ec -pkeyopt ec_paramgen_curve:P-521" "p521-$RUN.example.com" "DNS:p521-$RUN.example.com"
issue_body p521.csr >p521.json
issue "P-521" 400 key_not_allowed p521.json

new_csr email.csr "-newkey ec -pkeyopt ec_paramgen_curve:P-256" "mail-$RUN.example.com" "DNS:mail-$RUN.example.com,email:a@b.example"
issue_body email.csr >email.json
issue "email SAN" 400 san_not_allowed email.json

# a fresh, otherwise valid request for the remaining cases
new_csr ok.csr "-newkey ec -pkeyopt ec_paramgen_curve:P-256" "ok-$RUN.example.com" "DNS:ok-$RUN.example.com"
issue_body ok.csr >ok.json
issue_body ok.csr '{validity_days: 400}' >long.json
issue "validity_days 400" 400 validity_too_long long.json
issue_body ok.csr "{issuer_id: \"no-such-issuer-$RUN\"}" >noissuer.json
issue "unknown issuer_id" 404 issuer_not_found noissuer.json
issue_body ok.csr "{profile_id: \"no-such-profile-$RUN\"}" >noprofile.json
issue "unknown profile_id" 404 profile_not_found noprofile.json

rejects "no Authorization" 401 unauthenticated "" POST /api/v1/certificates "${JSON[@]}" --data-binary @ok.json
rejects "unknown key" 401 unauthenticated "cctl_$(openssl rand -hex 21)" POST /api/v1/certificates \
    "${JSON[@]}" --data-binary @ok.json

AUDITOR_KEY="cctl_$(openssl rand -hex 24)"
sql -v key="$AUDITOR_KEY" >/dev/null <<'SQL'
INSERT INTO api_keys (actor, role, key_hash, key_prefix)
VALUES ('interop-auditor', 'auditor', sha256(convert_to(:'key', 'UTF8')), left(:'key', 10));
SQL
rejects "auditor issues" 403 forbidden "$AUDITOR_KEY" POST /api/v1/certificates "${JSON[@]}" --data-binary @ok.json
request "$AUDITOR_KEY" GET /api/v1/certificates
LAST_REQUEST="$LAST_REQUEST (auditor)"
expect_status 200

{ printf '{"csr_pem":"'; head -c 70000 /dev/zero | tr '\0' A; printf '"}'; } >big.json
issue "70000-byte body" 413 body_too_large big.json
rejects "Content-Type text/plain" 415 unsupported_media_type "$CERTCTL_API_KEY" POST /api/v1/certificates \
    -H 'Content-Type: text/plain' --data-binary @ok.json
printf '{"csr_pem": ' >truncated.json
issue "malformed JSON" 400 invalid_json truncated.json

echo '{"reason":"bogus"}' >bogus.json
rejects "reason bogus" 400 invalid_reason "$CERTCTL_API_KEY" POST "/api/v1/certificates/$RSA_ID/revoke" \
    "${JSON[@]}" --data-binary @bogus.json
api GET "/api/v1/certificates/$RSA_ID"
expect_eq "refused revocation left the certificate issued" issued "$(jf .status)"
rejects "unknown certificate" 404 certificate_not_found "$CERTCTL_API_KEY" POST "/api/v1/certificates/$(random_uuid)/revoke" \
    "${JSON[@]}" --data-binary @revoke.json

# ---------------------------------------------------------------------------
section "8. Issuers, profiles, OpenAPI document"
api GET /api/v1/issuers
expect_status 200
jq -r --arg id "$ISSUER" '.items[] | select(.id == $id) | .certificate_pem' <<<"$BODY" >issuer.pem
check "issuers lists $ISSUER with a certificate" openssl x509 -in issuer.pem -noout
expect_eq "$ISSUER certificate_pem = \$CERTCTL_CA_CERT_PATH" "$(der_sha "$CA")" "$(der_sha issuer.pem)"
api GET /api/v1/profiles
expect_status 200
expect_eq "profiles lists default" 1 "$(jf '[.items[] | select(.id == "default")] | length')"
request "" GET /api/v1/openapi.yaml
expect_status 200
expect_match "openapi.yaml starts with 'openapi: 3.1'" '^openapi: 3\.1' "$BODY"

echo
printf '%d passed, 0 failed\n' "$PASSED"
