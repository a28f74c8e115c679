#!/usr/bin/env bash
# The web console (docs/console.md) in a real headless Chromium driven by
# selenium: sign-in, finding a certificate issued through the API, revoking it
# in the console (then `openssl ocsp` says revoked), a trust-anchor reload
# of the EST client bundle refused for a broken file (the dialog shows the
# typed error) after which mTLS enrollment with the old anchors still works,
# minting an SCEP one-time challenge (the secret shown once), creating and
# editing a profile (a refused value shown at its field), a form without its
# CSRF token (403), and an auditor who sees no action buttons and whose forged
# POSTs are refused. Screenshots of each page are kept in
# $CERTCTL_DEV_DATA/artifacts/console (or .data/artifacts/console).
#   set -a; source .data/dev.env; set +a; scripts/interop/console.sh
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
require_env CERTCTL_OCSP_URL CERTCTL_EST_URL CERTCTL_EST_USER CERTCTL_EST_PASSWORD CERTCTL_EST_TLS_CA_PATH CERTCTL_EST_CLIENT_BUNDLE
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
interop_start
ensure_packages chromium:chromium chromium-driver:chromedriver python3:python3
# python3-venv has no command of its own to probe: ask for ensurepip instead
python3 -c 'import ensurepip' 2>/dev/null || ensure_packages python3-venv:python3-venv-absent
OCSP=${CERTCTL_OCSP_URL%/}
DATA=${CERTCTL_DEV_DATA:-$REPO/.data}

section "Browser tooling"
# selenium from PyPI in a virtualenv kept under .data/cache (made once)
VENV=$REPO/.data/cache/console-venv
if ! "$VENV/bin/python" -c 'import selenium' 2>/dev/null; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check selenium
fi
check "selenium importable" "$VENV/bin/python" -c 'import selenium'
check "chromium and chromedriver present" command -v chromium chromedriver

section "Fixtures through the API"
new_csr app.csr "$P256" "console-$RUN.example.com" "DNS:console-$RUN.example.com"
api POST /api/v1/certificates "${JSON[@]}" --data-binary "$(issue_body app.csr)"
expect_status 201
CERT_ID=$(jf .id); SERIAL=$(jf .serial_hex); jf .certificate_pem > app.pem
# an auditor key made through the lifecycle API (revoked again on exit)
api POST /api/v1/api-keys "${JSON[@]}" --data-binary "{\"actor\":\"console-auditor-$RUN\",\"role\":\"auditor\"}"
expect_status 201
AUDITOR_KEY=$(jf .key); AUDITOR_ID=$(jf .id)
# an EST client certificate (simpleenroll with HTTP Basic), trusted by the est-clients bundle for mTLS
EST=$CERTCTL_EST_URL
TLS=(--cacert "$CERTCTL_EST_TLS_CA_PATH")
# est OPERATION CN CURL-ARGS...: a P-256 CSR for CN posted to $EST/OPERATION (as scripts/interop/est.sh); sets STATUS.
est() {
    local operation=$1 cn=$2 rc=0; shift 2
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$cn.key" -subj "/CN=$cn" \
        -addext "subjectAltName=DNS:$cn.example.com" -outform DER 2>/dev/null | openssl base64 >"$cn.b64"
    LAST_REQUEST="POST /.well-known/est/$operation"
    STATUS=$(curl -sS "${TLS[@]}" -o "$WORK/est.out" -w '%{http_code}' -H 'Content-Type: application/pkcs10' \
        --data-binary "@$cn.b64" "$@" "$EST/$operation" 2>"$WORK/curl.err") || rc=$?
    [ "$rc" = 0 ] || STATUS="curl-exit-$rc"
}
est simpleenroll "console-est-$RUN" -u "$CERTCTL_EST_USER:$CERTCTL_EST_PASSWORD"
LAST_REQUEST="EST client certificate with HTTP Basic: $LAST_REQUEST"
expect_status 200
openssl base64 -d -in "$WORK/est.out" | openssl pkcs7 -inform DER -print_certs -out client.crt
cp "console-est-$RUN.key" client.key
est simpleenroll "console-mtls-before-$RUN" --cert client.crt --key client.key
LAST_REQUEST="mTLS simpleenroll with that certificate before the reload: $LAST_REQUEST"
expect_status 200
# then the bundle file is broken: every replica refuses to reload it (restored, and reloaded, on exit)
ANCHOR=est-clients
BUNDLE=$CERTCTL_EST_CLIENT_BUNDLE
cp "$BUNDLE" "$WORK/bundle.orig"
restore_bundle() {
    cp "$WORK/bundle.orig" "$BUNDLE" 2>/dev/null || return 0
    api POST "/api/v1/admin/trust-anchors/$ANCHOR/reload" >/dev/null 2>&1 || true
}
echo "this is not PEM" > "$BUNDLE"
trap 'rc=$?; restore_bundle; api POST "/api/v1/api-keys/$AUDITOR_ID/revoke" >/dev/null 2>&1 || true; (exit $rc); interop_cleanup' EXIT
api GET "/api/v1/certificates/$CERT_ID"
expect_eq "status before the console" issued "$(jf .status)"

section "Console in headless Chromium"
SHOTS=$DATA/artifacts/console
mkdir -p "$SHOTS"
out=$(ADMIN="$ADMIN" ADMIN_KEY="$CERTCTL_API_KEY" AUDITOR_KEY="$AUDITOR_KEY" CERT_ID="$CERT_ID" SERIAL="$SERIAL" \
      ANCHOR="$ANCHOR" RUN="$RUN" SHOTS="$SHOTS" timeout 180 "$VENV/bin/python" "$REPO/scripts/interop/console_test.py" 2>&1) || {
    printf '%s\n' "$out" >&2; fail "console_test.py" "every browser check passes" "see above"; }
printf '%s\n' "$out" | grep '^  ok  ' || true
PASSED=$((PASSED + $(grep -c '^  ok  ' <<<"$out")))

section "After the console"
# the reload of the broken bundle was refused in the browser: the old pool keeps serving
est simpleenroll "console-mtls-after-$RUN" --cert client.crt --key client.key
LAST_REQUEST="mTLS simpleenroll with the old anchors after the refused reload: $LAST_REQUEST"
expect_status 200
api GET "/api/v1/profiles/console-$RUN"
expect_eq "the profile edited in the console kept the corrected value" 90 "$(jf .max_validity_days)"
expect_eq "one-time challenge minted in the console, stored as a hash" 1 \
    "$(sql -c "SELECT count(*) FROM scep_challenges WHERE profile_name = 'default' AND created_by = 'bootstrap' AND expected_subject = 'CN=console-$RUN'")"
api GET "/api/v1/certificates/$CERT_ID"
expect_eq "revoked through the console" revoked "$(jf .status)"
expect_eq "revoked with the reason picked" keyCompromise "$(jf .revocation.reason)"
expect_eq "revoked by the signed-in key's actor" bootstrap "$(jf .revocation.revoked_by)"
ocsp=$(openssl ocsp -issuer "$CA" -cert app.pem -url "$OCSP/.well-known/pki/ocsp/$ISSUER" -CAfile "$CA" -no_nonce 2>&1 || true)
expect_match "openssl ocsp says revoked" "app.pem: revoked" "$ocsp"
expect_match "openssl ocsp verifies the response" "Response verify OK" "$ocsp"
api GET /api/v1/api-keys
expect_eq "the auditor's forged key creation made no key" 0 "$(jq '[.items[] | select(.actor == "mallory-'"$RUN"'")] | length' <<<"$BODY")"
api GET "/api/v1/audit?action=console.sign_in&limit=50"
expect_match "sign-ins are audited" "console-auditor-$RUN" "$BODY"
check "screenshots saved" test "$(ls "$SHOTS"/*.png | wc -l)" -ge 6

interop_done
