#!/usr/bin/env bash
# Interop suite: the operator CLI `certctl` (docs/cli.md) driven as an operator
# would, against the running stack: login and profiles, every subcommand's
# happy path and its main refusals with their exit statuses, its output
# checked with openssl (verify, crl, pkcs7, pkcs12) and jq.
#
# Reads the environment that `./scripts/dev up` writes to dev.env:
#   set -a; source <data>/dev.env; set +a; bash scripts/interop/cli.sh
# The binary is $CERTCTL_BIN_DIR/certctl (dev.env sets CERTCTL_BIN_DIR; scripts/test
# sets CERTCTL_TEST_BIN_DIR). Stops at the first failed check; ends with
# "N passed, 0 failed".
#
# Sections that need admin routes still being built (API keys, export, audit
# chain, bulk revocation) check that the route exists first and print a
# `skip` line when it does not.
set -Eeuo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
interop_start

BIN=${CERTCTL_BIN_DIR:-${CERTCTL_TEST_BIN_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && swift build --show-bin-path)}}
CERTCTL="$BIN/certctl"
[ -x "$CERTCTL" ] || { echo "error: $CERTCTL is not built (swift build --product certctl)" >&2; exit 1; }
CFG="$WORK/home/certctl/config.json"
OCSP_WAIT=15

# cli ARGS...: runs certctl with the suite's config file and without the
# stack's CERTCTL_API_KEY/CERTCTL_URL (which would override the profile);
# sets OUT (stdout), ERR (stderr) and RC. Failures show both.
cli() {
    RC=0
    OUT=$(env -u CERTCTL_API_KEY -u CERTCTL_URL CERTCTL_CONFIG="$CFG" "$CERTCTL" "$@" 2>"$WORK/cli.err") || RC=$?
    ERR=$(cat "$WORK/cli.err")
    LAST_REQUEST="certctl $*" STATUS="exit $RC" BODY="stdout: ${OUT:0:2000}
stderr: ${ERR:0:2000}"
}
# expect_rc CODE [ERROR-CODE]: exit status of the last cli call and, if given, the typed error on stderr.
expect_rc() {
    expect_eq "$LAST_REQUEST -> exit $1" "$1" "$RC"
    [ -z "${2:-}" ] || expect_match "$LAST_REQUEST prints error: $2" "^error: $2: " "$ERR"
}

# ---------------------------------------------------------------------------
section "1. login: the key is checked first, then stored 0600 in a 0700 directory"
cli login --url "$ADMIN" --api-key "cctl_wrong_$RUN"
expect_rc 3 unauthenticated
check "a refused login writes no config file" [ ! -e "$CFG" ]
cli login --url "$ADMIN" --api-key "$CERTCTL_API_KEY"
expect_rc 0
expect_eq "config file mode" 600 "$(stat -c %a "$CFG")"
expect_eq "config directory mode" 700 "$(stat -c %a "$(dirname "$CFG")")"
expect_eq "the profile holds the URL" "$ADMIN" "$(jq -r .profiles.default.url "$CFG")"
chmod 644 "$CFG"
cli issuer list
expect_rc 1 config_permissions
chmod 600 "$CFG"
new_api_key AUDITOR "cli-auditor-$RUN" auditor
cli login --profile ro --url "$ADMIN" --api-key "$AUDITOR"
expect_rc 0
expect_eq "the first profile stays the default" default "$(jq -r .default_profile "$CFG")"
cli --version
expect_rc 0
cli issuer list --profile nosuch
expect_rc 2 unknown_profile
RC=0; CERTCTL_CONFIG="$CFG" CERTCTL_API_KEY="cctl_env_$RUN" "$CERTCTL" issuer list >/dev/null 2>&1 || RC=$?
LAST_REQUEST="CERTCTL_API_KEY=<wrong> certctl issuer list"
expect_rc 3
cli cert list --bogus-option
expect_rc 2
cli issuer list --url "http://127.0.0.1:1"
expect_rc 5 unreachable

# ---------------------------------------------------------------------------
section "2. issuer list and show"
cli issuer list
expect_rc 0
expect_match "the table lists $ISSUER" "(^|[[:space:]])$ISSUER +active" "$OUT"
cli issuer show "$ISSUER" -o json
expect_rc 0
expect_eq "show -o json is the API's issuer" "$ISSUER" "$(jq -r .id <<<"$OUT")"
OCSP_URL=$(jq -r .ocsp_url <<<"$OUT")
cli issuer show --pem "$ISSUER"
expect_eq "issuer show --pem is the CA certificate" "$(openssl x509 -in "$CA" -noout -fingerprint)" \
    "$(openssl x509 -noout -fingerprint <<<"$OUT")"
cli issuer show "nosuch-$RUN"
expect_rc 4 issuer_not_found
cli issuer rotate "$ISSUER" --profile ro
expect_rc 3 forbidden

# ---------------------------------------------------------------------------
section "3. cert issue: a key generated here, or a CSR"
cli cert issue --cn "cli-$RUN.example.com" --san "DNS:cli-$RUN.example.com" --san "IP:192.0.2.7" \
    --key-out gen.key --out gen.pem
expect_rc 0
expect_eq "the generated key is mode 0600" 600 "$(stat -c %a gen.key)"
expect_eq "openssl verify -CAfile \$CERTCTL_CA_CERT_PATH" "gen.pem: OK" "$(openssl verify -CAfile "$CA" gen.pem 2>&1)"
expect_eq "the certificate certifies the generated key" "$(openssl pkey -in gen.key -pubout | openssl sha256 -r)" \
    "$(openssl x509 -in gen.pem -noout -pubkey | openssl sha256 -r)"
expect_eq "subjectAltName as asked" "X509v3 Subject Alternative Name:|DNS:cli-$RUN.example.com, IP Address:192.0.2.7" \
    "$(ext gen.pem subjectAltName)"
# canonical form: lower case without leading zeros (openssl prints whole octets: 09…)
GEN_SERIAL=$(openssl x509 -in gen.pem -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
cli cert issue --cn "again-$RUN.example.com" --key-out gen.key --out other.pem
expect_rc 1 file
new_csr req.csr "$P256" "csr-$RUN.example.com" "DNS:csr-$RUN.example.com"
cli cert issue --csr req.csr --days 5 --out csr.pem --with-chain -o json
expect_rc 0
CSR_ID=$(jq -r .id <<<"$OUT")
expect_match "issue -o json carries the id" "$UUID_RE" "$CSR_ID"
expect_eq "--with-chain writes certificate and issuer" 2 "$(grep -c 'BEGIN CERTIFICATE' csr.pem)"
echo "not a CSR" >bad.csr
cli cert issue --csr bad.csr
expect_rc 1
expect_match "a bad CSR is refused with the API's typed error" '^error: [a-z_]+: ' "$ERR"
cli cert issue --csr req.csr --profile ro
expect_rc 3 forbidden
cli cert issue --cn "x.example.com"
expect_rc 2

# ---------------------------------------------------------------------------
section "4. cert list and show"
cli cert list -q "csr-$RUN"
expect_rc 0
expect_match "list -q finds the certificate" "$CSR_ID +[0-9a-f]+ +issued" "$OUT"
cli cert list -q "cli-$RUN" -o json
expect_eq "list -o json" "$GEN_SERIAL" "$(jq -r '.items[0].serial_hex' <<<"$OUT")"
cli cert show "$GEN_SERIAL" -o json
expect_rc 0
GEN_ID=$(jq -r .id <<<"$OUT")
cli cert show "$GEN_ID"
expect_match "show by id prints the serial" "serial_hex: +$GEN_SERIAL" "$OUT"
cli cert show --pem "$GEN_ID"
expect_eq "show --pem is the certificate" "$(der_sha gen.pem)" "$(openssl x509 -outform DER <<<"$OUT" | openssl sha256 -r | cut -d' ' -f1)"
cli cert show "$(random_uuid)"
expect_rc 4 certificate_not_found
cli cert show "not-a-serial"
expect_rc 2

# ---------------------------------------------------------------------------
section "5. revoke, then ocsp check says revoked (exit 6) and the CRL lists it"
cli ocsp check gen.pem
expect_rc 0
expect_match "ocsp check: good, signature verified" "status: +good" "$OUT"
cli ocsp check gen.pem --issuer "$ISSUER" -o json
expect_eq "--issuer: status good" good "$(jq -r .status <<<"$OUT")"
cli cert revoke "$GEN_ID" --reason keyCompromise
expect_rc 0
expect_match "revoke prints the revoked certificate" "status: +revoked" "$OUT"
for _ in $(seq $((OCSP_WAIT * 2))); do
    cli ocsp check gen.pem --issuer-cert "$CA" -o json
    [ "$RC" != 6 ] || break
    sleep 0.5
done
expect_rc 6
expect_eq "ocsp check -o json: revoked" revoked "$(jq -r .status <<<"$OUT")"
expect_eq "reason keyCompromise (1)" 1 "$(jq -r .reason_code <<<"$OUT")"
cli cert revoke "$GEN_ID" --reason keyCompromise
expect_rc 0
cli cert revoke "$GEN_ID" --reason removeFromCRL
expect_rc 1 not_revocable
cli cert revoke "$GEN_ID" --reason nonsense
expect_rc 1 invalid_reason
cli cert revoke "$(random_uuid)"
expect_rc 4 certificate_not_found
openssl x509 -in csr.pem -out csr-leaf.pem
cli ocsp check gen.pem --issuer-cert csr-leaf.pem
expect_rc 4 issuer_not_found

# a look-alike CA (same name, other key) and a leaf it signed with the same serial: the responder
# does not vouch for it (unknown, unauthorized or a response that does not verify), never good
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout fake-ca.key -out fake-ca.pem \
    -subj "/O=certctl development/CN=certctl Local CA" -days 1 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -new -key gen.key -subj "/CN=forged-$RUN" 2>/dev/null |
    openssl x509 -req -CA fake-ca.pem -CAkey fake-ca.key -set_serial "0x$GEN_SERIAL" -days 1 -out forged.pem \
        -extfile <(printf 'authorityInfoAccess=OCSP;URI:%s\n' "$OCSP_URL") 2>/dev/null
cli ocsp check forged.pem --issuer-cert fake-ca.pem
check "a look-alike issuer's certificate is never good (exit $RC: ${ERR:-$OUT})" [ "$RC" != 0 ]

# ---------------------------------------------------------------------------
section "6. crl status and crl fetch"
for _ in $(seq $((OCSP_WAIT * 2))); do
    cli crl fetch "$ISSUER" --out crl.der --force
    openssl crl -inform DER -in crl.der -noout -text 2>/dev/null | grep -qi "Serial Number: $GEN_SERIAL" && break
    sleep 0.5
done
expect_rc 0
expect_match "openssl crl -inform DER -CAfile: verify OK" "verify OK" \
    "$(openssl crl -inform DER -in crl.der -CAfile "$CA" -noout 2>&1)"
expect_match "the CRL lists the revoked serial" "Serial Number: ${GEN_SERIAL^^}" \
    "$(openssl crl -inform DER -in crl.der -noout -text)"
cli crl fetch "$ISSUER" --pem --out crl.pem
expect_match "--pem: openssl reads it" "verify OK" "$(openssl crl -in crl.pem -CAfile "$CA" -noout 2>&1)"
cli crl status "$ISSUER" -o json
expect_rc 0
expect_eq "status: signature valid" true "$(jq -r '.items[0].signature_valid' <<<"$OUT")"
# (the CRL may have been regenerated since the fetch: its number only grows)
fetched=$(( $(openssl crl -inform DER -in crl.der -noout -crlnumber | cut -d= -f2) ))
check "status: CRL number $(jq -r '.items[0].crl_number' <<<"$OUT") >= the fetched one's ($fetched, read by openssl)" \
    [ "$(jq -r '.items[0].crl_number' <<<"$OUT")" -ge "$fetched" ]
check "status: at least one entry" [ "$(jq -r '.items[0].entries' <<<"$OUT")" -ge 1 ]
cli crl status
expect_match "the table has NUMBER, THIS UPDATE, NEXT UPDATE, ENTRIES" "NUMBER +THIS UPDATE +NEXT UPDATE +ENTRIES" "$OUT"
cli crl status "nosuch-$RUN"
expect_rc 4 issuer_not_found
cli crl fetch "$ISSUER" --out crl.der
expect_rc 1 file

# ---------------------------------------------------------------------------
section "7. cert export: pem, der, pkcs7, pkcs12; many with a progress line"
cli cert export "$CSR_ID" --format pem --out export.pem
expect_rc 0
expect_eq "export pem: openssl verify" "export.pem: OK" "$(openssl verify -CAfile "$CA" export.pem 2>&1)"
cli cert export "$CSR_ID" --format der --out export.der
expect_eq "export der is the certificate" "$(der_sha csr.pem)" "$(openssl sha256 -r export.der | cut -d' ' -f1)"
cli cert export "$CSR_ID" --format pkcs7 --out export.p7b
expect_eq "export pkcs7: certificate and issuer" 2 \
    "$( (openssl pkcs7 -inform DER -in export.p7b -print_certs 2>/dev/null || openssl pkcs7 -in export.p7b -print_certs) | grep -c '^subject=')"
printf 'pw-%s-secret\n' "$RUN" >p12.pass
cli cert export "$CSR_ID" --format pkcs12 --password-file p12.pass --out export.p12
expect_rc 0
expect_eq "the PKCS#12 file is mode 0600" 600 "$(stat -c %a export.p12)"
expect_match "openssl pkcs12 -info -nokeys reads it (AES-256, PBKDF2)" "PBKDF2.*AES-256" \
    "$(openssl pkcs12 -in export.p12 -info -nokeys -passin "pass:pw-$RUN-secret" 2>&1)"
printf 'short\n' >short.pass
cli cert export "$CSR_ID" --format pkcs12 --password-file short.pass --out short.p12
expect_rc 2
cli cert export "$CSR_ID" --format pkcs12 --out nopass.p12
expect_rc 2
cli cert export "$(random_uuid)" --format pem --out missing.pem
expect_rc 4 certificate_not_found
cli cert export "$CSR_ID" --format pem --out many.pem --profile ro
expect_rc 3 forbidden
printf '%s\n%s # the revoked one\n' "$CSR_ID" "$GEN_SERIAL" >many.txt
cli cert export --from-file many.txt --format der --out-dir exports
expect_rc 0
expect_eq "--out-dir: one file per certificate" 2 "$(ls exports | wc -l)"
expect_match "not a terminal: plain progress lines on stderr" "exporting: 2/2 done" "$ERR"

# ---------------------------------------------------------------------------
section "8. cert revoke-bulk: from a file (idempotent), by filter, dry run"
: >bulk.txt
for i in 1 2 3; do
    new_csr "bulk$i.csr" "$P256" "bulk$i-$RUN.example.com" "DNS:bulk$i-$RUN.example.com"
    cli cert issue --csr "bulk$i.csr" -o json
    if [ $i = 3 ]; then jq -r .id <<<"$OUT" >>bulk.txt; else jq -r .serial_hex <<<"$OUT" >>bulk.txt; fi
done
{ echo "# two serials and an id"; cat bulk.txt; } >bulk-file.txt
cli cert revoke-bulk --file bulk-file.txt --reason superseded
expect_rc 0
expect_match "summary: 3 revoked" "3 item\(s\): 3 revoked" "$OUT"
expect_match "not a terminal: plain progress lines on stderr" "revoking: 3/3 done" "$ERR"
cli cert revoke-bulk --file bulk-file.txt --reason superseded -o json
expect_rc 0
expect_eq "re-run: every item already_revoked" "already_revoked already_revoked already_revoked" \
    "$(jq -r '[.results[].outcome] | join(" ")' <<<"$OUT")"
printf '%s\ndeadbeef%s\n' "$(head -1 bulk.txt)" "$RUN" >bulk-missing.txt
cli cert revoke-bulk --file bulk-missing.txt
expect_rc 9
expect_match "an unknown serial is reported not_found" "deadbeef$RUN .* not_found" "$OUT"
for i in 1 2; do
    new_csr "filter$i.csr" "$P256" "filter$i-$RUN.example.com" "DNS:filter$i-$RUN.example.com"
    cli cert issue --csr "filter$i.csr" -o json
done
cli cert revoke-bulk --subject "filter" --issuer "$ISSUER" --dry-run -o json
expect_rc 0
check "--dry-run lists both filter certificates" [ "$(jq '.items | length' <<<"$OUT")" -ge 2 ]
cli cert list -q "filter1-$RUN" -o json
expect_eq "--dry-run changed nothing" issued "$(jq -r '.items[0].status' <<<"$OUT")"
cli cert revoke-bulk --subject "filter1-$RUN" --reason cessationOfOperation
expect_rc 0
expect_match "by filter: 1 revoked" "1 item\(s\): 1 revoked" "$OUT"
cli cert list -q "filter2-$RUN" -o json
expect_eq "the other certificate is untouched" issued "$(jq -r '.items[0].status' <<<"$OUT")"
cli cert revoke-bulk --file bulk-file.txt --subject x
expect_rc 2
cli cert revoke-bulk --file bulk-file.txt --profile ro
expect_rc 3 forbidden

# ---------------------------------------------------------------------------
section "9. keys: create, use, rotate, revoke; a revoked key gets exit 3"
cli keys create --actor "cli-op-$RUN" --role operator --description "cli interop"
expect_rc 0
OP_KEY=$OUT
CREATED_KEYS+=("$OP_KEY")
expect_match "the new key alone on stdout" '^cctl_[A-Za-z0-9_-]+$' "$OP_KEY"
cli keys list -o json
OP_ID=$(jq -r --arg a "cli-op-$RUN" '.items[] | select(.actor == $a) | .id' <<<"$OUT")
expect_match "keys list shows it" "$UUID_RE" "$OP_ID"
cli keys show "$OP_ID"
expect_match "keys show: role operator" "role: +operator" "$OUT"
check "keys show never prints the secret" bash -c "! grep -qF '$OP_KEY' <<<'$OUT'"
cli cert list --api-key "$OP_KEY" --limit 1
expect_rc 0
cli keys list --api-key "$OP_KEY"
expect_rc 3 forbidden
cli keys rotate "$OP_ID"
expect_rc 0
NEW_KEY=$OUT
CREATED_KEYS+=("$NEW_KEY")
cli cert list --api-key "$OP_KEY" --limit 1
expect_rc 3 unauthenticated
cli cert list --api-key "$NEW_KEY" --limit 1
expect_rc 0
cli keys list -o json
NEW_ID=$(jq -r --arg a "cli-op-$RUN" '.items[] | select(.actor == $a and .revoked_at == null) | .id' <<<"$OUT")
cli keys revoke "$NEW_ID"
expect_rc 0
cli cert list --api-key "$NEW_KEY" --limit 1
expect_rc 3 unauthenticated
cli keys list --include-revoked -o json
expect_eq "--include-revoked lists both revoked keys" 2 \
    "$(jq --arg a "cli-op-$RUN" '[.items[] | select(.actor == $a and .revoked_at != null)] | length' <<<"$OUT")"
cli keys revoke "$(random_uuid)"
expect_rc 4 api_key_not_found
cli keys create --actor "x-$RUN" --role superuser
expect_rc 1 invalid_request

# ---------------------------------------------------------------------------
section "10. audit tail (and --follow)"
cli audit tail -n 5 -o json
expect_rc 0
expect_eq "tail -n 5: five events, one JSON object per line" 5 "$(jq -s length <<<"$OUT")"
cli audit tail -n 3
expect_match "the table header" "^ID +SEQ +TIME" "$OUT"
cli audit tail --profile ro -n 1
expect_rc 0
env -u CERTCTL_API_KEY -u CERTCTL_URL CERTCTL_CONFIG="$CFG" timeout 8 "$CERTCTL" audit tail -f -n 1 --interval 1 -o json \
    >follow.out 2>follow.err &
FOLLOW=$!
sleep 2
cli cert revoke "$CSR_ID" --reason superseded
wait $FOLLOW || true
expect_match "--follow prints the revocation made meanwhile" "\"target_id\":\"$CSR_ID\"" "$(cat follow.out)"
cli audit tail -n 0
expect_rc 2

section "11. audit head and verify (pages, anchor)"
cli audit head -o json
expect_rc 0
HEAD_SEQ=$(jq -r .seq <<<"$OUT") HEAD_HASH=$(jq -r .hash <<<"$OUT")
expect_match "head hash is hex" '^[0-9a-f]{64}$' "$HEAD_HASH"
cli audit verify --page-size 7
expect_rc 0
expect_match "verify walks the whole chain in pages" "^ok: [0-9]+ link\(s\) checked" "$OUT"
expect_match "progress lines on stderr" "verifying: [0-9]+/[0-9]+ done" "$ERR"
cli audit verify --anchor "$HEAD_SEQ:$HEAD_HASH"
expect_rc 0
cli audit verify --anchor "$HEAD_SEQ:$(printf '0%.0s' $(seq 64))"
expect_rc 8
expect_match "a wrong anchor names the broken link" "^BROKEN at seq" "$OUT"
cli audit verify --anchor "nonsense"
expect_rc 2

# ---------------------------------------------------------------------------
section "12. scep endpoint list, show, create, challenge, delete"
cli scep endpoint list
expect_rc 0
expect_match "the stack's endpoint default is listed" "(^|[[:space:]])default +/scep/default" "$OUT"
cli scep endpoint show default -o json
RA_CERT=$(jq -r .ra_cert_path <<<"$OUT") RA_KEY=$(jq -r .ra_key_path <<<"$OUT")
cli scep endpoint create "cli-$RUN" --issuer "$ISSUER" --ra-cert "$RA_CERT" --ra-key "$RA_KEY" --require-approval
expect_rc 0
expect_match "create prints the endpoint" "path: +/scep/cli-$RUN" "$OUT"
cli scep endpoint challenge "cli-$RUN" --ttl 600 --expected-san "DNS:dev-$RUN.example.com"
expect_rc 0
expect_match "a one-time challenge alone on stdout" '^[^ ]{8,}$' "$OUT"
cli scep endpoint create "cli-$RUN" --issuer "$ISSUER" --ra-cert "$RA_CERT" --ra-key "$RA_KEY"
expect_rc 1 scep_profile_exists
cli scep endpoint create "rel-$RUN" --issuer "$ISSUER" --ra-cert relative.pem --ra-key "$RA_KEY"
expect_rc 1 invalid_request
cli scep endpoint delete "cli-$RUN" --profile ro
expect_rc 3 forbidden
cli scep endpoint delete "cli-$RUN"
expect_rc 0
cli scep endpoint show "cli-$RUN"
expect_rc 4 scep_profile_not_found

# ---------------------------------------------------------------------------
section "13. est label list, create, show, set-user"
LABEL="cli-$RUN"
cli est label create "$LABEL" --issuer "$ISSUER" --require-approval
expect_rc 0
cli est label list
expect_match "list shows the label" "(^|[[:space:]])$LABEL +/.well-known/est/$LABEL" "$OUT"
cli est label show "$LABEL" -o json
expect_eq "show -o json" true "$(jq -r .require_approval <<<"$OUT")"
cli est label set-user "$LABEL" "dev-$RUN"
expect_rc 0
EST_PASSWORD=$OUT
expect_match "the password alone on stdout" '^[0-9a-f]{32}$' "$EST_PASSWORD"
cli est label create "$LABEL" --issuer "$ISSUER"
expect_rc 1 est_label_exists
cli est label show "nosuch-$RUN"
expect_rc 4 est_label_not_found

# ---------------------------------------------------------------------------
section "14. approvals: an EST request held, approved; another rejected"
EST=${CERTCTL_EST_URL%/}
TLS=(--cacert "${CERTCTL_EST_TLS_CA_PATH:-$CA}")
for name in approve reject; do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "est-$name.key" -subj "/CN=est-$name-$RUN" \
        -addext "subjectAltName=DNS:est-$name-$RUN.example.com" -outform DER 2>/dev/null | openssl base64 >"est-$name.b64"
    code=$(curl -sS "${TLS[@]}" -o /dev/null -w '%{http_code}' -u "dev-$RUN:$EST_PASSWORD" \
        -H 'Content-Type: application/pkcs10' --data-binary "@est-$name.b64" "$EST/$LABEL/simpleenroll")
    expect_eq "EST simpleenroll on a label with require_approval -> 202" 202 "$code"
done
cli approvals list --endpoint "$LABEL" -o json
expect_rc 0
expect_eq "two pending requests" 2 "$(jq '.items | length' <<<"$OUT")"
APPROVE_ID=$(jq -r --arg cn "CN=est-approve-$RUN" '.items[] | select(.subject == $cn) | .id' <<<"$OUT")
REJECT_ID=$(jq -r --arg cn "CN=est-reject-$RUN" '.items[] | select(.subject == $cn) | .id' <<<"$OUT")
cli approvals list
expect_match "the table lists them" "$APPROVE_ID +pending +est +$LABEL" "$OUT"
cli approvals show "$APPROVE_ID"
expect_match "show: status pending" "status: +pending" "$OUT"
cli approvals approve "$APPROVE_ID" --profile ro
expect_rc 3 forbidden
cli approvals approve "$APPROVE_ID" -o json
expect_rc 0
expect_eq "approve: issued" issued "$(jq -r .status <<<"$OUT")"
cli approvals reject "$REJECT_ID" --reason "not ours ($RUN)"
expect_rc 0
expect_match "reject: rejected with the reason" "reason: +not ours" "$OUT"
cli approvals reject "$REJECT_ID" --reason again
expect_rc 1 enrollment_request_not_pending
cli approvals approve "$(random_uuid)"
expect_rc 4 enrollment_request_not_found

# ---------------------------------------------------------------------------
section "15. https with --cacert (a stand-in TLS server), timeouts"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls-ca.key -out tls-ca.pem \
    -subj "/CN=cli interop TLS CA $RUN" -days 1 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -subj "/CN=127.0.0.1" 2>/dev/null |
    openssl x509 -req -CA tls-ca.pem -CAkey tls-ca.key -days 1 -out tls.pem \
        -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') 2>/dev/null
mkdir -p www/api/v1
printf '{"items": [{"id": "tls-%s", "status": "active", "generation": 1}]}' "$RUN" >www/api/v1/issuers
TLS_PORT=$(free_port)
(cd www && exec openssl s_server -quiet -accept "$TLS_PORT" -cert ../tls.pem -key ../tls.key -WWW) >/dev/null 2>&1 &
TLS_PID=$!
HANG_PORT=$(free_port)
python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $HANG_PORT)); s.listen(); c=s.accept(); time.sleep(20)" &
HANG_PID=$!
trap 'rc=$?; kill $TLS_PID $HANG_PID 2>/dev/null; (exit $rc); interop_cleanup' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null && break; sleep 0.1; done
cli issuer list --url "https://127.0.0.1:$TLS_PORT" --api-key "cctl_x" --cacert tls-ca.pem
expect_rc 0
expect_match "https with --cacert: the server's answer" "tls-$RUN +active" "$OUT"
cli issuer list --url "https://127.0.0.1:$TLS_PORT" --api-key "cctl_x"
expect_rc 5 unreachable
expect_match "without the CA: the TLS handshake fails" "TLS handshake failed" "$ERR"
cli issuer list --url "https://127.0.0.1:$TLS_PORT" --api-key "cctl_x" --cacert "$CA"
expect_rc 5 unreachable
cli login --profile tls --url "https://127.0.0.1:$TLS_PORT" --api-key "cctl_x" --cacert tls-ca.pem
expect_rc 0
expect_eq "login stores the CA file's absolute path" "$WORK/tls-ca.pem" "$(jq -r .profiles.tls.cacert "$CFG")"
cli issuer list --profile tls
expect_rc 0
start=$SECONDS
cli issuer list --url "http://127.0.0.1:$HANG_PORT" --timeout 1
expect_rc 5 timeout
check "the deadline holds (took $((SECONDS - start)) s)" [ $((SECONDS - start)) -le 4 ]

# ---------------------------------------------------------------------------
section "16. shell completion"
cli --generate-completion-script bash
expect_rc 0
expect_match "bash completion names the subcommands" "revoke-bulk" "$OUT"
cli --generate-completion-script zsh
expect_match "zsh completion" "#compdef certctl" "$OUT"

interop_done
