#!/usr/bin/env bash
# Disaster-recovery drills: the procedures of docs/disaster-recovery.md run
# with the doc's own commands (psql, rm, curl, kill, pg_dump/pg_restore,
# certctl-admin) against the dev stack, each followed by a check, with real
# clients, of the end state the doc promises:
#   1. CRL cache loss (DELETE one row, TRUNCATE)
#   2. OCSP responder certificate loss (the row; the row and the key file)
#   3. OCSP response cache loss (one row; TRUNCATE)
#   4. trust-bundle reload (admin API and SIGHUP; a broken file keeps the old pool)
#   5. Postgres restore (pg_dump -Fc, DROP DATABASE, provision-database,
#      pg_restore in sections, certctl-admin migrate, CRL number raised,
#      services back, revocations made after the backup re-applied)
# Check names say "step N" after the numbered steps of the doc's sections.
# The CA key rotation drill is scripts/interop/rotation.sh (not here).
# The restore drill stops and starts every service of the stack; the suite
# leaves all of them running and ready (suites that run after it need them).
#
#   set -a; source <data>/dev.env; set +a; bash scripts/interop/dr.sh
set -Eeuo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
require_env CERTCTL_CRL_URL CERTCTL_OCSP_URL CERTCTL_DEV_DATA CERTCTL_BIN_DIR CERTCTL_EST_URL CERTCTL_EST_TLS_CA_PATH \
    CERTCTL_EST_CLIENT_BUNDLE
ensure_packages postgresql-client:pg_dump
interop_start
DATA=$CERTCTL_DEV_DATA
CRL=${CERTCTL_CRL_URL%/}/.well-known/pki/crl/$ISSUER
OCSP=${CERTCTL_OCSP_URL%/}/.well-known/pki/ocsp/$ISSUER
SERVICES=(signer admin ocsp crl enroll)   # start order of scripts/dev
BUNDLE=$CERTCTL_EST_CLIENT_BUNDLE
cp "$BUNDLE" "$WORK/bundle.orig"

# ---------------------------------------------------------------------------
# Stack processes. Each service is restarted with the environment and
# executable it was started with (read from /proc), so its pid file stays
# right for `scripts/dev down`.

pid_of() { cat "$DATA/run/$1.pid" 2>/dev/null; }
running() { local pid; pid=$(pid_of "$1") && kill -0 "$pid" 2>/dev/null; }
# remember_service NAME: saves its environment and executable under $WORK.
remember_service() {
    local pid; pid=$(pid_of "$1")
    cat "/proc/$pid/environ" >"$WORK/$1.environ"
    process_exe "$pid" >"$WORK/$1.exe"
}
service_var() { # NAME VAR: VAR in the remembered environment of NAME
    tr '\0' '\n' <"$WORK/$1.environ" | sed -n "s/^$2=//p"
}
health_url() {
    local var
    case $1 in
        signer) var=CERTCTL_SIGNER_HEALTH_LISTEN ;; admin) var=CERTCTL_ADMIN_LISTEN ;; ocsp) var=CERTCTL_OCSP_LISTEN ;;
        crl) var=CERTCTL_CRL_LISTEN ;; enroll) var=CERTCTL_ENROLL_LISTEN ;;
    esac
    echo "http://$(service_var "$1" "$var")/readyz"
}
stop_service() { # NAME: kill -TERM, then wait (15 s) for the process to be gone
    local pid deadline=$((SECONDS + 15)); pid=$(pid_of "$1")
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || { echo "error: certctl-$1 (pid $pid) still running 15 s after SIGTERM" >&2; return 1; }
        sleep 0.1
    done
}
start_service() { # NAME
    local envs
    mapfile -d '' envs <"$WORK/$1.environ"
    env -i "${envs[@]}" nohup "$(cat "$WORK/$1.exe")" >>"$DATA/logs/$1.log" 2>&1 &
    echo $! >"$DATA/run/$1.pid"
}
# poll SECONDS COMMAND...: runs COMMAND until it succeeds, at most SECONDS long.
poll() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.1; done
}
# wait_ready NAME: /readyz answers status "ready" (not "degraded") within 60 s.
wait_ready() {
    local deadline=$((SECONDS + 60)) url; url=$(health_url "$1")
    until curl -s "$url" 2>/dev/null | grep -q '"status":"ready"'; do
        running "$1" || { tail -n 20 "$DATA/logs/$1.log" >&2; return 1; }
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}
# the signer's /readyz turns ready shortly before its RPC listener accepts
# connections, and a client whose first call finds no listener backs off
rpc_up() { local addr; addr=$(service_var signer CERTCTL_SIGNER_RPC_LISTEN); ! port_is_free "${addr##*:}"; }
for name in "${SERVICES[@]}"; do remember_service "$name"; done

# ---------------------------------------------------------------------------
# Whatever happens, leave the stack as it was: bundle file back, database
# back (from the drill's dump, if the drill had dropped it), services running.
OWNER_ENV=(); mapfile -t OWNER_ENV < <(service_database_env owner "$DATA")
SERVER_URL=$(sed 's#^\(postgres://[^/]*\)/[^?]*#\1/postgres#' <<<"$DATABASE_URL")   # the superuser, database postgres
DB_NAME=$(sed 's#^postgres://[^/]*/\([^?]*\).*#\1#' <<<"$DATABASE_URL")
DUMP=$WORK/certctl.dump
# The doc's restore command (Postgres restore, step 4). Migration 0012 gave every
# certctl function its search_path, so a plain pg_restore works (pg_restore runs
# with an empty one, and a CHECK calls a function before the data is loaded).
restore_dump() { # DUMP-FILE
    pg_restore --exit-on-error -d "$DATABASE_URL" "$1"
}
# The doc's "raise the CRL number" line (Postgres restore, step 6): every key
# generation of the issuer numbers its CRLs after the highest number published.
raise_crl_number() { # ISSUER NUMBER (decimal, the highest CRL number published)
    sql -c "UPDATE issuer_generations SET last_crl_number = GREATEST(last_crl_number, $2) WHERE issuer_id = '$1';" >/dev/null
}
WIPED= RESTORED= LAST_PUBLISHED=
recover_stack() {
    local name
    cp "$WORK/bundle.orig" "$BUNDLE" 2>/dev/null || true
    if [ -n "$WIPED" ] && [ -z "$RESTORED" ]; then
        echo "recovering: restoring the database from the drill's dump" >&2
        for name in "${SERVICES[@]}"; do ! running "$name" || stop_service "$name" || true; done
        psql "$SERVER_URL" -XAtq -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null || true
        "$CERTCTL_BIN_DIR/certctl-admin" provision-database --server-url "$SERVER_URL" --database "$DB_NAME" \
            --password-dir "$DATA/secrets/db" >/dev/null || true
        restore_dump "$DUMP" >/dev/null || true
        env "${OWNER_ENV[@]}" "$CERTCTL_BIN_DIR/certctl-admin" migrate >/dev/null || true
        sql -c "TRUNCATE crl_cache" >/dev/null || true
        [ -z "$LAST_PUBLISHED" ] || raise_crl_number "$ISSUER" "$LAST_PUBLISHED" || true
    fi
    for name in "${SERVICES[@]}"; do
        running "$name" || { echo "recovering: starting certctl-$name" >&2; start_service "$name"; }
        # the signer first, with its RPC listener up
        [ "$name" != signer ] || { wait_ready signer && poll 30 rpc_up; } || echo "warning: the signer is not ready" >&2
    done
    for name in "${SERVICES[@]}"; do wait_ready "$name" || echo "warning: certctl-$name is not ready" >&2; done
}
trap 'rc=$?; recover_stack; (exit $rc); interop_cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Client helpers.

# fetch_crl OUT: GET the CDP URL (DER); sets STATUS.
fetch_crl() { STATUS=$(curl -sS -o "$1" -w '%{http_code}' "$CRL"); }
crl_verify() { openssl crl -inform DER -in "$1" -CAfile "$CA" -noout 2>&1; }   # "verify OK" (exit status is 0 either way)
crl_number() { local hex; hex=$(openssl crl -inform DER -in "$1" -noout -crlnumber | cut -d= -f2); echo $((16#${hex#0x})); }
# on_crl SERIAL FILE: the CRL lists the serial (openssl prints upper-case hex)
on_crl() { openssl crl -inform DER -in "$2" -noout -text | grep -qi "Serial Number: 0*$1\$"; }
# new_cert NAME: issues a P-256 leaf; NAME.pem, ID_NAME, SERIAL_NAME.
new_cert() {
    local host="dr-$1-$RUN.example.com"
    new_csr "$1.csr" "$P256" "$host" "DNS:$host"
    issue_body "$1.csr" >"$1.json"
    post_json /api/v1/certificates "$1.json"
    expect_status 201
    LAST_REQUEST=   # (a later failure should not show this response)
    jf .certificate_pem >"$1.pem"
    printf -v "ID_$1" '%s' "$(jf .id)"
    printf -v "SERIAL_$1" '%s' "$(jf .serial_hex)"
}
revoke() { # ID REASON
    printf '{"reason":"%s"}' "$2" >revoke.json
    post_json "/api/v1/certificates/$1/revoke" revoke.json
    expect_status 200
    LAST_REQUEST=
}
# ocsp_query CERT [ARGS...]: `openssl ocsp` for CERT (stdout and stderr).
ocsp_query() { local cert=$1; shift; openssl ocsp -issuer "$CA" "$@" -cert "$cert" -url "$OCSP" -CAfile "$CA" 2>&1 || true; }
# expect_ocsp NAME CERT STATUS [REASON | -sha256]: the answer (POST, no nonce) has
# STATUS (and REASON) and its signature verifies.
expect_ocsp() {
    local out reason= digest=(); [ "${4:-}" = -sha256 ] && digest=(-sha256) || reason=${4:-}
    out=$(ocsp_query "$2" ${digest[@]+"${digest[@]}"} -no_nonce)
    grep -q "^$2: $3\$" <<<"$out" || fail "$1" "$2: $3" "$out"
    [ -z "$reason" ] || grep -q "Reason: $reason\$" <<<"$out" || fail "$1" "Reason: $reason" "$out"
    grep -q "^Response verify OK" <<<"$out" || fail "$1 (signature)" "Response verify OK" "$out"
    pass "$1 -> $3${reason:+ ($reason)}"
}

new_cert good
new_cert revoked
revoke "$ID_revoked" keyCompromise
PUBLISHED=()   # every CRL number fetched during the suite (the restore must exceed them all)

# ---------------------------------------------------------------------------
section "1. CRL cache loss (docs/disaster-recovery.md, CRL cache recovery)"
has_revoked() { fetch_crl crl.der && [ "$STATUS" = 200 ] && on_crl "$SERIAL_revoked" crl.der; }
check "the revocation is on the CRL" poll 10 has_revoked
before=$(crl_number crl.der); PUBLISHED+=("$before")
# the runbook's diagnosis queries
check "diagnosis: crl_cache query runs" sql -c "SELECT issuer_id, length(crl_der), crl_number, this_update, next_update,
    generated_at, generation_duration_ms, revoked_count FROM crl_cache WHERE issuer_id = '$ISSUER';"
check "diagnosis: crl_generation_events query runs" sql -c "SELECT started_at, trigger, succeeded, error, duration_ms, crl_number
    FROM crl_generation_events WHERE issuer_id = '$ISSUER' ORDER BY started_at DESC LIMIT 10;"
for step in "DELETE FROM crl_cache WHERE issuer_id = '$ISSUER';" "TRUNCATE crl_cache;"; do
    sql -c "$step" >/dev/null
    fetch_crl crl.der
    expect_eq "after \`$step\`: the next fetch answers 200" 200 "$STATUS"
    expect_eq "after \`$step\`: openssl crl -CAfile verifies it" "verify OK" "$(crl_verify crl.der)"
    number=$(crl_number crl.der); PUBLISHED+=("$number")
    check "after \`$step\`: the CRL number went up ($before -> $number)" test "$number" -gt "$before"
    check "after \`$step\`: the revocation is still listed" on_crl "$SERIAL_revoked" crl.der
    expect_eq "after \`$step\`: the row is back with the served CRL" "$(openssl sha256 -r crl.der | cut -d' ' -f1)" \
        "$(sql -c "SELECT encode(sha256(crl_der), 'hex') FROM crl_cache WHERE issuer_id = '$ISSUER'")"
    before=$number
done

# ---------------------------------------------------------------------------
section "2. OCSP responder certificate loss (OCSP responder cert recovery)"
KEY_DIR=$(service_var ocsp CERTCTL_OCSP_RESPONDER_KEY_DIR)
KEYFILE=$KEY_DIR/$ISSUER.key
responder_rows() { sql -c "SELECT count(*) FROM ocsp_responder_certs WHERE issuer_id = '$ISSUER' AND key_path = '$KEYFILE'"; }
expect_ocsp "before the drill: good" good.pem good
key_before=$(sha256sum <"$KEYFILE" | cut -c1-64)
check "diagnosis: ocsp_responder_certs query runs" sql -c "SELECT issuer_id, cert_subject, not_before, not_after, created_at, key_path
    FROM ocsp_responder_certs WHERE issuer_id = '$ISSUER';"
# the runbook's trigger request, repeated: a replica looks at its row at most once a second.
# (The refresh loop may sign, and so re-bootstrap, at any moment too: no check
# expects the row to stay gone.)
bootstrapped() { curl -sS -o /dev/null "$OCSP/00" && [ "$(responder_rows)" -ge 1 ] && [ -s "$KEYFILE" ]; }

# (a) the row only
sql -c "DELETE FROM ocsp_responder_certs WHERE issuer_id = '$ISSUER';" >/dev/null
check "(a) OCSP requests re-bootstrap the row within 5 s" poll 5 bootstrapped
expect_eq "(a) the key file is kept" "$key_before" "$(sha256sum <"$KEYFILE" | cut -c1-64)"
expect_ocsp "(a) openssl ocsp verifies the answer" good.pem good

# (b) the row and the key file
sql -c "DELETE FROM ocsp_responder_certs WHERE issuer_id = '$ISSUER';" >/dev/null
rm -f "$KEYFILE"
check "(b) OCSP requests re-bootstrap row and key within 5 s" poll 5 bootstrapped
expect_match "(b) the runbook's trigger answers a signed unknown for serial 00" "Cert Status: unknown" \
    "$(curl -sS "$OCSP/00" | openssl ocsp -respin /dev/stdin -resp_text -CAfile "$CA" 2>&1)"
expect_eq "(b) the new key file has mode 0600" 600 "$(stat -c %a "$KEYFILE")"
check "(b) it is a new key" test "$(sha256sum <"$KEYFILE" | cut -c1-64)" != "$key_before"
spki_sha() { openssl pkey -pubin -outform DER | openssl sha256 -r | cut -d' ' -f1; }
expect_eq "(b) the new row certifies the key in the file" \
    "$(openssl pkey -in "$KEYFILE" -pubout | spki_sha)" \
    "$(sql -c "SELECT encode(certificate_der, 'base64') FROM ocsp_responder_certs WHERE key_path = '$KEYFILE'
               ORDER BY created_at DESC LIMIT 1" | base64 -d |
       openssl x509 -inform DER -noout -pubkey | spki_sha)"
expect_ocsp "(b) openssl ocsp verifies the answer" good.pem good
expect_ocsp "(b) revoked still revoked with its reason" revoked.pem revoked keyCompromise

# ---------------------------------------------------------------------------
section "3. OCSP response cache loss (OCSP response cache recovery)"
expect_ocsp "warm the cache: revoked" revoked.pem revoked keyCompromise
cached() { [ "$(sql -c "SELECT count(*) FROM ocsp_response_cache WHERE issuer_id = '$ISSUER' AND serial_hex = '$1'")" -gt 0 ]; }
check "a pre-signed row exists for the revoked serial" poll 5 cached "$SERIAL_revoked"
# (a) one row, and the runbook's verification command
sql -c "DELETE FROM ocsp_response_cache WHERE issuer_id = '$ISSUER' AND serial_hex = '$SERIAL_revoked';" >/dev/null
out=$(curl -sS "$OCSP/$SERIAL_revoked" | openssl ocsp -respin /dev/stdin -resp_text -CAfile "$CA" 2>&1 || true)
expect_match "(a) runbook command: Cert Status revoked" "Cert Status: revoked" "$out"
expect_match "(a) with its reason" "Revocation Reason: keyCompromise" "$out"
expect_match "(a) and the signature verifies" "Response verify OK" "$out"
expect_ocsp "(a) openssl ocsp (POST) agrees" revoked.pem revoked keyCompromise
# (b) the whole table
sql -c "TRUNCATE ocsp_response_cache;" >/dev/null
expect_ocsp "(b) after TRUNCATE: good" good.pem good
expect_ocsp "(b) after TRUNCATE: revoked with its reason" revoked.pem revoked keyCompromise
# a CertID no replica holds in memory (SHA-256) is signed live and written back
expect_ocsp "(b) after TRUNCATE: good, SHA-256 CertID" good.pem good -sha256
expect_eq "(b) the live answer is written back to the table" good \
    "$(sql -c "SELECT cert_status FROM ocsp_response_cache WHERE serial_hex = '$SERIAL_good' AND hash_algorithm = 'sha256'")"

# ---------------------------------------------------------------------------
section "4. trust-bundle reload: EST mTLS bundle (Trust-bundle reload semantics)"
EST=$CERTCTL_EST_URL
# mtls_enroll NAME: EST simpleenroll authenticated only by NAME.crt/NAME.key; prints the HTTP status.
mtls_enroll() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "req-$1.key" -subj "/CN=dr-mtls-$1-$RUN" \
        -addext "subjectAltName=DNS:dr-mtls-$1-$RUN.example.com" -outform DER 2>/dev/null | openssl base64 >"req-$1.b64"
    curl -s --cacert "$CERTCTL_EST_TLS_CA_PATH" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/pkcs10' \
        --data-binary "@req-$1.b64" --cert "$1.crt" --key "$1.key" "$EST/simpleenroll" || true
}
reload_api() { api POST /api/v1/admin/trust-anchors/est-clients/reload; }
# an outside CA and a client certificate it issued
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ext-ca.key -out ext-ca.crt -days 2 \
    -subj "/CN=dr external CA $RUN" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ext.key -subj "/CN=dr-ext-client-$RUN" -out ext.csr 2>/dev/null
openssl x509 -req -in ext.csr -CA ext-ca.crt -CAkey ext-ca.key -CAcreateserial -days 1 -out ext.crt 2>/dev/null
check "an outside client certificate is refused before the reload" test "$(mtls_enroll ext)" != 200
# step 2: the bundle's path, from the admin API
api GET /api/v1/admin/trust-anchors
expect_status 200
expect_eq "the API lists the bundle's path" "$BUNDLE" "$(jf '.items[] | select(.name == "est-clients") | .path')"
# step 1: check the new file
cat "$WORK/bundle.orig" ext-ca.crt >bundle.new
expect_eq "step 1: openssl reads both certificates of the new file" 2 \
    "$(openssl crl2pkcs7 -nocrl -certfile bundle.new | openssl pkcs7 -print_certs -noout | grep -c '^subject=')"
expect_match "step 1: openssl x509 -enddate -checkend 0 for the added certificate" "notAfter=.*Certificate will not expire" \
    "$(openssl x509 -in ext-ca.crt -noout -enddate -checkend 0 | paste -sd' ')"
cp bundle.new "$BUNDLE"
reload_api
expect_status 200
expect_eq "API reload: every replica loaded it" true "$(jf '[.replicas[].ok] | all')"
expect_eq "API reload: the new pool has 2 certificates" 2 "$(jf '.replicas[0].certificate_count')"
expect_eq "the outside client is now accepted (no restart)" 200 "$(mtls_enroll ext)"
printf -- '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n' >"$BUNDLE"
reload_api
expect_status 422
expect_eq "API reload of a broken file: typed error" trust_bundle_unparsable "$(jf '.replicas[0].error')"
expect_eq "API reload of a broken file: the old pool stays" 2 "$(jf '.replicas[0].certificate_count')"
expect_eq "the outside client is still accepted (old pool)" 200 "$(mtls_enroll ext)"
# the SIGHUP alternative: the result lands in trust_anchors
last_reload() { sql -c "SELECT last_reload_at FROM trust_anchors WHERE name = 'est-clients'"; }
reloaded_since() { [ "$(last_reload)" != "$1" ]; }
: >"$BUNDLE"
mark=$(last_reload)
kill -HUP "$(pid_of enroll)"
check "SIGHUP with an empty file: reload recorded" poll 5 reloaded_since "$mark"
expect_match "SIGHUP: trust_anchors.last_reload_error starts with the typed error" "^est-clients\|[^|]+\|trust_bundle_empty" \
    "$(sql -c "SELECT name, last_reload_at, last_reload_error, certificate_count FROM trust_anchors;" | grep '^est-clients|')"
expect_eq "SIGHUP with an empty file: the outside client is still accepted" 200 "$(mtls_enroll ext)"
cp "$WORK/bundle.orig" "$BUNDLE"
mark=$(last_reload)
kill -HUP "$(pid_of enroll)"
check "SIGHUP with the original file: reload recorded" poll 5 reloaded_since "$mark"
expect_eq "SIGHUP: no error, 1 certificate" "|1" \
    "$(sql -c "SELECT coalesce(last_reload_error, ''), certificate_count FROM trust_anchors WHERE name = 'est-clients'")"
check "the outside client is refused again" test "$(mtls_enroll ext)" != 200
check "certctl-enroll kept running through both signals" running enroll

# ---------------------------------------------------------------------------
section "5. Postgres restore (Postgres restore)"
new_cert late   # issued before the backup, revoked after it
fetch_crl crl.der; PUBLISHED+=("$(crl_number crl.der)")
# certctl-admin's host commands with its environment (as remembered above)
admin_cmd() { local envs; mapfile -d '' envs <"$WORK/admin.environ"; env -i "${envs[@]}" "$(cat "$WORK/admin.exe")" "$@"; }
# the audit chain's head before the backup, as an operator would have anchored it (docs/audit.md)
AUDIT_HEAD=$(admin_cmd audit head)
check "the audit chain head is SEQ:HASH" grep -Eq '^[0-9]+:[0-9a-f]{64}$' <<<"$AUDIT_HEAD"
# step 1: the backup
check "step 1: pg_dump -Fc" pg_dump -Fc -f "$DUMP" "$DATABASE_URL"
dumped_mark=$(sql -c "SELECT max(last_crl_number) FROM issuer_generations WHERE issuer_id = '$ISSUER'")
# after the backup: a revocation, hence at least one more CRL published
revoke "$ID_late" cessationOfOperation
late_listed() { fetch_crl crl.der && [ "$STATUS" = 200 ] && on_crl "$SERIAL_late" crl.der; }
check "after the backup: a new CRL lists the late revocation" poll 10 late_listed
# step 2: save the CRL being served (the highest number relying parties may hold)
curl -sS -o last.crl "$CRL"
expect_eq "step 2: the saved CRL verifies" "verify OK" "$(crl_verify last.crl)"
LAST_PUBLISHED=$(crl_number last.crl); PUBLISHED+=("$LAST_PUBLISHED")
check "the backup's high-water mark ($dumped_mark) is below the last published number ($LAST_PUBLISHED): the raise step is needed" \
    test "$dumped_mark" -lt "$LAST_PUBLISHED"
# step 3: stop every certctl process
for name in "${SERVICES[@]}"; do check "step 3: kill -TERM certctl-$name" stop_service "$name"; done
# the disaster: the database is gone
WIPED=1
check "wipe: DROP DATABASE $DB_NAME" psql "$SERVER_URL" -XAtq -v ON_ERROR_STOP=1 -c "DROP DATABASE $DB_NAME"
# step 4: roles and an empty database, then the restore (in three parts)
check "step 4: certctl-admin provision-database (same password files)" "$CERTCTL_BIN_DIR/certctl-admin" provision-database \
    --server-url "$SERVER_URL" --database "$DB_NAME" --password-dir "$DATA/secrets/db"
check "step 4: pg_restore" restore_dump "$DUMP"
check "step 5: migrations as the schema owner (certctl-admin migrate)" env "${OWNER_ENV[@]}" "$CERTCTL_BIN_DIR/certctl-admin" migrate
expect_eq "the restored database has the backup's high-water mark" "$dumped_mark" \
    "$(sql -c "SELECT max(last_crl_number) FROM issuer_generations WHERE issuer_id = '$ISSUER'")"
# step 6: caches and the CRL number
check "step 6: TRUNCATE crl_cache" sql -c "TRUNCATE crl_cache;"
check "step 6: raise the CRL number to the last published one" raise_crl_number "$ISSUER" "$LAST_PUBLISHED"
RESTORED=1
# step 7: start certctl
# the signer first, with its RPC listener up (see rpc_up)
start_service signer
check "step 7: certctl-signer /readyz ready" wait_ready signer
check "step 7: the signer's RPC listener accepts connections" poll 30 rpc_up
for name in "${SERVICES[@]:1}"; do start_service "$name"; done
for name in "${SERVICES[@]:1}"; do check "step 7: certctl-$name /readyz ready" wait_ready "$name"; done
check "after the restore: certctl-admin audit verify --anchor (the hash chain survived pg_dump and pg_restore)" \
    admin_cmd audit verify --anchor "$AUDIT_HEAD"
est_up() { curl -sf -o /dev/null --cacert "$CERTCTL_EST_TLS_CA_PATH" "$EST/cacerts"; }
check "step 7: the EST listener answers" poll 30 est_up
served() { fetch_crl crl.der && [ "$STATUS" = 200 ]; }
check "after the restore: the CRL is served (within 10 s)" poll 10 served
expect_eq "after the restore: it verifies" "verify OK" "$(crl_verify crl.der)"
number=$(crl_number crl.der)
highest=$(printf '%s\n' "${PUBLISHED[@]}" | sort -n | tail -1)
check "after the restore: CRL number $number exceeds every number published before ($highest)" test "$number" -gt "$highest"
check "restored revocations are listed" on_crl "$SERIAL_revoked" crl.der
expect_ocsp "restored state: good" good.pem good
expect_ocsp "restored state: revoked" revoked.pem revoked keyCompromise
# step 8: revocations made after the backup are lost; re-apply them from the saved CRL
on_saved=$(openssl crl -inform DER -in last.crl -noout -text | sed -n 's/^ *Serial Number: *0*//p' | tr 'A-F' 'a-f' | sort)
restored=$(sql -c "SELECT serial_hex FROM certificate_revocations WHERE issuer_id = '$ISSUER';" | sort)
lost=$(comm -23 <(echo "$on_saved") <(echo "$restored"))
expect_eq "step 8: the saved CRL lists exactly one revocation the restore lost" "$SERIAL_late" "$lost"
expect_ocsp "lost revocation: answers good until re-applied" late.pem good
# the reason as the CRL prints it ("Cessation Of Operation" -> cessationOfOperation)
reason=$(openssl crl -inform DER -in last.crl -noout -text | grep -i -A4 "Serial Number: 0*$lost\$" |
    sed -n 's/^ *\([A-Z][A-Za-z ]*[a-z]\) *$/\1/p' | grep -v 'CRL Reason Code' | head -1 | tr -d ' ' | sed 's/^./\L&/')
expect_eq "step 8: the saved CRL gives the reason" cessationOfOperation "$reason"
list_certs "serial=$lost"
expect_status 200
revoke "$(jf '.items[0].id')" "$reason"
expect_ocsp "step 8: re-applied revocation" late.pem revoked cessationOfOperation
check "step 8: the next CRL lists it again" poll 10 late_listed

interop_done
