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

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
require_env CERTCTL_OCSP_URL CERTCTL_CRL_URL
interop_start
OCSP=${CERTCTL_OCSP_URL%/}
CRL=${CERTCTL_CRL_URL%/}

# ---------------------------------------------------------------------------
# Certificate helpers (the shared ones are in lib/common.sh).

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

# ---------------------------------------------------------------------------
section "1. Issue from a P-256 CSR"
HOST="app-$RUN.example.com"
new_csr p256.csr "$P256" "$HOST" "DNS:$HOST,IP:10.1.2.3"
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
new_csr idem.csr "$P256" "idem-$RUN.example.com" "DNS:idem-$RUN.example.com"
issue_body idem.csr >idem-request.json
post_json /api/v1/certificates idem-request.json -H "Idempotency-Key: $IDEM_KEY"
expect_status 201
idem_id=$(jf .id)
post_json /api/v1/certificates idem-request.json -H "Idempotency-Key: $IDEM_KEY"
expect_status 200
expect_eq "replay returns the same certificate" "$idem_id" "$(jf .id)"
new_csr idem2.csr "$P256" "idem2-$RUN.example.com" "DNS:idem2-$RUN.example.com"
issue_body idem2.csr >idem2-request.json
rejects certificates "same key, other CSR" 409 idempotency_conflict "$CERTCTL_API_KEY" POST /api/v1/certificates \
    -H 'Content-Type: application/json' -H "Idempotency-Key: $IDEM_KEY" --data-binary @idem2-request.json

# ---------------------------------------------------------------------------
section "7. Bad input is refused and issues nothing"
# issue DESCRIPTION STATUS ERROR BODY-FILE (lib/common.sh): POST it as the admin key

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

new_csr email.csr "$P256" "mail-$RUN.example.com" "DNS:mail-$RUN.example.com,email:a@b.example"
issue_body email.csr >email.json
issue "email SAN" 400 san_not_allowed email.json

# a fresh, otherwise valid request for the remaining cases
new_csr ok.csr "$P256" "ok-$RUN.example.com" "DNS:ok-$RUN.example.com"
issue_body ok.csr >ok.json
issue_body ok.csr '{validity_days: 400}' >long.json
issue "validity_days 400" 400 validity_too_long long.json
issue_body ok.csr "{issuer_id: \"no-such-issuer-$RUN\"}" >noissuer.json
issue "unknown issuer_id" 404 issuer_not_found noissuer.json
issue_body ok.csr "{profile_id: \"no-such-profile-$RUN\"}" >noprofile.json
issue "unknown profile_id" 404 profile_not_found noprofile.json

rejects certificates "no Authorization" 401 unauthenticated "" POST /api/v1/certificates "${JSON[@]}" --data-binary @ok.json
rejects certificates "unknown key" 401 unauthenticated "cctl_$(openssl rand -hex 21)" POST /api/v1/certificates \
    "${JSON[@]}" --data-binary @ok.json

new_api_key AUDITOR_KEY "interop-auditor-$RUN" auditor
rejects certificates "auditor issues" 403 forbidden "$AUDITOR_KEY" POST /api/v1/certificates "${JSON[@]}" --data-binary @ok.json
request "$AUDITOR_KEY" GET /api/v1/certificates
LAST_REQUEST="$LAST_REQUEST (auditor)"
expect_status 200

{ printf '{"csr_pem":"'; head -c 70000 /dev/zero | tr '\0' A; printf '"}'; } >big.json
issue "70000-byte body" 413 body_too_large big.json
rejects certificates "Content-Type text/plain" 415 unsupported_media_type "$CERTCTL_API_KEY" POST /api/v1/certificates \
    -H 'Content-Type: text/plain' --data-binary @ok.json
printf '{"csr_pem": ' >truncated.json
issue "malformed JSON" 400 invalid_json truncated.json

echo '{"reason":"bogus"}' >bogus.json
rejects certificates "reason bogus" 400 invalid_reason "$CERTCTL_API_KEY" POST "/api/v1/certificates/$RSA_ID/revoke" \
    "${JSON[@]}" --data-binary @bogus.json
api GET "/api/v1/certificates/$RSA_ID"
expect_eq "refused revocation left the certificate issued" issued "$(jf .status)"
rejects certificates "unknown certificate" 404 certificate_not_found "$CERTCTL_API_KEY" POST "/api/v1/certificates/$(random_uuid)/revoke" \
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

interop_done
