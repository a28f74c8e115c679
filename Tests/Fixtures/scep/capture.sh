#!/usr/bin/env bash
# Captures the SCEP message vectors of this folder from the real clients
# (micromdm's scepclient and certmonger, Debian packages `scep` and
# `certmonger`) talking to a certctl stack whose CA, RA and static challenge
# are this folder's, through record-proxy.py. Run once; the README says what
# came out. Needs a debug build (swift build) and root for apt-get.
#
#   bash Tests/Fixtures/scep/capture.sh      (writes into this folder)
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
source "$ROOT/scripts/lib/common.sh"
ensure_packages certmonger:getcert scep:scepclient dbus:dbus-run-session openssl:openssl jq:jq curl:curl
BIN=$(cd "$ROOT" && swift build --show-bin-path)
CHALLENGE=$(cat "$HERE/challenge.txt")
SUBMIT=/usr/lib/certmonger/scep-submit
[ -x "$SUBMIT" ] || SUBMIT=/usr/libexec/certmonger/scep-submit

WORK=$(mktemp -d /tmp/scep-capture.XXXXXX)
chmod 755 "$WORK"   # the Postgres cluster under it runs as user postgres
export CERTCTL_DEV_DATA="$WORK/stack"
export DEV_PG_PORT=$(free_port) DEV_ADMIN_PORT=$(free_port) DEV_OCSP_PORT=$(free_port) DEV_CRL_PORT=$(free_port) \
    DEV_ENROLL_PORT=$(free_port) DEV_SIGNER_HEALTH_PORT=$(free_port) DEV_SIGNER_RPC_PORT=$(free_port) DEV_EST_PORT=$(free_port)
PROXY_PORT=$(free_port)
PROXY_PID=
cleanup() {
    [ -z "$PROXY_PID" ] || kill "$PROXY_PID" 2>/dev/null || true
    "$ROOT/scripts/dev" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The fixture CA (issuer iss-local of the stack) and RA, made once, valid for 100 years.
if [ ! -s "$HERE/ra.key" ]; then
    "$BIN/certctl-signer" init-ca --algorithm ecdsa-p256 --subject "/O=certctl test fixtures/CN=certctl SCEP fixture CA" \
        --days 36500 --cert-out "$WORK/ca.crt" --key-out "$WORK/ca.key" >/dev/null
    cp "$WORK/ca.crt" "$HERE/ca.crt"
    openssl genrsa -out "$HERE/ra.key" 2048 2>/dev/null
    openssl req -new -key "$HERE/ra.key" -subj "/O=certctl test fixtures/CN=certctl SCEP fixture RA" -out "$WORK/ra.csr"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >"$WORK/ra.ext"
    openssl x509 -req -in "$WORK/ra.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -set_serial "0x$(openssl rand -hex 12)" \
        -days 36500 -extfile "$WORK/ra.ext" -out "$HERE/ra.crt" 2>/dev/null
fi
[ -s "$WORK/ca.key" ] || die "ra.key exists but the CA key is gone: delete ca.crt, ra.crt and ra.key to start over"
mkdir -p "$CERTCTL_DEV_DATA/ca" "$CERTCTL_DEV_DATA/scep"
chmod 700 "$CERTCTL_DEV_DATA/ca" "$CERTCTL_DEV_DATA/scep"
cp "$WORK/ca.crt" "$WORK/ca.key" "$CERTCTL_DEV_DATA/ca/"
cp "$HERE/ra.crt" "$HERE/ra.key" "$CERTCTL_DEV_DATA/scep/"
chmod 600 "$CERTCTL_DEV_DATA/ca/ca.key" "$CERTCTL_DEV_DATA/scep/ra.key"
printf '%s\n' "$CHALLENGE" >"$CERTCTL_DEV_DATA/scep/challenge"
"$ROOT/scripts/dev" up >"$WORK/stack-up.log" 2>&1 || { cat "$WORK/stack-up.log"; die "stack did not start"; }
set -a; source "$CERTCTL_DEV_DATA/dev.env"; set +a

# Endpoint `held`: same RA and challenge, requests wait for approval (certmonger then polls).
jq -n --arg cert "$CERTCTL_DEV_DATA/scep/ra.crt" --arg key "$CERTCTL_DEV_DATA/scep/ra.key" --arg secret "$CHALLENGE" \
    '{name: "held", issuer_id: "iss-local", ra_cert_path: $cert, ra_key_path: $key, static_challenge: $secret, require_approval: true}' |
    curl -fsS -o /dev/null -H "Authorization: Bearer $CERTCTL_API_KEY" -H 'Content-Type: application/json' --data-binary @- \
        "$CERTCTL_ADMIN_URL/api/v1/scep/profiles"

mkdir -p "$WORK/out"
python3 "$HERE/record-proxy.py" "$PROXY_PORT" "http://127.0.0.1:$DEV_ENROLL_PORT" "$WORK/out" &
PROXY_PID=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$PROXY_PORT/scep/default?operation=GetCACaps" && break; sleep 0.1; done
SCEP="http://127.0.0.1:$PROXY_PORT/scep"

# 1. scepclient: PKCSReq to `default` (issued at once).
RA_FP=$(openssl x509 -in "$HERE/ra.crt" -outform DER | openssl sha256 -r | cut -d' ' -f1)
mkdir -p "$WORK/mdm"
scepclient -server-url "$SCEP/default" -private-key "$WORK/mdm/key.pem" -certificate "$WORK/mdm/cert.pem" \
    -challenge "$CHALLENGE" -ca-fingerprint "$RA_FP" -cn scepclient-fixture -organization certctl-fixtures -ou capture \
    -country DE -keySize 2048 >"$WORK/mdm.log" 2>&1
[ -s "$WORK/mdm/cert.pem" ] || { cat "$WORK/mdm.log"; die "scepclient did not enroll"; }
mdm=$(ls "$WORK/out"/*-default.req | head -1)
cp "$mdm" "$HERE/scepclient-pkcsreq.der"
cp "$WORK/mdm/key.pem" "$HERE/scepclient.key"
openssl req -in "$WORK/mdm/csr.pem" -outform DER -out "$HERE/scepclient-csr.der"

# 2. certmonger: PKCSReq to `held` (PENDING), then its GetCertInitial from its request state, sent by its helper.
cat >"$WORK/certmonger.sh" <<SH
set -e
for _ in \$(seq 50); do getcert list-cas -s >/dev/null 2>&1 && break; sleep 0.1; done
getcert add-scep-ca -s -c fixture -u "$SCEP/held" -n >/dev/null
getcert request -s -c fixture -k "$WORK/cm.key" -f "$WORK/cm.crt" -N "CN=certmonger-fixture" -L "$CHALLENGE" >/dev/null
for _ in \$(seq 100); do getcert list -s -f "$WORK/cm.crt" | grep -q "status: CA_WORKING" && break; sleep 0.2; done
cp -r "\$HOME/.config/certmonger/requests" "$WORK/cm.requests"
SH
mkdir -p "$WORK/cm-home"
HOME="$WORK/cm-home" timeout 120 dbus-run-session -- bash "$WORK/certmonger.sh"
state=$(grep -l "cm.crt" "$WORK"/cm.requests/* | head -1)
field() { awk -v f="$1=" 'index($0, f) == 1 { p = 1; sub("^" f, ""); print; next } p && /^ / { sub(/^ /, ""); print; next } { p = 0 }' "$state"; }
field scep_gic >"$WORK/cm.gic.pem"
field csr >"$WORK/cm.csr.pem"
CERTMONGER_SCEP_RA_CERTIFICATE="$(cat "$HERE/ra.crt")" CERTMONGER_SCEP_CA_CERTIFICATE="$(cat "$HERE/ca.crt")" \
    "$SUBMIT" -u "$SCEP/held" -g "$WORK/cm.gic.pem" >/dev/null 2>&1 || true   # exit 1 = WAIT (pending)
held=($(ls "$WORK/out"/*-held.req))
[ ${#held[@]} -ge 2 ] || die "expected certmonger's PKCSReq and GetCertInitial, got ${#held[@]} messages"
cp "${held[0]}" "$HERE/certmonger-pkcsreq.der"
cp "${held[-1]}" "$HERE/certmonger-getcertinitial.der"
cp "$WORK/cm.key" "$HERE/certmonger.key"
openssl req -in "$WORK/cm.csr.pem" -outform DER -out "$HERE/certmonger-csr.der"

# What the README records (attributes as openssl prints them, client versions).
for vector in scepclient-pkcsreq certmonger-pkcsreq certmonger-getcertinitial; do
    echo "== $vector"
    openssl cms -cmsout -print -inform DER -in "$HERE/$vector.der" |
        grep -A3 -E 'object: (undefined|messageType|transactionID|senderNonce|2\.16\.840\.1\.113733\.1\.9\.[257])' | head -40
done >"$WORK/attributes.txt"
{ dpkg-query -W scep certmonger; scepclient -version; } >"$WORK/versions.txt"
cat "$WORK/versions.txt" "$WORK/attributes.txt"
echo "scratch: $WORK"
trap - EXIT
cleanup
