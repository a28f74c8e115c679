#!/usr/bin/env bash
# Interop suite: EST (RFC 7030) over HTTPS with curl + openssl against the
# stack's label `default`: cacerts, csrattrs, serverkeygen, simpleenroll with HTTP Basic and
# with a client certificate (mTLS against trust bundle est-clients),
# simplereenroll with the issued certificate (and a mismatched subject), the
# renewal rules across labels (accept_renewals_from through the admin API) and
# revoked client certificates refused, a client certificate from an untrusted CA refused, then accepted after its CA
# is added to the bundle and the bundle is reloaded through the admin API —
# without restarting certctl-enroll —, and a broken bundle reload that keeps
# the old pool.
#
#   set -a; source <data>/dev.env; set +a; bash scripts/interop/est.sh
set -Eeuo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
require_env CERTCTL_EST_URL CERTCTL_EST_USER CERTCTL_EST_PASSWORD CERTCTL_EST_TLS_CA_PATH CERTCTL_EST_CLIENT_BUNDLE
interop_start
EST=$CERTCTL_EST_URL
TLS=(--cacert "$CERTCTL_EST_TLS_CA_PATH")
BUNDLE=$CERTCTL_EST_CLIENT_BUNDLE
cp "$BUNDLE" bundle.orig
restore_bundle() { cp "$WORK/bundle.orig" "$BUNDLE" 2>/dev/null || true; }
trap 'rc=$?; restore_bundle; (exit $rc); interop_cleanup' EXIT

# est OPERATION BODY-FILE CURL-ARGS...: POSTs to $EST/OPERATION, sets STATUS and BODY.
est() {
    local operation=$1 file=$2 rc=0; shift 2
    LAST_REQUEST="POST /.well-known/est/$operation"
    STATUS=$(curl -sS "${TLS[@]}" -o "$WORK/est.out" -w '%{http_code}' -H 'Content-Type: application/pkcs10' \
        --data-binary "@$file" "$@" "$EST/$operation" 2>"$WORK/curl.err") || rc=$?
    BODY=$(cat "$WORK/est.out" 2>/dev/null || true)
    [ "$rc" = 0 ] || STATUS="curl-exit-$rc"
}
# csr NAME CN [SAN]: NAME.key and base64 DER NAME.b64
csr() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -subj "/CN=$2" \
        -addext "subjectAltName=DNS:${3:-$2.example.com}" -outform DER 2>/dev/null | openssl base64 >"$1.b64"
}
# certs_of FILE OUT: the certificates of a base64 certs-only PKCS#7 response, as PEM.
certs_of() { openssl base64 -d -in "$1" | openssl pkcs7 -inform DER -print_certs -out "$2"; }
# Refusals are audited per source and window (500 ms on the dev stack), a row carrying details.count:
# wait for the window to be written, then count refusals.
est_refusals() { sleep 1; sql -c "SELECT coalesce(sum(coalesce((details->>'count')::int, 1)), 0) FROM audit_events
    WHERE action LIKE 'est.%' AND error_code = '$1'"; }
reload_bundle() {
    api POST /api/v1/admin/trust-anchors/est-clients/reload
}

# ---------------------------------------------------------------------------
section "1. cacerts and csrattrs"
STATUS=$(curl -sS "${TLS[@]}" -D headers -o cacerts.b64 -w '%{http_code}' "$EST/cacerts")
expect_eq "GET /cacerts -> 200" 200 "$STATUS"
expect_match "cacerts content type" "application/pkcs7-mime; smime-type=certs-only" "$(tr -d '\r' <headers | grep -i '^content-type')"
certs_of cacerts.b64 cacerts.pem
expect_eq "cacerts is the issuer's CA certificate" "$(der_sha "$CA")" "$(der_sha cacerts.pem)"
STATUS=$(curl -sS "${TLS[@]}" -D attrs.h -o csrattrs.b64 -w '%{http_code}' "$EST/csrattrs")
expect_eq "GET /csrattrs -> 200" 200 "$STATUS"
expect_match "csrattrs content type" "application/csrattrs" "$(tr -d '\r' <attrs.h | grep -i '^content-type')"
openssl base64 -d -in csrattrs.b64 -out csrattrs.der
api GET "/api/v1/profiles/$(api GET /api/v1/est/labels >/dev/null; jf '.items[] | select(.name == "default") | .profile_id')"
attrs=$(openssl asn1parse -inform DER -in csrattrs.der)
for algorithm in $(jf '.allowed_key_algorithms[]'); do
    case $algorithm in
        ecdsa-p256) want="id-ecPublicKey prime256v1 ecdsa-with-SHA256" ;;
        ecdsa-p384) want="id-ecPublicKey secp384r1 ecdsa-with-SHA384" ;;
        rsa-*) want="rsaEncryption sha256WithRSAEncryption" ;;
    esac
    for oid in $want; do check "csrattrs names $oid for $algorithm (openssl asn1parse)" grep -q ":$oid\$" <<<"$attrs"; done
done

# ---------------------------------------------------------------------------
section "2. simpleenroll with HTTP Basic"
csr basic "est-basic-$RUN"
est simpleenroll basic.b64 -u "$CERTCTL_EST_USER:$CERTCTL_EST_PASSWORD"
expect_status 200
certs_of est.out basic.crt
check "the issued certificate verifies against the CA" openssl verify -CAfile "$CA" basic.crt
expect_eq "it certifies the CSR's key" "$(openssl pkey -in basic.key -pubout | openssl sha256 -r)" \
    "$(openssl x509 -in basic.crt -noout -pubkey | openssl sha256 -r)"
serial=$(openssl x509 -in basic.crt -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
expect_eq "the certificate row says request_source est" est "$(sql -c "SELECT request_source FROM certificates WHERE serial_hex = '$serial'")"
# Refusals (wrong or missing credentials, content type, malformed or oversized bodies, unknown label) are
# covered in-process with their codes and an unchanged database: Tests/Integration/ESTRoutesTests.swift.

# ---------------------------------------------------------------------------
section "3. simplereenroll with the issued certificate"
est simplereenroll basic.b64 --cert basic.crt --key basic.key
expect_status 200
certs_of est.out renewed.crt
check "the renewed certificate verifies" openssl verify -CAfile "$CA" renewed.crt
expect_eq "same subject" "$(openssl x509 -in basic.crt -noout -subject)" "$(openssl x509 -in renewed.crt -noout -subject)"
openssl req -new -key basic.key -subj "/CN=someone-else-$RUN" -addext "subjectAltName=DNS:est-basic-$RUN.example.com" -outform DER \
    2>/dev/null | openssl base64 >other-subject.b64
before=$(est_refusals est_reenroll_subject_mismatch)
est simplereenroll other-subject.b64 --cert basic.crt --key basic.key
expect_status 403
expect_eq "a mismatched subject is audited" "$((before + 1))" "$(est_refusals est_reenroll_subject_mismatch)"
expect_eq "the renewal is audited with the renewed certificate's serial" "$serial" \
    "$(sql -c "SELECT details->>'renewed_serial' FROM audit_events WHERE action = 'est.simplereenroll' AND outcome = 'success'
        AND details->>'serial' = '$(openssl x509 -in renewed.crt -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')'")"

# ---------------------------------------------------------------------------
section "3a. renewal of another label's certificate; revoked client certificates"
# Other SANs, another subject, an unknown or expired certificate are refused in-process over TLS:
# Tests/Integration/ESTRenewalTests.swift. Here: the admin API's accept_renewals_from, and revocation.
OTHER="other-$RUN"
api POST /api/v1/est/labels "${JSON[@]}" -d "{\"name\": \"$OTHER\", \"issuer_id\": \"$ISSUER\", \"allow_basic\": true}"
expect_status 201
expect_eq "a new label accepts no other label's certificates" 0 "$(jf '.accept_renewals_from | length')"
api POST "/api/v1/est/labels/$OTHER/users" "${JSON[@]}" -d '{"username": "other-device"}'
expect_status 201
OTHER_AUTH="other-device:$(jf .password)"
csr moved "est-moved-$RUN"
est "$OTHER/simpleenroll" moved.b64 -u "$OTHER_AUTH"
expect_status 200
certs_of est.out moved.crt
before=$(est_refusals est_reenroll_other_endpoint)
est simplereenroll moved.b64 --cert moved.crt --key moved.key
expect_status 403
expect_eq "renewing label $OTHER's certificate on label default is refused and audited" "$((before + 1))" \
    "$(est_refusals est_reenroll_other_endpoint)"
restore_accepted() { api PATCH /api/v1/est/labels/default "${JSON[@]}" -d '{"accept_renewals_from": []}' >/dev/null 2>&1 || true; }
trap 'rc=$?; restore_bundle; restore_accepted; (exit $rc); interop_cleanup' EXIT
api PATCH /api/v1/est/labels/default "${JSON[@]}" -d "{\"accept_renewals_from\": [\"est:$OTHER\"]}"
expect_status 200
expect_eq "label default now accepts est:$OTHER" "est:$OTHER" "$(jf '.accept_renewals_from | join(",")')"
est simplereenroll moved.b64 --cert moved.crt --key moved.key
expect_status 200
certs_of est.out moved-renewed.crt
check "the cross-label renewal verifies against the CA" openssl verify -CAfile "$CA" moved-renewed.crt
expect_eq "the renewed certificate belongs to label default" est:default \
    "$(sql -c "SELECT enrollment_endpoint FROM certificates WHERE serial_hex = '$(openssl x509 -in moved-renewed.crt -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')'")"
api PATCH /api/v1/est/labels/default "${JSON[@]}" -d '{"accept_renewals_from": ["routers"]}'
expect_status 400 invalid_request
api PATCH /api/v1/est/labels/default "${JSON[@]}" -d "{\"accept_renewals_from\": [\"est:$OTHER\", \"est:$OTHER\"]}"
expect_status 400 invalid_request
api PATCH "/api/v1/est/labels/nope-$RUN" "${JSON[@]}" -d '{"accept_renewals_from": []}'
expect_status 404 est_label_not_found
api GET /api/v1/est/labels
expect_eq "refused updates changed nothing" "est:$OTHER" "$(jf '.items[] | select(.name == "default") | .accept_renewals_from | join(",")')"
restore_accepted
# revoke the certificate the client authenticates with: mTLS simpleenroll and simplereenroll refuse it
moved_serial=$(openssl x509 -in moved-renewed.crt -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
api POST "/api/v1/certificates/$(sql -c "SELECT id FROM certificates WHERE serial_hex = '$moved_serial'")/revoke" "${JSON[@]}" \
    -d '{"reason": "keyCompromise"}'
expect_status 200
csr after-revoke "est-after-revoke-$RUN"
rows=$(row_count certificates)
before=$(est_refusals est_client_certificate_revoked)
est simpleenroll after-revoke.b64 --cert moved-renewed.crt --key moved.key
expect_status 403
expect_eq "mTLS simpleenroll with a revoked certctl certificate is refused and audited" "$((before + 1))" \
    "$(est_refusals est_client_certificate_revoked)"
before=$(est_refusals est_reenroll_revoked)
est simplereenroll moved.b64 --cert moved-renewed.crt --key moved.key
expect_status 403
expect_eq "simplereenroll of a revoked certificate is refused and audited" "$((before + 1))" "$(est_refusals est_reenroll_revoked)"
expect_eq "nothing was issued for them" "$rows" "$(row_count certificates)"

# ---------------------------------------------------------------------------
section "3b. serverkeygen: the server makes the key (same type as the CSR's)"
# part N (1 = key, 2 = certificate) of a multipart/mixed body, base64 decoded
mime_part() { tr -d '\r' <"$1" | awk -v n="$2" '/^--/ { part++; body = 0; next } part == n && body { print } part == n && /^$/ { body = 1 }' | openssl base64 -d; }
for type in ec rsa; do
    if [ $type = ec ]; then newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); else newkey=(-newkey rsa:2048); fi
    openssl req -new "${newkey[@]}" -nodes -keyout "skg-$type.csr-key" -subj "/CN=est-skg-$type-$RUN" \
        -addext "subjectAltName=DNS:est-skg-$type-$RUN.example.com" -outform DER 2>/dev/null | openssl base64 >"skg-$type.b64"
    STATUS=$(curl -sS "${TLS[@]}" -u "$CERTCTL_EST_USER:$CERTCTL_EST_PASSWORD" -H 'Content-Type: application/pkcs10' \
        --data-binary "@skg-$type.b64" -D "skg-$type.h" -o "skg-$type.out" -w '%{http_code}' "$EST/serverkeygen")
    expect_eq "POST /serverkeygen ($type) -> 200" 200 "$STATUS"
    expect_match "multipart/mixed response" "multipart/mixed; boundary=" "$(tr -d '\r' <"skg-$type.h" | grep -i '^content-type')"
    mime_part "skg-$type.out" 1 >"skg-$type.p8"
    mime_part "skg-$type.out" 2 | openssl pkcs7 -inform DER -print_certs -out "skg-$type.crt"
    check "the private key is PKCS#8 ($type)" openssl pkey -inform DER -in "skg-$type.p8" -noout
    check "the certificate verifies ($type)" openssl verify -CAfile "$CA" "skg-$type.crt"
    expect_eq "the certificate certifies the returned key, not the CSR's ($type)" \
        "$(openssl pkey -inform DER -in "skg-$type.p8" -pubout | openssl sha256 -r)" \
        "$(openssl x509 -in "skg-$type.crt" -noout -pubkey | openssl sha256 -r)"
    expect_eq "it keeps the requested subject ($type)" "subject=CN = est-skg-$type-$RUN" "$(openssl x509 -in "skg-$type.crt" -noout -subject)"
done
expect_match "the RSA key is RSA 2048" "2048 bit" "$(openssl pkey -inform DER -in skg-rsa.p8 -noout -text | head -1)"

# ---------------------------------------------------------------------------
section "4. simpleenroll with a client certificate (mTLS against est-clients)"
csr mtls "est-mtls-$RUN"
est simpleenroll mtls.b64 --cert basic.crt --key basic.key
expect_status 200
# An outside CA, not in the bundle.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ext-ca.key -out ext-ca.crt \
    -subj "/CN=external CA $RUN" -days 2 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ext.key -subj "/CN=ext-client-$RUN" -out ext.csr 2>/dev/null
openssl x509 -req -in ext.csr -CA ext-ca.crt -CAkey ext-ca.key -CAcreateserial -days 1 -out ext.crt 2>/dev/null
csr ext-req "est-ext-$RUN"
EXT_SHA=$(openssl x509 -in ext.crt -outform DER | openssl sha256 -r | cut -d' ' -f1)
# ROWS COUNT: audit rows and the refusals they count (details.count)
tls_refusals() { sql -c "SELECT count(*) || ' ' || coalesce(sum((details->>'count')::int), 0) FROM audit_events
    WHERE action = 'est.tls_handshake' AND outcome = 'denied'
    AND error_code = 'est_client_certificate_untrusted' AND details->>'sha256' = '$EXT_SHA'
    AND details->>'source' ~ '^[0-9a-f.:]+$'"; }
est simpleenroll ext-req.b64 --cert ext.crt --key ext.key
[ "$STATUS" != 200 ] && pass "a client certificate from an untrusted CA is refused ($STATUS)" \
    || fail "a client certificate from an untrusted CA is refused" "not 200" "$STATUS"
for _ in $(seq 50); do [ "$(tls_refusals)" = "1 1" ] && break; sleep 0.1; done
expect_eq "the TLS-level refusal is audited as est_client_certificate_untrusted" "1 1" "$(tls_refusals)"
# a client retrying in a loop: one row per window with the count, not one row per handshake
for _ in 1 2 3 4 5; do est simpleenroll ext-req.b64 --cert ext.crt --key ext.key; done
sleep 1
expect_match "5 retries are counted in one row per 500 ms window, not one row each (no audit flood)" '^[234] 6$' "$(tls_refusals)"
# a new self-signed certificate on every handshake: still one row per source address and window
since=$(sql -c "SELECT max(id) FROM audit_events")
for i in 1 2 3; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "self$i.key" -out "self$i.crt" \
        -subj "/CN=self-signed-$i-$RUN" -days 1 2>/dev/null
done
for i in 1 2 3; do
    curl -sS "${TLS[@]}" --cert "self$i.crt" --key "self$i.key" -o /dev/null -H 'Content-Type: application/pkcs10' \
        --data-binary @ext-req.b64 "$EST/simpleenroll" 2>/dev/null &
done
wait
sleep 1
expect_match "3 certificates at once from one address: counted 3, in 1-2 rows (one per window), not 3" '^[12] 3$' \
    "$(sql -c "SELECT count(*) || ' ' || coalesce(sum((details->>'count')::int), 0) FROM audit_events
        WHERE id > $since AND action = 'est.tls_handshake' AND error_code = 'est_client_certificate_untrusted'")"
cat ext-ca.crt >>"$BUNDLE"
reload_bundle
expect_status 200
expect_eq "every replica reloaded" true "$(jf '[.replicas[].ok] | all')"
expect_eq "the new pool has 2 certificates" 2 "$(jf '.replicas[0].certificate_count')"
est simpleenroll ext-req.b64 --cert ext.crt --key ext.key
expect_status 200
certs_of est.out ext-issued.crt
check "after the reload (no restart) it is accepted and issued" openssl verify -CAfile "$CA" ext-issued.crt

# ---------------------------------------------------------------------------
section "5. a broken bundle reload keeps the old pool"
printf -- '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n' >"$BUNDLE"
reload_bundle
expect_status 422
expect_eq "the replica reports the typed error" trust_bundle_unparsable "$(jf '.replicas[0].error')"
expect_eq "and still holds the old pool" 2 "$(jf '.replicas[0].certificate_count')"
csr ext-req2 "est-ext2-$RUN"
est simpleenroll ext-req2.b64 --cert ext.crt --key ext.key
expect_status 200
: >"$BUNDLE"
reload_bundle
expect_eq "an empty bundle is refused" trust_bundle_empty "$(jf '.replicas[0].error')"
restore_bundle
reload_bundle
expect_status 200
expect_eq "restored: back to the original pool" 1 "$(jf '.replicas[0].certificate_count')"
est simpleenroll ext-req2.b64 --cert ext.crt --key ext.key
[ "$STATUS" != 200 ] && pass "the external CA is untrusted again ($STATUS)" || fail "the external CA is untrusted again" "not 200" "$STATUS"

# ---------------------------------------------------------------------------
section "6. approval: 202 + Retry-After until an operator approves (RFC 7030 §4.2.3)"
HELD="held-$RUN"
HELD_EST="${EST%/.well-known/est}/.well-known/est/$HELD"
api POST /api/v1/est/labels "${JSON[@]}" -d "{\"name\": \"$HELD\", \"issuer_id\": \"$ISSUER\", \"allow_basic\": true, \"require_approval\": true}"
expect_status 201
expect_eq "the label says require_approval" true "$(jf .require_approval)"
api POST "/api/v1/est/labels/$HELD/users" "${JSON[@]}" -d '{"username": "held-device"}'
expect_status 201
HELD_AUTH="held-device:$(jf .password)"
# held OPERATION BODY-FILE CURL-ARGS...: like est, against the approval label, keeping the headers.
held() {
    local operation=$1 file=$2 rc=0; shift 2
    LAST_REQUEST="POST /.well-known/est/$HELD/$operation"
    STATUS=$(curl -sS "${TLS[@]}" -D "$WORK/held.headers" -o "$WORK/est.out" -w '%{http_code}' -H 'Content-Type: application/pkcs10' \
        --data-binary "@$file" "$@" "$HELD_EST/$operation" 2>"$WORK/curl.err") || rc=$?
    BODY=$(cat "$WORK/est.out" 2>/dev/null || true)
    [ "$rc" = 0 ] || STATUS="curl-exit-$rc"
}
retry_after() { tr -d '\r' <"$WORK/held.headers" | awk -F': ' 'tolower($1) == "retry-after" { print $2 }'; }
csr held-a "est-held-a-$RUN"
rows=$(row_count certificates)
held simpleenroll held-a.b64 -u "$HELD_AUTH"
expect_status 202
expect_match "202 carries Retry-After (seconds)" '^[0-9]+$' "$(retry_after)"
held simpleenroll held-a.b64 -u "$HELD_AUTH"
expect_status 202
expect_eq "the same CSR again is the same request (one row)" 1 \
    "$(sql -c "SELECT count(*) FROM enrollment_requests WHERE endpoint = '$HELD' AND subject = 'CN=est-held-a-$RUN'")"
expect_eq "nothing issued while pending" "$rows" "$(row_count certificates)"
held serverkeygen held-a.b64 -u "$HELD_AUTH"
expect_status 403
expect_match "serverkeygen is refused under approval" "requires approval" "$BODY"
api GET /api/v1/enrollment/requests -G --data-urlencode status=pending --data-urlencode protocol=est --data-urlencode "endpoint=$HELD"
expect_status 200
held_id=$(jf '.items[] | select(.subject == "CN=est-held-a-'"$RUN"'") | .id')
expect_match "the admin API lists it" "$UUID_RE" "$held_id"
expect_eq "with its requester" "est:$HELD:held-device" "$(jf '.items[] | select(.id == "'"$held_id"'") | .requester')"
api POST "/api/v1/enrollment/requests/$held_id/approve"
expect_status 200
expect_eq "approved and issued" issued "$(jf .status)"
held simpleenroll held-a.b64 -u "$HELD_AUTH"
expect_status 200
certs_of est.out held-a.crt
check "the approved certificate verifies against the CA" openssl verify -CAfile "$CA" held-a.crt
expect_eq "it certifies the CSR's key" "$(openssl pkey -in held-a.key -pubout | openssl sha256 -r)" \
    "$(openssl x509 -in held-a.crt -noout -pubkey | openssl sha256 -r)"
held simpleenroll held-a.b64 -u "$HELD_AUTH"
expect_status 200
certs_of est.out held-a2.crt
expect_eq "asking again returns the same certificate (no second issuance)" "$(der_sha held-a.crt)" "$(der_sha held-a2.crt)"
held simpleenroll held-a.b64 -u "$CERTCTL_EST_USER:$CERTCTL_EST_PASSWORD"
expect_status 401
# simplereenroll is held the same way (actor: the certificate being renewed)
openssl req -new -key held-a.key -subj "/CN=est-held-a-$RUN" -addext "subjectAltName=DNS:est-held-a-$RUN.example.com" \
    -outform DER 2>/dev/null | openssl base64 >held-a-renew.b64
held simplereenroll held-a-renew.b64 --cert held-a.crt --key held-a.key
expect_status 202
api GET /api/v1/enrollment/requests -G --data-urlencode status=pending --data-urlencode "endpoint=$HELD"
renew_id=$(jf '.items[] | select(.operation == "simplereenroll") | .id')
expect_match "the renewal is listed as a pending simplereenroll" "$UUID_RE" "$renew_id"
api POST "/api/v1/enrollment/requests/$renew_id/approve"
expect_status 200
held simplereenroll held-a-renew.b64 --cert held-a.crt --key held-a.key
expect_status 200
certs_of est.out held-a-renewed.crt
check "the approved renewal verifies against the CA" openssl verify -CAfile "$CA" held-a-renewed.crt
[ "$(der_sha held-a.crt)" != "$(der_sha held-a-renewed.crt)" ] && pass "it is a new certificate" \
    || fail "the approved renewal is a new certificate" "another certificate" "the same one"

csr held-b "est-held-b-$RUN"
held simpleenroll held-b.b64 -u "$HELD_AUTH"
expect_status 202
api GET /api/v1/enrollment/requests -G --data-urlencode status=pending --data-urlencode "endpoint=$HELD"
held_b=$(jf '.items[] | select(.subject == "CN=est-held-b-'"$RUN"'") | .id')
api POST "/api/v1/enrollment/requests/$held_b/reject" "${JSON[@]}" -d '{"reason": "unknown router"}'
expect_status 200
expect_eq "rejected" rejected "$(jf .status)"
before=$(est_refusals est_request_rejected)
held simpleenroll held-b.b64 -u "$HELD_AUTH"
expect_status 403
expect_match "the refusal names the reason" "unknown router" "$BODY"
expect_eq "the refusal is audited as est_request_rejected" "$((before + 1))" "$(est_refusals est_request_rejected)"
api POST "/api/v1/enrollment/requests/$held_b/approve"
expect_status 409 enrollment_request_not_pending

interop_done
