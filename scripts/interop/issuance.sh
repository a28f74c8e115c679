#!/usr/bin/env bash
# Interop suite: certificates issued through the admin REST API of a running
# stack and checked with openssl (chain, extensions, validity, serial), looked
# up by the serial as openssl prints it, and a body over the size limit sent by
# curl to the real server (see docs/issuance.md). Revocation, idempotency,
# refused requests, roles and listing are covered in-process by
# Tests/Integration/AdminAPI*Tests.swift.
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
    "Authority Information Access:|OCSP - URI:$OCSP/.well-known/pki/ocsp/$ISSUER|CA Issuers - URI:$CRL/.well-known/pki/ca/$ISSUER/1.crt" \
    "$(ext p256.pem authorityInfoAccess)"
expect_eq "crlDistributionPoints" "X509v3 CRL Distribution Points:|Full Name:|URI:$CRL/.well-known/pki/crl/$ISSUER/1" \
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
api GET /api/v1/audit -G --data-urlencode "target_id=$P256_ID"
expect_status 200
# docs/issuance.md (8. Read the audit trail): a certificate.issue event
expect_eq "audit lists certificate.issue by the signer for certctl-admin, requested by bootstrap" true \
    "$(jf '[.items[] | select(.action == "certificate.issue" and .actor == "certctl-admin" and .details.requested_by == "bootstrap" and .outcome == "success")] | length >= 1')"

# ---------------------------------------------------------------------------
section "5. A body over the 64 KiB limit, sent by curl to the real server"
{ printf '{"csr_pem":"'; head -c 70000 /dev/zero | tr '\0' A; printf '"}'; } >big.json
issue "70000-byte body" 413 body_too_large big.json

# ---------------------------------------------------------------------------
section "6. The issuer is the configured CA"
api GET /api/v1/issuers
expect_status 200
jq -r --arg id "$ISSUER" '.items[] | select(.id == $id) | .certificate_pem' <<<"$BODY" >issuer.pem
check "issuers lists $ISSUER with a certificate" openssl x509 -in issuer.pem -noout
expect_eq "$ISSUER certificate_pem = \$CERTCTL_CA_CERT_PATH" "$(der_sha "$CA")" "$(der_sha issuer.pem)"

interop_done
