#!/usr/bin/env bash
# Interop suite: SCEP (RFC 8894) against the stack's profile `default`, with
# two independent real clients from Debian:
#   - certmonger (its scep-submit helper for GetCACaps/GetCACert, and the
#     certmonger daemon on a private D-Bus session for PKCSReq: it builds the
#     pkiMessage itself and calls scep-submit),
#   - micromdm's scepclient (package `scep`).
# Each enrolls an RSA key with the static challenge and with a one-time
# challenge from the admin API; a reused challenge fails; issued certificates
# verify with `openssl verify` against the CA; scepclient renews (RenewalReq)
# on its own profile, and on another once that one accepts it.
#
#   set -a; source <data>/dev.env; set +a; bash scripts/interop/scep.sh
set -Eeuo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ensure_packages certmonger:getcert scep:scepclient dbus:dbus-run-session
require_env CERTCTL_SCEP_URL CERTCTL_SCEP_CHALLENGE
interop_start
SCEP=$CERTCTL_SCEP_URL
SUBMIT=/usr/lib/certmonger/scep-submit
[ -x "$SUBMIT" ] || SUBMIT=/usr/libexec/certmonger/scep-submit

# one_time_challenge VAR: a fresh single-use challenge for profile default, in VAR.
one_time_challenge() {
    api POST /api/v1/scep/default/challenges "${JSON[@]}" -d '{"ttl_seconds": 600}'
    expect_status 201
    printf -v "$1" '%s' "$(jf .challenge)"
}
# Refusals are audited per source and window (500 ms on the dev stack), a row carrying details.count:
# wait for the window to be written, then count refusals.
scep_refusals() { sleep 1; sql -c "SELECT coalesce(sum(coalesce((details->>'count')::int, 1)), 0) FROM audit_events
    WHERE action = 'scep.enroll' AND error_code = '$1'"; }

# ---------------------------------------------------------------------------
section "1. GetCACaps and GetCACert"
caps=$(curl -fsS "$SCEP?operation=GetCACaps")
for cap in POSTPKIOperation SHA-256 AES SCEPStandard; do
    check "GetCACaps advertises $cap" grep -qx "$cap" <<<"$caps"
done
# DES3 is advertised because libcrypto.so.3 (from the openssl package) is present for DES/3DES envelopes.
check "GetCACaps advertises DES3 (system libcrypto present)" grep -qx DES3 <<<"$caps"
check "certmonger scep-submit -c reads the capabilities" bash -c "'$SUBMIT' -u '$SCEP' -c | grep -qx POSTPKIOperation"
curl -fsS -D cacert.headers -o cacert.p7b "$SCEP/pkiclient.exe?operation=GetCACert"
expect_match "GetCACert content type" "application/x-x509-ca-ra-cert" "$(tr -d '\r' <cacert.headers | grep -i '^content-type')"
openssl pkcs7 -inform DER -in cacert.p7b -print_certs -out cacert-chain.pem
expect_eq "GetCACert carries the RA and the CA" 2 "$(split_pem cacert-chain.pem gca)"
expect_eq "the second certificate is the CA" "$(der_sha "$CA")" "$(der_sha gca-2.pem)"
"$SUBMIT" -u "$SCEP" -C >submit-certs.pem
expect_eq "certmonger scep-submit -C prints RA then CA" "$(der_sha gca-1.pem) $(der_sha gca-2.pem)" \
    "$(split_pem submit-certs.pem sub >/dev/null; echo "$(der_sha sub-1.pem) $(der_sha sub-2.pem)")"
cp gca-1.pem ra.pem

# ---------------------------------------------------------------------------
section "2. micromdm scepclient: PKCSReq with the static and a one-time challenge"
# scepclient envelopes to every certificate GetCACert returns unless -ca-fingerprint
# picks one (as for NDES): pick the RA. It keeps csr.pem/self.pem beside the key,
# so every enrollment gets its own directory.
RA_FP=$(openssl x509 -in ra.pem -outform DER | openssl sha256 -r | cut -d' ' -f1)
# scepclient_run NAME CHALLENGE URL: becomes scepclient (exec), so `scepclient_run … &` leaves its pid in $!.
scepclient_run() {
    mkdir -p "$1.d"
    exec scepclient -server-url "$3" -private-key "$1.d/key.pem" -certificate "$1.d/cert.pem" -challenge "$2" \
        -ca-fingerprint "$RA_FP" -cn "$1" -organization certctl-interop -ou "run-$RUN" -country DE -keySize 2048 >"$1.log" 2>&1
}
scepclient_enroll() { # NAME CHALLENGE [URL, default the profile default] -> NAME.crt, log NAME.log
    (scepclient_run "$1" "$2" "${3:-$SCEP}")
    cp "$1.d/key.pem" "$1.key"
    [ -s "$1.d/cert.pem" ] && cp "$1.d/cert.pem" "$1.crt"
}
check "scepclient enrolls with the static challenge" scepclient_enroll "mdm-static-$RUN" "$CERTCTL_SCEP_CHALLENGE"
check "its certificate verifies against the CA" openssl verify -CAfile "$CA" "mdm-static-$RUN.crt"
expect_eq "it certifies the client's key" "$(openssl pkey -in "mdm-static-$RUN.key" -pubout | openssl sha256 -r)" \
    "$(openssl x509 -in "mdm-static-$RUN.crt" -noout -pubkey | openssl sha256 -r)"
expect_eq "the certificate row says request_source scep" scep \
    "$(sql -c "SELECT request_source FROM certificates WHERE serial_hex = lower(ltrim('$(openssl x509 -in "mdm-static-$RUN.crt" -noout -serial | cut -d= -f2)', '0'))")"
one_time_challenge secret
check "scepclient enrolls with a one-time challenge" scepclient_enroll "mdm-once-$RUN" "$secret"
check "its certificate verifies against the CA" openssl verify -CAfile "$CA" "mdm-once-$RUN.crt"
# A reused one-time challenge and a wrong static challenge in scepclient's message are refused with their
# codes and change nothing: Tests/Integration/SCEPResponderTests.swift, on captured scepclient messages.

# ---------------------------------------------------------------------------
section "3. certmonger: PKCSReq with the static and a one-time challenge"
# The daemon runs on a private session bus; in session mode it keeps its state
# under \$HOME/.config/certmonger, so HOME points into the scratch directory.
mkdir -p "$WORK/cm-home"
cat >certmonger-run.sh <<SH
set -e
# the session bus starts certmonger on first use (D-Bus activation)
for _ in \$(seq 50); do getcert list-cas -s >/dev/null 2>&1 && break; sleep 0.1; done
getcert add-scep-ca -s -c certctl-$RUN -u "$SCEP" -n >/dev/null
enroll() { # NAME CHALLENGE
    getcert request -s -c certctl-$RUN -k "$WORK/\$1.key" -f "$WORK/\$1.crt" -N "CN=\$1" -L "\$2" -w -v >"$WORK/\$1.getcert" 2>&1 || true
    getcert list -s -f "$WORK/\$1.crt" >"$WORK/\$1.status" 2>&1 || true
}
enroll cm-static-$RUN "$CERTCTL_SCEP_CHALLENGE"
enroll cm-once-$RUN "\$(cat "$WORK/cm-once.secret")"
enroll cm-again-$RUN "\$(cat "$WORK/cm-once.secret")"
# resubmit with the same key: certmonger reuses its transactionID (a hash of the key) with a fresh nonce
openssl x509 -in "$WORK/cm-static-$RUN.crt" -noout -serial >"$WORK/cm-static.serial-before"
getcert resubmit -s -f "$WORK/cm-static-$RUN.crt" -w >/dev/null 2>&1 || true
for _ in \$(seq 50); do getcert list -s -f "$WORK/cm-static-$RUN.crt" | grep -q "status: MONITORING" && break; sleep 0.2; done
openssl x509 -in "$WORK/cm-static-$RUN.crt" -noout -serial >"$WORK/cm-static.serial-after"
SH
one_time_challenge cm_secret; printf '%s' "$cm_secret" >cm-once.secret
before=$(scep_refusals scep_challenge_reused)
HOME="$WORK/cm-home" timeout 180 dbus-run-session -- bash certmonger-run.sh 2>certmonger-bus.log || true
for name in "cm-static-$RUN" "cm-once-$RUN"; do
    [ -s "$name.crt" ] || fail "certmonger enrolls $name" "a certificate in $name.crt" "$(cat "$name.getcert" "$name.status" 2>/dev/null | tail -20)"
    pass "certmonger enrolls $name"
    check "its certificate verifies against the CA" openssl verify -CAfile "$CA" "$name.crt"
done
expect_eq "certmonger gets no certificate with the reused challenge" "" "$(cat "cm-again-$RUN.crt" 2>/dev/null || true)"
expect_match "certmonger reports the rejection" "status: CA_REJECTED" "$(cat "cm-again-$RUN.status")"
expect_eq "the refusal is audited as scep_challenge_reused" "$((before + 1))" "$(scep_refusals scep_challenge_reused)"
[ "$(cat cm-static.serial-before)" != "$(cat cm-static.serial-after)" ] && pass "certmonger resubmit (same key and transactionID, new nonce) gets a new certificate" \
    || fail "certmonger resubmit gets a new certificate" "a new serial" "$(cat cm-static.serial-after)"
check "the resubmitted certificate verifies against the CA" openssl verify -CAfile "$CA" "cm-static-$RUN.crt"

# ---------------------------------------------------------------------------
section "4. signed challenges (Intune-style connector) with scepclient"
# A connector key and certificate, the bundle of purpose scep-signed-challenge,
# a profile that accepts only signed challenges, and tokens made with the
# openssl recipe of docs/scep-intune.md.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout connector.key -out connector.crt \
    -subj "/CN=connector $RUN" -days 2 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout connector2.key -out connector2.crt \
    -subj "/CN=connector-2 $RUN" -days 2 2>/dev/null
cp connector.crt connectors.pem
api GET /api/v1/scep/profiles/default
expect_status 200
RA_CERT=$(jf .ra_cert_path) RA_KEY=$(jf .ra_key_path) SCEP_ISSUER=$(jf .issuer_id)
api POST /api/v1/admin/trust-anchors "${JSON[@]}" \
    -d "{\"name\": \"conn-$RUN\", \"purpose\": \"scep-signed-challenge\", \"path\": \"$WORK/connectors.pem\"}"
expect_status 201
api POST "/api/v1/admin/trust-anchors/conn-$RUN/reload"
expect_status 200
api POST /api/v1/scep/profiles "${JSON[@]}" -d "{\"name\": \"mdm-$RUN\", \"issuer_id\": \"$SCEP_ISSUER\",
    \"ra_cert_path\": \"$RA_CERT\", \"ra_key_path\": \"$RA_KEY\", \"allow_one_time_challenges\": false,
    \"signed_challenge_trust_anchor\": \"conn-$RUN\"}"
expect_status 201
api POST /api/v1/scep/profiles "${JSON[@]}" -d "{\"name\": \"mdm-est-$RUN\", \"issuer_id\": \"$SCEP_ISSUER\",
    \"ra_cert_path\": \"$RA_CERT\", \"ra_key_path\": \"$RA_KEY\", \"signed_challenge_trust_anchor\": \"est-clients\"}"
expect_status 422 invalid_reference
# signed_token KEY [ID] [AUDIENCE] [VALID-FROM-OFFSET] [VALID-FOR]: the docs' openssl recipe.
signed_token() {
    local now; now=$(date +%s)
    local text="v1:aud=${3:-mdm-$RUN}:nbf=$((now + ${4:-0})):exp=$((now + ${4:-0} + ${5:-600})):id=${2:-$(openssl rand -hex 8)}"
    printf '%s:sig=%s' "$text" "$(printf '%s' "$text" | openssl dgst -sha256 -sign "$1" | openssl base64 -A)"
}
signed_refusals() { scep_refusals "scep_signed_challenge_$1"; }
MDM="${SCEP%/scep/*}/scep/mdm-$RUN"
mdm_enroll() { scepclient_enroll "$1" "$2" "$MDM"; }  # against the signed-challenge profile
token=$(signed_token connector.key)
expect_eq "a P-256 token fits PKCS#9's 255 characters" 1 "$(( ${#token} <= 255 ))"
check "scepclient enrolls with a connector-signed challenge" mdm_enroll "sig-first-$RUN" "$token"
check "its certificate verifies against the CA" openssl verify -CAfile "$CA" "sig-first-$RUN.d/cert.pem"
before=$(signed_refusals reused)
if mdm_enroll "sig-again-$RUN" "$token"; then fail "a reused signed challenge is refused" "scepclient fails" "it enrolled"; fi
pass "a reused signed challenge is refused"
expect_eq "audited as scep_signed_challenge_reused" "$((before + 1))" "$(signed_refusals reused)"
for case in "bad_signature connector2.key" "wrong_audience connector.key - default" "expired connector.key - - -1200 600" \
            "not_yet_valid connector.key - - 3600 600"; do
    read -r code key id aud from valid <<<"$case"
    [ "$id" = - ] && id=; [ "${aud:-}" = - ] && aud=
    before=$(signed_refusals "$code")
    if mdm_enroll "sig-$code-$RUN" "$(signed_token "$key" "$id" "$aud" "${from:-0}" "${valid:-600}")"; then
        fail "a token that is $code is refused" "scepclient fails" "it enrolled"
    fi
    pass "a token that is $code is refused"
    expect_eq "audited as scep_signed_challenge_$code" "$((before + 1))" "$(signed_refusals "$code")"
done
if mdm_enroll "sig-static-$RUN" "$CERTCTL_SCEP_CHALLENGE"; then fail "the static challenge is not accepted by a signed-only profile" "fails" "enrolled"; fi
pass "the static challenge is not accepted by a signed-only profile"
# Connector rotation: add the new certificate to the bundle, reload through the API, no restart.
cat connector2.crt >>connectors.pem
api POST "/api/v1/admin/trust-anchors/conn-$RUN/reload"
expect_status 200
expect_eq "every replica loaded 2 connector certificates" true "$(jf '[.replicas[].certificate_count == 2] | all')"
check "after the reload a token of the rotated connector is accepted" mdm_enroll "sig-rotated-$RUN" "$(signed_token connector2.key)"
ADMIN_BIN=${CERTCTL_BIN_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && swift build --show-bin-path)}/certctl-admin
check "certctl-admin sign-scep-challenge makes a token scepclient enrolls with" \
    mdm_enroll "sig-cli-$RUN" "$("$ADMIN_BIN" sign-scep-challenge --key connector2.key --profile "mdm-$RUN" --ttl 300)"

# ---------------------------------------------------------------------------
section "5. approval (PENDING): scepclient and certmonger wait until an operator approves"
# A profile with require_approval, sharing the RA of profile default. scepclient resends its
# identical PKCSReq while PENDING; certmonger polls with GetCertInitial (CertPoll).
HELD="held-$RUN"
HELD_URL="${SCEP%/default}/$HELD"
MDM_PID= REJ_PID= WAIT_PID= CM_PID=
cleanup_held() {
    [ -z "$MDM_PID" ] || kill "$MDM_PID" 2>/dev/null || true
    [ -z "$REJ_PID" ] || kill "$REJ_PID" 2>/dev/null || true
    [ -z "$WAIT_PID" ] || kill "$WAIT_PID" 2>/dev/null || true
    [ -z "$CM_PID" ] || kill "$CM_PID" 2>/dev/null || true
    api DELETE "/api/v1/scep/profiles/$HELD" >/dev/null 2>&1 || true
}
trap 'rc=$?; cleanup_held; (exit $rc); interop_cleanup' EXIT
api GET /api/v1/scep/profiles/default
jq -n --arg name "$HELD" --arg cert "$(jf .ra_cert_path)" --arg key "$(jf .ra_key_path)" --arg secret "$CERTCTL_SCEP_CHALLENGE" \
    '{name: $name, issuer_id: "iss-local", ra_cert_path: $cert, ra_key_path: $key, static_challenge: $secret, require_approval: true}' >held.json
post_json /api/v1/scep/profiles held.json
expect_status 201
expect_eq "the profile says require_approval" true "$(jf .require_approval)"
pending_id() { # SUBJECT-FRAGMENT -> id of the pending request of profile $HELD whose subject contains it
    sql -c "SELECT id FROM enrollment_requests WHERE endpoint = '$HELD' AND status = 'pending' AND subject LIKE '%$1%'"
}
wait_pending() { # VAR SUBJECT-FRAGMENT
    local id=
    for _ in $(seq 150); do id=$(pending_id "$2"); [ -n "$id" ] && break; sleep 0.2; done
    printf -v "$1" '%s' "$id"
}

# scepclient resends its PKCSReq every 30 s (not configurable). Three runs overlap so the
# section waits out one resend, not five: one is approved before its resend (which then
# gets the certificate), one rejected (its resend gets FAILURE), one left pending (its
# resend must get PENDING again and no second request).
scepclient_run "mdm-held-$RUN" "$CERTCTL_SCEP_CHALLENGE" "$HELD_URL" &
MDM_PID=$!
scepclient_run "mdm-rej-$RUN" "$CERTCTL_SCEP_CHALLENGE" "$HELD_URL" &
REJ_PID=$!
scepclient_run "mdm-wait-$RUN" "$CERTCTL_SCEP_CHALLENGE" "$HELD_URL" &
WAIT_PID=$!
wait_pending mdm_id "mdm-held-$RUN"
expect_match "scepclient's request is stored pending" "$UUID_RE" "$mdm_id"
for _ in $(seq 100); do grep -q PENDING "mdm-held-$RUN.log" && break; sleep 0.2; done
expect_match "scepclient got PENDING and keeps polling" "pkiStatus=PENDING" "$(cat "mdm-held-$RUN.log")"
check "scepclient is still running" kill -0 "$MDM_PID"
expect_eq "no certificate before approval" "" "$(cat "mdm-held-$RUN.d/cert.pem" 2>/dev/null || true)"
api GET /api/v1/enrollment/requests -G --data-urlencode status=pending --data-urlencode protocol=scep --data-urlencode "endpoint=$HELD"
expect_status 200
expect_eq "the admin API lists it as pending" true "$(jf "[.items[].id] | any(. == \"$mdm_id\")")"
api POST "/api/v1/enrollment/requests/$mdm_id/approve"
expect_status 200
expect_eq "approving issues at once" issued "$(jf .status)"
api POST "/api/v1/enrollment/requests/$mdm_id/approve"
expect_status 409 enrollment_request_not_pending

# rejection: scepclient gets FAILURE and stops
wait_pending rej_id "mdm-rej-$RUN"
expect_match "the second scepclient request is pending" "$UUID_RE" "$rej_id"
api POST "/api/v1/enrollment/requests/$rej_id/reject" "${JSON[@]}" -d '{"reason": "not one of ours"}'
expect_status 200
expect_eq "rejected" rejected "$(jf .status)"
wait_pending wait_id "mdm-wait-$RUN"
expect_match "the third scepclient request is pending" "$UUID_RE" "$wait_id"

# certmonger: PKCSReq -> PENDING (CA_WORKING), approve, then `getcert resubmit` — and its own polling.
cat >certmonger-held.sh <<SH
set -e
for _ in \$(seq 50); do getcert list-cas -s >/dev/null 2>&1 && break; sleep 0.1; done
getcert add-scep-ca -s -c held-$RUN -u "$HELD_URL" -n >/dev/null
getcert request -s -c held-$RUN -k "$WORK/cm-held.key" -f "$WORK/cm-held.crt" -N "CN=cm-held-$RUN" -L "$CERTCTL_SCEP_CHALLENGE" >"$WORK/cm-held.getcert" 2>&1
for _ in \$(seq 100); do getcert list -s -f "$WORK/cm-held.crt" | grep -q "status: CA_WORKING" && break; sleep 0.2; done
getcert list -s -f "$WORK/cm-held.crt" >"$WORK/cm-held.status-pending" 2>&1 || true
cp -r "\$HOME/.config/certmonger/requests" "$WORK/cm-held.requests" || true
touch "$WORK/cm-held.waiting"
# the suite approves, then removes this file
for _ in \$(seq 300); do [ -e "$WORK/cm-held.waiting" ] || break; sleep 0.2; done
getcert resubmit -s -f "$WORK/cm-held.crt" >/dev/null 2>&1 || true
for _ in \$(seq 150); do getcert list -s -f "$WORK/cm-held.crt" | grep -q "status: MONITORING" && break; sleep 0.2; done
getcert list -s -f "$WORK/cm-held.crt" >"$WORK/cm-held.status" 2>&1 || true
SH
HOME="$WORK/cm-home" timeout 240 dbus-run-session -- bash certmonger-held.sh 2>certmonger-held-bus.log &
CM_PID=$!
for _ in $(seq 300); do [ -e cm-held.waiting ] && break; sleep 0.2; done
expect_match "certmonger reports the pending request as CA_WORKING" "status: CA_WORKING" "$(cat cm-held.status-pending 2>/dev/null)"
wait_pending cm_id "cm-held-$RUN"
expect_match "certmonger's request is stored pending" "$UUID_RE" "$cm_id"
# certmonger's own GetCertInitial (CertPoll) message, from its request state, sent by its helper
# as the daemon does (RA and CA certificates in the environment): exit 1 = WAIT, 0 = issued.
# (the session daemon keeps section 3's requests too: take this one's state file)
# certmonger writes the message it will send as scep_gic_next and keeps the one it sent as
# scep_gic. scep_gic_next may be signed with the key certmonger prepares for its next
# request (not cm-held.key), so wait for scep_gic in the live state; the copy taken at
# CA_WORKING is the fallback.
gic_from() { # STATE-FILE FIELD -> cm-held.gic.pem
    awk -v f="$2" '$0 ~ "^" f "=" { p = 1; sub("^" f "=", ""); print; next } p && /^ / { sub(/^ /, ""); print; next } { p = 0 }' \
        "${1:-/dev/null}" >cm-held.gic.pem
    grep -q "BEGIN PKCS7" cm-held.gic.pem
}
live_gic() {
    cm_state=$(grep -l "cm-held.crt" "$WORK"/cm-home/.config/certmonger/requests/* 2>/dev/null | head -1 || true)
    gic_from "$cm_state" scep_gic
}
if ! { for _ in $(seq 100); do live_gic && break; sleep 0.2; done; live_gic; }; then
    cm_state=$(grep -l "cm-held.crt" cm-held.requests/* | head -1 || true)
    gic_from "$cm_state" scep_gic || gic_from "$cm_state" scep_gic_next || true
fi
grep -q "BEGIN PKCS7" cm-held.gic.pem || fail "certmonger stored a GetCertInitial message" "scep_gic or scep_gic_next in its request state" \
    "state file '${cm_state}': $(grep -E '^(state|scep_[a-z_]*)=' "${cm_state:-/dev/null}" 2>/dev/null | cut -c1-60 | tr '\n' ' ')"
pass "certmonger stored a GetCertInitial message"
cm_poll() { # -> exit status of scep-submit -g, reply in cm-held.poll
    CERTMONGER_SCEP_RA_CERTIFICATE="$(cat ra.pem)" CERTMONGER_SCEP_CA_CERTIFICATE="$(cat "$CA")" \
        "$SUBMIT" -u "$HELD_URL" -g cm-held.gic.pem >cm-held.poll 2>cm-held.poll.err
}
rc=0; cm_poll || rc=$?
expect_eq "certmonger's GetCertInitial before approval: PENDING (scep-submit exit 1 = WAIT)" 1 "$rc"
api POST "/api/v1/enrollment/requests/$cm_id/approve"
expect_status 200
rc=0; cm_poll || rc=$?
expect_eq "certmonger's GetCertInitial after approval: SUCCESS (scep-submit exit 0)" 0 "$rc"
# enveloped to the key that signed the GetCertInitial: certmonger's request key (or, for
# scep_gic_next, the next key it keeps beside it)
for key in cm-held.key cm-held.key.*; do
    [ -e "$key" ] && openssl cms -decrypt -inform PEM -in cm-held.poll -inkey "$key" -out cm-held.poll.der 2>/dev/null && break
done
check "the CertPoll answer decrypts with certmonger's key" test -s cm-held.poll.der
openssl pkcs7 -inform DER -in cm-held.poll.der -print_certs -out cm-held.poll.crt
check "the certificate in the CertPoll answer (enveloped to certmonger's key) verifies against the CA" \
    openssl verify -CAfile "$CA" cm-held.poll.crt
rm -f cm-held.waiting
wait "$CM_PID" || true
CM_PID=
[ -s cm-held.crt ] || fail "certmonger gets the approved certificate" "a certificate in cm-held.crt" "$(cat cm-held.status cm-held.getcert 2>/dev/null | tail -20)"
pass "certmonger gets the approved certificate (getcert resubmit after approval)"
expect_eq "the same certificate as the GetCertInitial answer" "$(der_sha cm-held.poll.crt)" "$(der_sha cm-held.crt)"
check "its certificate verifies against the CA" openssl verify -CAfile "$CA" cm-held.crt
expect_eq "certmonger's certificate is the one the approval issued" \
    "$(sql -c "SELECT serial_hex FROM certificates WHERE id = (SELECT certificate_id FROM enrollment_requests WHERE id = '$cm_id')")" \
    "$(openssl x509 -in cm-held.crt -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')"

# the pending one's resend comes 30 s later: identical message, same senderNonce
for _ in $(seq 200); do [ "$(grep -c 'pkiStatus=PENDING' "mdm-wait-$RUN.log")" -ge 2 ] && break; sleep 0.25; done
expect_eq "scepclient resent its identical PKCSReq and got PENDING again" 2 "$(grep -c 'pkiStatus=PENDING' "mdm-wait-$RUN.log")"
expect_eq "the resend did not create a second request" 1 \
    "$(sql -c "SELECT count(*) FROM enrollment_requests WHERE endpoint = '$HELD' AND subject LIKE '%mdm-wait-$RUN%'")"
kill "$WAIT_PID" 2>/dev/null || true
wait "$WAIT_PID" 2>/dev/null || true
WAIT_PID=
api POST "/api/v1/enrollment/requests/$wait_id/reject" "${JSON[@]}" -d '{"reason": "interop cleanup"}'
expect_status 200
mdm_rc=0
for _ in $(seq 180); do kill -0 "$MDM_PID" 2>/dev/null || break; sleep 0.25; done
wait "$MDM_PID" || mdm_rc=$?
MDM_PID=
expect_eq "scepclient, approved while it waited, finishes with its next resend (exit 0)" 0 "$mdm_rc"
check "its certificate verifies against the CA" openssl verify -CAfile "$CA" "mdm-held-$RUN.d/cert.pem"
expect_eq "it certifies scepclient's key" "$(openssl pkey -in "mdm-held-$RUN.d/key.pem" -pubout | openssl sha256 -r)" \
    "$(openssl x509 -in "mdm-held-$RUN.d/cert.pem" -noout -pubkey | openssl sha256 -r)"

mdm_rc=0
for _ in $(seq 180); do kill -0 "$REJ_PID" 2>/dev/null || break; sleep 0.25; done
wait "$REJ_PID" || mdm_rc=$?
REJ_PID=
[ "$mdm_rc" != 0 ] && pass "scepclient fails after the rejection (exit $mdm_rc)" || fail "scepclient fails after the rejection" "exit != 0" "0"
expect_match "it reports FAILURE badRequest" "failInfo: badRequest|BadRequest" "$(cat "mdm-rej-$RUN.log")"
expect_eq "no certificate for the rejected request" "" "$(cat "mdm-rej-$RUN.d/cert.pem" 2>/dev/null || true)"
expect_eq "the rejection is audited" 1 "$(sql -c "SELECT count(*) FROM audit_events WHERE action = 'enrollment_request.reject' AND target_id = '$rej_id'")"

# ---------------------------------------------------------------------------
section "6. renewal: scepclient sends a RenewalReq signed with the certificate it holds"
# scepclient renews (RenewalReq, no challenge) when its -certificate file exists. Every refusal of the
# renewal rules is tested in-process: Tests/Integration/SCEPRenewalTests.swift.
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//'; }
# renew NAME: scepclient's RenewalReq to profile default; its exit status (scepclient_enroll's is cp's when a certificate is there)
renew() { (scepclient_run "$1" "" "$SCEP"); }
renewals_of() { sql -c "SELECT count(*) FROM audit_events WHERE action = 'scep.renew' AND outcome = 'success' AND details->>'renewed_serial' = '$1'"; }
old=$(serial_of "mdm-static-$RUN.d/cert.pem")
check "scepclient renews its certificate on the profile that issued it" renew "mdm-static-$RUN"
[ "$(serial_of "mdm-static-$RUN.d/cert.pem")" != "$old" ] && pass "it got a new certificate" \
    || fail "scepclient's renewal gets a new certificate" "a new serial" "$old"
check "the renewed certificate verifies against the CA" openssl verify -CAfile "$CA" "mdm-static-$RUN.d/cert.pem"
expect_eq "the renewal is audited as scep.renew with the renewed serial" 1 "$(renewals_of "$old")"
# a certificate of profile mdm-$RUN (section 4) renewed on profile default
restore_accepted() { api PATCH /api/v1/scep/profiles/default "${JSON[@]}" -d '{"accept_renewals_from": []}' >/dev/null 2>&1 || true; }
trap 'rc=$?; cleanup_held; restore_accepted; (exit $rc); interop_cleanup' EXIT
old=$(serial_of "sig-first-$RUN.d/cert.pem")
before=$(scep_refusals scep_renewal_other_endpoint)
if renew "sig-first-$RUN"; then fail "another profile's certificate does not renew on default" "scepclient fails" "it renewed"; fi
pass "another profile's certificate does not renew on default"
expect_eq "scepclient kept its certificate" "$old" "$(serial_of "sig-first-$RUN.d/cert.pem")"
expect_eq "audited as scep_renewal_other_endpoint" "$((before + 1))" "$(scep_refusals scep_renewal_other_endpoint)"
api PATCH /api/v1/scep/profiles/default "${JSON[@]}" -d "{\"accept_renewals_from\": [\"scep:mdm-$RUN\"]}"
expect_status 200
expect_eq "profile default now accepts scep:mdm-$RUN" "scep:mdm-$RUN" "$(jf '.accept_renewals_from | join(",")')"
check "then it renews there" renew "sig-first-$RUN"
expect_eq "audited as scep.renew with the renewed serial" 1 "$(renewals_of "$old")"
expect_eq "the new certificate belongs to profile default" scep:default \
    "$(sql -c "SELECT enrollment_endpoint FROM certificates WHERE serial_hex = '$(serial_of "sig-first-$RUN.d/cert.pem")'")"
api PATCH /api/v1/scep/profiles/default "${JSON[@]}" -d '{"accept_renewals_from": ["scep:Not A Name"]}'
expect_status 400 invalid_request
restore_accepted

interop_done
