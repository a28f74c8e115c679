#!/usr/bin/env bash
# CA key rotation drill: docs/disaster-recovery.md, "CA key rotation", run
# with the doc's own commands (`certctl-admin issuer …` with admin's
# configuration, taken from the running admin process) against the whole
# stack, on an issuer of its own so the other suites keep theirs. Every
# promise is checked with openssl only:
#   - certificates of generation 1 keep verifying, by CRL and by OCSP, after
#     a self-signed rotation and after a sub-CA rotation;
#   - generation 1's CRL keeps its URL, keeps increasing its number and picks
#     up a revocation made after the rotation;
#   - once generation 1's last certificate expired (short validities) it is
#     archived, and its final CRL stays served until its CA certificate expires.
# Needs the stack's dev.env exported, CERTCTL_CRL_URL, CERTCTL_OCSP_URL and
# CERTCTL_DEV_DATA; the signer must run with a short
# CERTCTL_SIGNER_ARCHIVE_GRACE (scripts/dev sets 10s).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
require_env CERTCTL_CRL_URL CERTCTL_OCSP_URL CERTCTL_DEV_DATA
interop_start
OCSP=${CERTCTL_OCSP_URL%/}
DRILL=drill-$RUN
LEAF_SECONDS=60   # the API's shortest validity

# The doc's commands run as `certctl-admin …` with admin's environment.
admin_pid=$(cat "$CERTCTL_DEV_DATA/run/admin.pid")
mapfile -d '' admin_env <"/proc/$admin_pid/environ"
admin_exe=$(process_exe "$admin_pid")
certctl_admin() { env -i "${admin_env[@]}" "$admin_exe" "$@"; }

generation_field() { # GENERATION JQ-FIELD: from GET /api/v1/issuers/$DRILL
    api GET "/api/v1/issuers/$DRILL"
    jq -r --argjson g "$1" ".generations[] | select(.generation == \$g) | $2" <<<"$BODY"
}
# leaf NAME [EXTRA-JSON]: issues a P-256 leaf under $DRILL; NAME.pem, NAME_ID, NAME_SERIAL
leaf() {
    new_csr "$1.csr" "$P256" "$1.$RUN.rotation.test" "DNS:$1.$RUN.rotation.test"
    issue_body "$1.csr" "{issuer_id: \"$DRILL\"} + ${2:-{\}}" >"$1.json"
    post_json /api/v1/certificates "$1.json"
    expect_status 201
    jf .certificate_pem >"$1.pem"
    printf -v "${1}_ID" '%s' "$(jf .id)"
    printf -v "${1}_SERIAL" '%s' "$(jf .serial_hex)"
}
revoke() { printf '{"reason": "%s"}' "$2" >revoke.json; post_json "/api/v1/certificates/$1/revoke" revoke.json; expect_status 200; }
cdp() { openssl x509 -in "$1" -noout -ext crlDistributionPoints | sed -n 's/^ *URI://p'; }
ca_issuers() { openssl x509 -in "$1" -noout -ext authorityInfoAccess | sed -n 's/^ *CA Issuers - URI://p'; }
# fetch_crl URL OUT: DER CRL at URL → OUT (DER) and OUT.pem
fetch_crl() {
    curl -fsS -o "$2" "$1"
    openssl crl -inform DER -in "$2" -out "$2.pem"
}
crl_number() { local hex; hex=$(openssl crl -in "$1" -noout -crlnumber | cut -d= -f2); echo $((16#${hex#0x})); }  # decimal
crl_verify() { openssl crl -in "$1" -CAfile "$2" -noout 2>&1; }
on_crl() { openssl crl -in "$2" -noout -text | grep -qi "Serial Number: 0*$1\$"; }
# ocsp CERT ISSUER [DIGEST]: openssl ocsp status lines (CertID hashed with DIGEST, default SHA-1), verified against ISSUER
ocsp() {
    local cert=$1 issuer=$2 digest=()
    [ -z "${3:-}" ] || digest=("-$3")   # openssl wants the digest before -cert
    openssl ocsp -issuer "$issuer" "${digest[@]}" -cert "$cert" -url "$OCSP/.well-known/pki/ocsp/$DRILL" -CAfile "$issuer" 2>&1 || true
}
# wait_until SECONDS COMMAND...: polls until the command succeeds
wait_until() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.25; done
}
crl_lists() { fetch_crl "$1" poll.der && on_crl "$2" poll.der.pem; }

section "generation 1: certctl-admin issuer create"
certctl_admin issuer create "$DRILL" --subject "/O=certctl drill/CN=Drill CA $RUN" --days 30 >create.out
expect_match "created as generation 1, active" "generation 1: active" "$(cat create.out)"
generation_field 1 .certificate_pem >g1.pem
expect_eq "generation 1 is self-signed" "$(openssl x509 -in g1.pem -noout -subject)" \
    "subject=$(openssl x509 -in g1.pem -noout -issuer | cut -d= -f2-)"
leaf A "{validity_seconds: $LEAF_SECONDS}"
leaf R "{validity_seconds: $LEAF_SECONDS}"
leaf N "{validity_seconds: $LEAF_SECONDS}"
G1_CRL=$(cdp A.pem)
expect_eq "a leaf's CDP names its generation's CRL" "$CERTCTL_CRL_URL/.well-known/pki/crl/$DRILL/1" "$G1_CRL"
curl -fsS -o g1-aia.der "$(ca_issuers A.pem)"
expect_eq "its caIssuers URL serves generation 1's certificate" "$(openssl x509 -in g1.pem -outform DER | sha256sum)" \
    "$(sha256sum <g1-aia.der)"
revoke "$R_ID" keyCompromise
check "generation 1's CRL lists R (revoked before the rotation)" wait_until 10 crl_lists "$G1_CRL" "$R_SERIAL"
fetch_crl "$G1_CRL" g1-before.der
expect_eq "generation 1's CRL verifies under generation 1" "verify OK" "$(crl_verify g1-before.der.pem g1.pem)"
N1=$(crl_number g1-before.der.pem)

section "self-signed rotation: certctl-admin issuer rotate --cross-certificate"
certctl_admin issuer rotate "$DRILL" --cross-certificate >rotate.out
expect_match "generation 2 active at once" "generation 2: active" "$(cat rotate.out)"
expect_match "a cross-certificate is printed" "cross-certificate" "$(cat rotate.out)"
expect_eq "generation 1 retired" retired "$(generation_field 1 .status)"
generation_field 2 .certificate_pem >g2.pem
generation_field 2 .cross_certificate_pem >g2-cross.pem
check "the cross-certificate (new key, old issuer) verifies under generation 1" openssl verify -CAfile g1.pem g2-cross.pem
leaf B
expect_eq "B's CDP names generation 2's CRL" "$CERTCTL_CRL_URL/.well-known/pki/crl/$DRILL/2" "$(cdp B.pem)"
check "B verifies with generation 2" openssl verify -CAfile g2.pem B.pem
expect_match "B does not verify with generation 1" "error" "$(openssl verify -CAfile g1.pem B.pem 2>&1 || true)"
check "B verifies through the cross-certificate for a relying party trusting only generation 1" \
    openssl verify -CAfile g1.pem -untrusted g2-cross.pem B.pem

section "OCSP for both generations"
expect_match "A: good, signed for generation 1" "A.pem: good" "$(ocsp A.pem g1.pem)"
expect_match "A: the response verifies with generation 1's chain" "Response verify OK" "$(ocsp A.pem g1.pem)"
expect_match "R: revoked, keyCompromise" "Reason: keyCompromise" "$(ocsp R.pem g1.pem)"
expect_match "B: good under generation 2" "B.pem: good" "$(ocsp B.pem g2.pem)"
for hash in sha256 sha384 sha512; do
    expect_match "A with a $hash CertID: good" "A.pem: good" "$(ocsp A.pem g1.pem $hash)"
done
mixed=$(openssl ocsp -issuer g1.pem -cert A.pem -issuer g2.pem -cert B.pem -url "$OCSP/.well-known/pki/ocsp/$DRILL" \
    -CAfile g1.pem 2>&1 || true)
expect_match "a request mixing generations: A answered good by generation 1's responder" "A.pem: good" "$mixed"
expect_match "… and B unknown (one response has one signer; docs/crl-ocsp.md)" "B.pem: unknown" "$mixed"

section "a generation-1 revocation after the rotation reaches generation 1's CRL"
revoke "$N_ID" superseded
check "generation 1's CRL lists N within seconds" wait_until 10 crl_lists "$G1_CRL" "$N_SERIAL"
fetch_crl "$G1_CRL" g1-after.der
expect_eq "still verifies under generation 1" "verify OK" "$(crl_verify g1-after.der.pem g1.pem)"
check "it still lists R" on_crl "$R_SERIAL" g1-after.der.pem
N2=$(crl_number g1-after.der.pem)
check "its number increased ($N1 → $N2)" test "$N2" -gt "$N1"
expect_match "N: revoked, superseded (OCSP)" "Reason: superseded" "$(ocsp N.pem g1.pem)"
check "openssl verify -crl_check: A with generation 1's CRL" openssl verify -crl_check -CAfile g1.pem -CRLfile g1-after.der.pem A.pem
expect_match "openssl verify -crl_check: N is revoked" "certificate revoked" \
    "$(openssl verify -crl_check -CAfile g1.pem -CRLfile g1-after.der.pem N.pem 2>&1 || true)"
fetch_crl "$(cdp B.pem)" g2.der
check "openssl verify -crl_check: B with generation 2's CRL" openssl verify -crl_check -CAfile g2.pem -CRLfile g2.der.pem B.pem
expect_eq "generation 2's CRL does not list generation 1's revocations" 0 \
    "$(openssl crl -in g2.der.pem -noout -text | grep -c 'Serial Number' || true)"

section "sub-CA rotation: CSR out, the parent's certificate in"
openssl req -x509 $P256 -nodes -keyout root.key -out root.pem -days 30 -subj "/O=certctl drill/CN=Enterprise Root $RUN" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
certctl_admin issuer rotate "$DRILL" --mode sub-ca --csr-out g3.csr >rotate3.out
expect_match "generation 3 pending with a CSR" "generation 3: pending" "$(cat rotate3.out)"
check "the CSR is signed by its key" openssl req -in g3.csr -noout -verify
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,digitalSignature,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >subca.ext
openssl x509 -req -in g3.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 -extfile subca.ext -out g3.pem 2>/dev/null
certctl_admin issuer install-certificate "$DRILL" 3 --certificate g3.pem --chain root.pem >install.out
expect_match "generation 3 active once installed" "generation 3: active" "$(cat install.out)"
expect_eq "generation 2 retired" retired "$(generation_field 2 .status)"
leaf C
fetch_crl "$(cdp C.pem)" g3.der
check "C verifies to the enterprise root, with generation 3's CRL" \
    openssl verify -crl_check -CAfile root.pem -untrusted g3.pem -CRLfile g3.der.pem C.pem
expect_match "B still good by OCSP after a second rotation" "B.pem: good" "$(ocsp B.pem g2.pem)"
expect_match "A still good by OCSP" "A.pem: good" "$(ocsp A.pem g1.pem)"

section "a signer restart keeps every generation (the keys come from CERTCTL_SIGNER_KEY_DIR)"
stop_signer
check "the signer is ready again" start_signer 20
expect_eq "generation 3 still active, 2 retired" "active retired" "$(generation_field 3 .status) $(generation_field 2 .status)"
leaf D
check "D (after the restart) verifies under generation 3" openssl verify -CAfile root.pem -untrusted g3.pem D.pem
revoke "$B_ID" cessationOfOperation
check "the retired generation 2 signs its CRL after the restart: it lists B" wait_until 20 crl_lists "$(cdp B.pem)" "$B_SERIAL"
fetch_crl "$(cdp B.pem)" g2-after.der
expect_eq "generation 2's CRL verifies under generation 2" "verify OK" "$(crl_verify g2-after.der.pem g2.pem)"
expect_match "B revoked by OCSP (generation 2's responder)" "Reason: cessationOfOperation" "$(ocsp B.pem g2.pem)"
certctl_admin doctor >doctor.out && doctor_status=0 || doctor_status=$?
expect_eq "certctl-admin doctor exits 0 (no FAIL line): $(grep -c . doctor.out) checks" "0 0" \
    "$doctor_status $(grep -c '^FAIL' doctor.out || true)$(grep '^FAIL' doctor.out | sed 's/^/ | /' | tr -d '\n' || true)"
expect_match "doctor reports the signer's view of generation 3's key file" "ok +key file $DRILL/3: .*\(owner only\)" \
    "$(cat doctor.out)"

section "archive: generation 1 after its last certificate expired"
# A, R and N expire LEAF_SECONDS after issuance; the signer archives generation 1
# CERTCTL_SIGNER_ARCHIVE_GRACE later, and the CRL tier then publishes its final CRL.
archived() { [ "$(generation_field 1 .status)" = archived ]; }
check "generation 1 archived" wait_until $((LEAF_SECONDS + 60)) archived
expect_eq "generation 2 (B unexpired) stays retired" retired "$(generation_field 2 .status)"
final_crl() { fetch_crl "$G1_CRL" final.der && [ "$(crl_number final.der.pem)" -gt "$N2" ] &&
    [ "$(epoch "$(openssl crl -in final.der.pem -noout -nextupdate | cut -d= -f2)")" -gt $(( $(date +%s) + 86400 )) ]; }
check "generation 1's final CRL is published" wait_until 20 final_crl
expect_eq "its nextUpdate is generation 1's notAfter" \
    "$(epoch "$(openssl x509 -in g1.pem -noout -enddate | cut -d= -f2)")" \
    "$(epoch "$(openssl crl -in final.der.pem -noout -nextupdate | cut -d= -f2)")"
expect_eq "the final CRL verifies under generation 1" "verify OK" "$(crl_verify final.der.pem g1.pem)"
expect_match "archiving is audited" "^[1-9]" \
    "$(sql -c "SELECT count(*) FROM audit_events WHERE action = 'issuer.generation.archive' AND target_id = '$DRILL/1'")"
certctl_admin issuer generations "$DRILL" >generations.out
expect_match "certctl-admin issuer generations lists the three states" "1	archived.*2	retired.*3	active" \
    "$(tr '\n' ' ' <generations.out)"

interop_done
