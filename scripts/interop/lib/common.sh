# Shared helpers for the interop suites (scripts/interop/*.sh). Sourced, not
# executed: it lives in lib/ so that scripts/test, which runs every
# scripts/interop/*.sh, does not take it for a suite. A suite does
#   set -Eeuo pipefail
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#   require_env EXTRA_VAR...; require_tools EXTRA_TOOL...   # beyond the common ones
#   interop_start
# and ends with `interop_done`.

# The scripts' shared helpers: ensure_packages, free_port, pg_start, ...
source "$(dirname "${BASH_SOURCE[0]}")/../../lib/common.sh"

# ---------------------------------------------------------------------------
# Environment, scratch directory, clean-up.

# require_env VAR...: each must be set and non-empty.
require_env() {
    local var
    for var in "$@"; do
        [ -n "${!var:-}" ] || { echo "error: $var is not set (export the stack's dev.env first)" >&2; exit 1; }
    done
}
# require_tools TOOL...: each must be on PATH (for tools every Debian has;
# install others with ensure_packages PACKAGE:TOOL).
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is required" >&2; exit 1; }
    done
}

# interop_start: checks what every suite needs, sets ADMIN, ISSUER, CA, RUN,
# makes the scratch directory WORK (removed on exit, with the API keys made by
# new_api_key) and changes into it.
interop_start() {
    require_env DATABASE_URL CERTCTL_ADMIN_URL CERTCTL_API_KEY CERTCTL_CA_CERT_PATH CERTCTL_DEFAULT_ISSUER_ID
    ensure_packages curl:curl openssl:openssl jq:jq postgresql-client:psql
    require_tools date od base64 sha256sum stat timeout
    [ -r "$CERTCTL_CA_CERT_PATH" ] || { echo "error: CERTCTL_CA_CERT_PATH=$CERTCTL_CA_CERT_PATH is not readable" >&2; exit 1; }

    ADMIN=${CERTCTL_ADMIN_URL%/}
    ISSUER=$CERTCTL_DEFAULT_ISSUER_ID
    CA=$CERTCTL_CA_CERT_PATH
    RUN=$(openssl rand -hex 5)            # makes ids, host names, actors and keys unique per run
    PASSED=0 STATUS= BODY= LAST_REQUEST=
    CREATED_KEYS=()

    WORK=$(mktemp -d "${CERTCTL_INTEROP_TMP:-/tmp}/certctl-interop.XXXXXX")
    # containers (scripts/compose test) read the files a suite names through
    # the API from the same path: CERTCTL_INTEROP_TMP is mounted there
    host_processes || chmod 755 "$WORK"
    trap interop_cleanup EXIT INT TERM
    trap 'echo "error: line $LINENO: \`$BASH_COMMAND\` failed unexpectedly (after $PASSED passed checks)" >&2' ERR
    cd "$WORK"
}

# A suite with its own EXIT trap must keep the status for this function:
#   trap 'rc=$?; my_cleanup; (exit $rc); interop_cleanup' EXIT
interop_cleanup() {
    local status=$? key
    for key in ${CREATED_KEYS[@]+"${CREATED_KEYS[@]}"}; do drop_key "$key"; done
    rm -rf "$WORK"
    exit $status
}

# CERTCTL_INTEROP_HOST_PROCESSES=0 says the stack is not made of host
# processes (scripts/compose test runs the suites against containers): the
# sections that start extra replicas from the stack's binaries, read /proc,
# kill a service's PID or stop Postgres with pg_ctl are skipped, each with a
# `skip` line naming what is left out. Default 1 (scripts/dev's stack).
host_processes() { [ "${CERTCTL_INTEROP_HOST_PROCESSES:-1}" != 0 ]; }
skip_section() { printf '\n== %s\n  skip  (CERTCTL_INTEROP_HOST_PROCESSES=0: %s)\n' "$1" "$2"; }

# interop_done: the closing "N passed, 0 failed" line.
interop_done() {
    echo
    printf '%d passed, 0 failed\n' "$PASSED"
}

# ---------------------------------------------------------------------------
# Check helpers. Every check counts once; the first failure exits 1.

section() { printf '\n== %s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); printf '  ok  %s\n' "$1"; }

fail() { # NAME EXPECTED GOT
    {
        printf 'FAIL: %s\n  expected: %s\n  got:      %s\n' "$1" "$2" "$3"
        if [ -n "$LAST_REQUEST" ]; then
            printf '  last request: %s -> HTTP %s\n  response body:\n' "$LAST_REQUEST" "$STATUS"
            # (no `| head -c`: with pipefail its SIGPIPE would end the suite with 141)
            printf '%s\n' "${BODY:0:4000}" | sed 's/^/    /'
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
# HTTP helpers.

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
JSON=(-H 'Content-Type: application/json')
# post_json / put_json PATH FILE [CURL-ARGS...] as the admin key.
post_json() { local path=$1 file=$2; shift 2; api POST "$path" "${JSON[@]}" --data-binary "@$file" "$@"; }
put_json() { local path=$1 file=$2; shift 2; api PUT "$path" "${JSON[@]}" --data-binary "@$file" "$@"; }
jf() { jq -r "$1" <<<"$BODY"; }

# list_certs [KEY=VALUE...]: GET /api/v1/certificates with these query
# parameters (URL-encoded), as the admin key.
list_certs() {
    local args=() p
    for p in "$@"; do args+=(--data-urlencode "$p"); done
    api GET /api/v1/certificates -G "${args[@]}"
    LAST_REQUEST="GET /api/v1/certificates?$(IFS='&'; echo "$*")"
}

# rejects TABLE DESCRIPTION STATUS ERROR KEY METHOD PATH [CURL-ARGS...]: the
# request fails with STATUS/ERROR and the row count of TABLE does not change.
rejects() {
    local table=$1 desc=$2 status=$3 error=$4 before after; shift 4
    before=$(row_count "$table")
    request "$@"
    LAST_REQUEST="$LAST_REQUEST ($desc)"
    expect_status "$status" "$error"
    after=$(row_count "$table")
    expect_eq "$table count unchanged ($desc)" "$before" "$after"
}
# issue DESCRIPTION STATUS ERROR BODY-FILE: POST it to /api/v1/certificates as
# the admin key; refused, and no certificate row appears.
issue() {
    rejects certificates "$1" "$2" "$3" "$CERTCTL_API_KEY" POST /api/v1/certificates "${JSON[@]}" --data-binary "@$4"
}

# ---------------------------------------------------------------------------
# The dev stack's signer, stopped and started again from its own process
# (environment and executable read from /proc; needs CERTCTL_DEV_DATA).

# process_exe PID: the executable a process runs (" (deleted)" dropped: rebuilt since it
# started, the same path holds the new build).
process_exe() { local exe; exe=$(readlink "/proc/$1/exe"); printf '%s\n' "${exe% (deleted)}"; }

# stop_signer: SIGTERM, wait for it to exit; remembers how to start it again.
stop_signer() {
    local pid; pid=$(cat "$CERTCTL_DEV_DATA/run/signer.pid")
    mapfile -d '' SIGNER_ENV <"/proc/$pid/environ"
    SIGNER_EXE=$(process_exe "$pid")
    kill -TERM "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}
# start_signer SECONDS: starts it as stop_signer found it; succeeds once its /readyz answers within SECONDS.
start_signer() {
    env -i "${SIGNER_ENV[@]}" nohup "$SIGNER_EXE" >>"$CERTCTL_DEV_DATA/logs/signer.log" 2>&1 &
    echo $! >"$CERTCTL_DEV_DATA/run/signer.pid"
    local health deadline=$((SECONDS + $1))
    health=$(printf '%s\n' "${SIGNER_ENV[@]}" | sed -n 's/^CERTCTL_SIGNER_HEALTH_LISTEN=//p')
    until curl -fsS "http://$health/readyz" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

# ---------------------------------------------------------------------------
# SQL helpers.

sql() { # SQL on stdin or as -c; retried while Postgres is restarting
    local tries=0 out
    until out=$(psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "$@" 2>&1); do
        tries=$((tries + 1)); [ $tries -lt 10 ] || { echo "error: psql failed: $out" >&2; return 1; }
        sleep 1
    done
    printf '%s\n' "$out"
}
row_count() { sql -c "SELECT count(*) FROM $1"; }

# new_api_key VAR ACTOR ROLE: inserts a fresh key for ACTOR with ROLE and
# stores it in VAR. The key is deleted again on exit.
new_api_key() {
    local key
    key="cctl_$(openssl rand -hex 24)"
    CREATED_KEYS+=("$key")
    sql -v key="$key" -v actor="$2" -v role="$3" >/dev/null <<'SQL'
INSERT INTO api_keys (actor, role, key_hash, key_prefix)
VALUES (:'actor', :'role', sha256(convert_to(:'key', 'UTF8')), left(:'key', 10));
SQL
    printf -v "$1" '%s' "$key"
}
# drop_key KEY: deletes the api_keys row of exactly KEY (by its hash); warns,
# but does not fail, when that is not possible.
drop_key() {
    [ -n "$1" ] || return 0
    sql -v key="$1" >/dev/null 2>&1 <<'SQL' || echo "warning: could not delete API key ${1:0:10}… from api_keys" >&2
DELETE FROM api_keys WHERE key_hash = sha256(convert_to(:'key', 'UTF8'));
SQL
}

# ---------------------------------------------------------------------------
# Certificate helpers.

P256="-newkey ec -pkeyopt ec_paramgen_curve:P-256"
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
epoch_ns() { date -u -d "$1" +%s%N; }
# ext CERT NAME: one extension as "line|line" with indentation trimmed.
ext() { openssl x509 -in "$1" -noout -ext "$2" | sed 's/^ *//; s/ *$//' | paste -sd'|' -; }
# lifetime CERT: notAfter - notBefore in seconds.
lifetime() {
    echo $(( $(epoch "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)") \
           - $(epoch "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)") ))
}
# split_pem FILE PREFIX: PREFIX-1.pem, PREFIX-2.pem, ...; prints the count.
split_pem() {
    awk -v p="$2" '/-----BEGIN CERTIFICATE-----/ { n++ } n { print > (p "-" n ".pem") } END { print n + 0 }' "$1"
}
random_uuid() { local h; h=$(openssl rand -hex 16); echo "${h:0:8}-${h:8:4}-4${h:13:3}-a${h:17:3}-${h:20:12}"; }

TS_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})'
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
DAY=86400
