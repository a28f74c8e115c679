# Shared helpers for the fault drills (scripts/drills/*.sh). Sourced.
#
# A drill breaks something on purpose, so it runs on a stack of its own:
# `drill_stack` starts one with scripts/dev on free ports in a scratch
# directory, from the executables in CERTCTL_BIN_DIR (or DEV_BIN_DIR, or the
# debug build), and stops it when the drill exits. DRILL_STACK=DIR reuses a
# running stack started by scripts/dev with CERTCTL_DEV_DATA=DIR instead
# (scripts/test's drills phase runs the fast drills on one stack).
#
# Every drill ends with `drill_result PASS|FAIL FACTS…`: one line
#   drill NAME: PASS|FAIL FACTS (SECONDS s)
# on stdout, exit status 0 only for PASS.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
ROOT=$(repo_root)

DRILL_NAME=$(basename "$0" .sh)
DRILL_START=${EPOCHREALTIME/[.,]/}
DRILL_WORK=$(mktemp -d "/tmp/certctl-drill-$DRILL_NAME.XXXXXX")
chmod 755 "$DRILL_WORK"
DRILL_OWN_STACK=
DRILL_PIDS=()
DRILL_CLEANUPS=()

drill_log() { printf '   [%s] %s\n' "$DRILL_NAME" "$*" >&2; }

# Microseconds since the epoch, and milliseconds between two of them.
now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
ms_since() { echo $(( ($(now_us) - $1) / 1000 )); }

drill_cleanup() {
    local status=$? pid action
    for action in ${DRILL_CLEANUPS[@]+"${DRILL_CLEANUPS[@]}"}; do eval "$action" >/dev/null 2>&1 || true; done
    for pid in ${DRILL_PIDS[@]+"${DRILL_PIDS[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in ${DRILL_PIDS[@]+"${DRILL_PIDS[@]}"}; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -n "$DRILL_OWN_STACK" ]; then
        CERTCTL_DEV_DATA="$DRILL_OWN_STACK" "$ROOT/scripts/dev" down >/dev/null 2>&1 || true
    fi
    if [ "${DRILL_KEEP:-}" = 1 ] || [ $status != 0 ]; then
        drill_log "scratch kept: $DRILL_WORK"
    else
        rm -rf "$DRILL_WORK"
    fi
    exit $status
}
trap drill_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# drill_result PASS|FAIL FACTS...
drill_result() {
    local verdict=$1; shift
    local us=$(( $(now_us) - DRILL_START ))
    printf 'drill %s: %s %s (%d.%d s)\n' "$DRILL_NAME" "$verdict" "$*" $((us / 1000000)) $((us % 1000000 / 100000))
    [ "$verdict" = PASS ]
}

drill_bin_dir() {
    local dir=${CERTCTL_BIN_DIR:-${DEV_BIN_DIR:-}}
    [ -n "$dir" ] || dir=$(cd "$ROOT" && swift build --show-bin-path)
    [ -x "$dir/certctl-signer" ] || die "no certctl executables in $dir (build first, or set CERTCTL_BIN_DIR)"
    (cd "$dir" && pwd)
}

# drill_stack: a running stack; its dev.env is loaded (CERTCTL_*, DATABASE_URL).
drill_stack() {
    ensure_packages postgresql:initdb postgresql-client:psql openssl:openssl curl:curl jq:jq
    local bin; bin=$(drill_bin_dir)
    if [ -n "${DRILL_STACK:-}" ]; then
        [ -f "$DRILL_STACK/dev.env" ] || die "DRILL_STACK=$DRILL_STACK holds no dev.env"
        export CERTCTL_DEV_DATA=$DRILL_STACK
    else
        export CERTCTL_DEV_DATA="$DRILL_WORK/stack"
        DRILL_OWN_STACK=$CERTCTL_DEV_DATA
        local ports=(DEV_PG_PORT DEV_ADMIN_PORT DEV_OCSP_PORT DEV_CRL_PORT DEV_ENROLL_PORT DEV_SIGNER_HEALTH_PORT
                     DEV_SIGNER_RPC_PORT DEV_EST_PORT)
        pick_ports "${ports[@]}"
        export "${ports[@]}"
        local started; started=$(now_us)
        DEV_BIN_DIR="$bin" "$ROOT/scripts/dev" up >"$DRILL_WORK/stack-up.log" 2>&1 \
            || { tail -n 30 "$DRILL_WORK/stack-up.log" >&2; die "stack did not start"; }
        drill_log "own stack up in $(ms_since "$started") ms ($CERTCTL_DEV_DATA)"
    fi
    set -a; source "$CERTCTL_DEV_DATA/dev.env"; set +a
    export CERTCTL_BIN_DIR=$bin
    DATA=$CERTCTL_DEV_DATA
    PG_PORT=$(cat "$DATA/pg/port")
}

# psql as the superuser through the stack's socket.
sql() { psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qtA "$@"; }

# Postgres of the stack (from /: pg_ctl runs as postgres, which cannot enter every cwd).
pg_down() { (cd / && pg_stop "$DATA/pg"); }
pg_up() { (cd / && pg_is_running "$DATA/pg" || pg_start "$DATA/pg" "$PG_PORT" >/dev/null); }

# service_var NAME VAR: VAR from the environment of the stack's running certctl-NAME.
service_var() {
    tr '\0' '\n' <"/proc/$(cat "$DATA/run/$1.pid")/environ" | sed -n "s/^$2=//p"
}

# restart_script NAME FILE [PREFIX...]: writes FILE, a script that starts
# certctl-NAME again exactly as it runs now (its environment, executable, log
# and PID file), for after the drill has stopped it; PREFIX runs it through
# another command (e.g. faketime).
restart_script() {
    local name=$1 file=$2; shift 2
    local pid; pid=$(cat "$DATA/run/$name.pid")
    local exe; exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)   # the path (a rebuilt binary's /proc/PID/exe is "(deleted)")
    {
        echo '#!/usr/bin/env bash'
        printf 'env -i'
        while IFS= read -r -d '' var; do printf ' %q' "$var"; done <"/proc/$pid/environ"
        printf ' nohup'
        [ $# = 0 ] || printf ' %q' "$@"
        printf ' %q >>%q 2>&1 &\n' "$exe" "$DATA/logs/$name.log"
        printf 'echo $! >%q\n' "$DATA/run/$name.pid"
    } >"$file"
    chmod 700 "$file"
}

# A service's HTTP (health) port.
service_port() {
    local listen
    case $1 in
        signer) listen=$(service_var signer CERTCTL_SIGNER_HEALTH_LISTEN) ;;
        *) listen=$(service_var "$1" "CERTCTL_${1^^}_LISTEN") ;;
    esac
    echo "${listen##*:}"
}

ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/readyz")" = 200 ]; }

# new_cert NAME: a P-256 certificate through the admin API: NAME.pem, NAME.id, NAME.key in the scratch dir.
new_cert() {
    local name=$1 dir=$DRILL_WORK host="$1.drill.example.com"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/$name.key" -out "$dir/$name.csr" \
        -subj "/CN=$host" -addext "subjectAltName=DNS:$host" 2>/dev/null
    jq -n --rawfile csr "$dir/$name.csr" '{csr_pem: $csr}' | curl -fsS -H "Authorization: Bearer $CERTCTL_API_KEY" \
        -H 'Content-Type: application/json' --data-binary @- "$CERTCTL_ADMIN_URL/api/v1/certificates" >"$dir/$name.json"
    jq -r .certificate_pem "$dir/$name.json" >"$dir/$name.pem"
    jq -r .id "$dir/$name.json" >"$dir/$name.id"
}

# ocsp_request NAME: NAME.req, a DER OCSPRequest (SHA-1 CertID, no nonce) for NAME.pem.
ocsp_request() {
    openssl ocsp -issuer "$CERTCTL_CA_CERT_PATH" -cert "$DRILL_WORK/$1.pem" -no_nonce -reqout "$DRILL_WORK/$1.req" >/dev/null 2>&1
}

# ocsp_status PORT NAME: good | revoked | tryLater | … as certctl-ocsp on PORT answers NAME.req.
ocsp_status() {
    local out="$DRILL_WORK/$2.$1.resp"
    curl -s --max-time 10 -o "$out" -H 'Content-Type: application/ocsp-request' --data-binary @"$DRILL_WORK/$2.req" \
        "http://127.0.0.1:$1/.well-known/pki/ocsp/$CERTCTL_DEFAULT_ISSUER_ID" || { echo "http_error"; return; }
    local text; text=$(openssl ocsp -respin "$out" -resp_text -noverify 2>&1)
    case $text in
        *"Cert Status: good"*) echo good ;;
        *"Cert Status: revoked"*) echo revoked ;;
        *"Cert Status: unknown"*) echo unknown ;;
        *trylater*|*"tryLater"*) echo tryLater ;;
        *internalerror*) echo internalError ;;
        *) echo "other" ;;
    esac
}

# start_ocsp_replica PORT KEYDIR [ENV=VALUE...]: another certctl-ocsp on the stack, no rate limit; its PID in DRILL_PIDS.
start_ocsp_replica() {
    local port=$1 keys=$2; shift 2
    local database; mapfile -t database < <(service_database_env ocsp "$DATA")
    env -i PATH="$PATH" "${database[@]}" CERTCTL_LOG_FORMAT=text \
        CERTCTL_RPC_TLS_CERT="$DATA/rpc/ocsp.crt" CERTCTL_RPC_TLS_KEY="$DATA/rpc/ocsp.key" CERTCTL_RPC_TLS_CA="$DATA/rpc/ca.crt" \
        CERTCTL_SIGNER_ADDR="$CERTCTL_SIGNER_ADDR" CERTCTL_OCSP_LISTEN="127.0.0.1:$port" CERTCTL_OCSP_RESPONDER_KEY_DIR="$keys" \
        CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN=0 CERTCTL_LOG_LEVEL=${DRILL_REPLICA_LOG_LEVEL:-info} "$@" "$CERTCTL_BIN_DIR/certctl-ocsp" >"$DRILL_WORK/ocsp-$port.log" 2>&1 &
    DRILL_PIDS+=($!)
}

# wait_until SECONDS COMMAND...: polls every 0.1 s; false on timeout.
wait_until() {
    local limit=$1; shift
    local deadline=$(( $(now_us) + limit * 1000000 ))
    until "$@"; do
        [ "$(now_us)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}
