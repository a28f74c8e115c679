#!/usr/bin/env bash
# drill pg-outage: Postgres stops for DRILL_OUTAGE seconds (default 60; the CI
# variant, DRILL_FAST=1, 10) while wrk drives two OCSP replicas with requests
# for serials they have cached.
#   - cached serials: every answer successful (wrk counts non-OCSP-successful bodies);
#   - a serial no replica has cached: tryLater, and quickly;
#   - after Postgres returns: every replica and every service /readyz 200 within 5 s;
#   - LISTEN cut (the OCSP role may not log in, its sessions killed), a revocation
#     made meanwhile, LISTEN back: the replicas answer revoked within 1 s of reconnecting;
#   - SIGTERM: each replica exits within 10 s.
# ci: fast
source "$(dirname "$0")/lib.sh"
ensure_packages wrk:wrk
OUTAGE=${DRILL_OUTAGE:-$([ "${DRILL_FAST:-}" = 1 ] && echo 10 || echo 60)}
drill_stack
W=$DRILL_WORK

# ---------------------------------------------------------------------------
# Two replicas of our own (no rate limit, so wrk is not refused), warmed.
pick_ports R1 R2
REPLICAS=("$R1" "$R2")
start_ocsp_replica "$R1" "$W/keys-1"
start_ocsp_replica "$R2" "$W/keys-2"
for port in "${REPLICAS[@]}"; do wait_until 60 ready "$port" || { tail -20 "$W/ocsp-$port.log" >&2; die "replica $port not ready"; }; done
HOT=(hot1 hot2 hot3 hot4 hot5)
for name in "${HOT[@]}" miss cut; do new_cert "$name"; ocsp_request "$name"; done
for port in "${REPLICAS[@]}"; do
    for name in "${HOT[@]}" cut; do
        [ "$(ocsp_status "$port" "$name")" = good ] || die "replica $port does not answer good for $name"
    done
done

lua="$W/hot.lua"
{
    echo 'local paths = {'; for name in "${HOT[@]}"; do echo "  \"$W/$name.req\","; done; echo '}'
    cat <<'LUA'
local bodies = {}
for i, path in ipairs(paths) do local f = io.open(path, "rb"); bodies[i] = f:read("*a"); f:close() end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n = 0; failed = 0 end
function request()
  n = n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/ocsp-request"}, bodies[(n % #bodies) + 1])
end
-- an OCSP error answer (tryLater, internalError…) is 5 bytes: 30 03 0a 01 XX
function response(status, headers, body) if status ~= 200 or #body < 16 then failed = failed + 1 end end
function done(summary, latency, requests)
  local f = 0
  for _, t in ipairs(threads) do f = f + t:get("failed") end
  io.write(string.format("ocsp_failed %d\nrequests %d\nsocket_errors %d\np99_ms %.1f\n", f, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    latency:percentile(99) / 1000))
end
LUA
} >"$lua"

LOAD_SECONDS=$((5 + OUTAGE + 10))
for port in "${REPLICAS[@]}"; do
    wrk -t1 -c8 -d"${LOAD_SECONDS}s" --timeout 5s -s "$lua" "http://127.0.0.1:$port/.well-known/pki/ocsp/$CERTCTL_DEFAULT_ISSUER_ID" \
        >"$W/wrk-$port.out" 2>&1 &
    DRILL_PIDS+=($!)
    WRK_PIDS+=($!)
done
DRILL_CLEANUPS+=("pg_up")   # Postgres comes back whatever happens
sleep 5

# ---------------------------------------------------------------------------
drill_log "stopping Postgres for $OUTAGE s under load"
pg_down
down_at=$(now_us)
miss_answers=() miss_ms=()
while [ $(( ($(now_us) - down_at) / 1000000 )) -lt "$OUTAGE" ]; do
    t=$(now_us)
    miss_answers+=("$(ocsp_status "$R1" miss)")
    miss_ms+=("$(ms_since "$t")")
    sleep 0.5
done
pg_up
up_at=$(now_us)
drill_log "Postgres back; waiting for every /readyz"
declare -A ready_ms=()
services=(signer admin ocsp crl enroll)
targets=()
for s in "${services[@]}"; do targets+=("$s:$(service_port "$s")"); done
for port in "${REPLICAS[@]}"; do targets+=("replica:$port"); done
while [ ${#ready_ms[@]} -lt ${#targets[@]} ] && [ "$(ms_since "$up_at")" -lt 30000 ]; do
    for target in "${targets[@]}"; do
        [ -n "${ready_ms[$target]:-}" ] && continue
        ready "${target#*:}" && ready_ms[$target]=$(ms_since "$up_at")
    done
    sleep 0.1
done
slowest=0 not_ready=()
for target in "${targets[@]}"; do
    if [ -z "${ready_ms[$target]:-}" ]; then not_ready+=("$target"); continue; fi
    [ "${ready_ms[$target]}" -le "$slowest" ] || slowest=${ready_ms[$target]}
done
for pid in "${WRK_PIDS[@]}"; do wait "$pid" || true; done
hot_failed=0 hot_requests=0 hot_socket=0 hot_p99=0
for port in "${REPLICAS[@]}"; do
    out="$W/wrk-$port.out"
    grep -q '^ocsp_failed' "$out" || { cat "$out" >&2; die "wrk against $port gave no summary"; }
    hot_failed=$((hot_failed + $(awk '/^ocsp_failed/ {print $2}' "$out")))
    hot_requests=$((hot_requests + $(awk '/^requests/ {print $2}' "$out")))
    hot_socket=$((hot_socket + $(awk '/^socket_errors/ {print $2}' "$out")))
    hot_p99=$(awk -v a="$hot_p99" '/^p99_ms/ {print ($2 > a ? $2 : a)}' "$out")
done
miss_total=${#miss_answers[@]} miss_trylater=0 miss_max=0
for i in "${!miss_answers[@]}"; do
    [ "${miss_answers[$i]}" = tryLater ] && miss_trylater=$((miss_trylater + 1))
    [ "${miss_ms[$i]}" -le "$miss_max" ] || miss_max=${miss_ms[$i]}
done
miss_sorted=$(printf '%s\n' "${miss_ms[@]}" | sort -n)
miss_p50=$(sed -n "$(( (miss_total + 1) / 2 ))p" <<<"$miss_sorted")

# ---------------------------------------------------------------------------
# LISTEN cut while Postgres is up: the OCSP role may not log in and its sessions
# are killed (the pool's and LISTEN's); admin revokes `cut` meanwhile (its NOTIFY
# is lost to the replicas); then the role may log in again.
resyncs() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^certctl_ocsp_listen_resyncs_total/ {s += $2} END {print s + 0}'; }
declare -A resync_before=()
for port in "${REPLICAS[@]}"; do resync_before[$port]=$(resyncs "$port"); done
DRILL_CLEANUPS+=("sql -c 'ALTER ROLE certctl_ocsp LOGIN'")
sql -c "ALTER ROLE certctl_ocsp NOLOGIN" \
    -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'certctl_ocsp'" >/dev/null
sleep 1
curl -fsS -o /dev/null -H "Authorization: Bearer $CERTCTL_API_KEY" -H 'Content-Type: application/json' \
    -d '{"reason": "keyCompromise"}' "$CERTCTL_ADMIN_URL/api/v1/certificates/$(cat "$W/cut.id")/revoke"
sleep 2
stale=$(ocsp_status "$R1" cut)
sql -c "ALTER ROLE certctl_ocsp LOGIN" >/dev/null
restored_at=$(now_us)
declare -A reconnect_ms=() revoked_ms=()
while [ "$(ms_since "$restored_at")" -lt 15000 ]; do
    for port in "${REPLICAS[@]}"; do
        [ -n "${reconnect_ms[$port]:-}" ] || { [ "$(resyncs "$port")" -gt "${resync_before[$port]}" ] && reconnect_ms[$port]=$(ms_since "$restored_at"); }
        [ -n "${revoked_ms[$port]:-}" ] || { [ "$(ocsp_status "$port" cut)" = revoked ] && revoked_ms[$port]=$(ms_since "$restored_at"); }
    done
    [ ${#revoked_ms[@]} = ${#REPLICAS[@]} ] && [ ${#reconnect_ms[@]} = ${#REPLICAS[@]} ] && break
    sleep 0.05
done
listen_facts=() listen_ok=1
for port in "${REPLICAS[@]}"; do
    rec=${reconnect_ms[$port]:-none} rev=${revoked_ms[$port]:-none}
    listen_facts+=("$rec/$rev")
    if [ "$rec" = none ] || [ "$rev" = none ] || [ $((rev - rec)) -gt 1000 ]; then listen_ok=0; fi
done

# ---------------------------------------------------------------------------
# SIGTERM after the outage: each replica exits, quickly.
term_max=0 term_hung=0
for i in "${!REPLICAS[@]}"; do
    pid=${DRILL_PIDS[$i]}
    t=$(now_us)
    kill -TERM "$pid"
    if wait_until 10 eval "! kill -0 $pid 2>/dev/null"; then
        took=$(ms_since "$t"); [ "$took" -le "$term_max" ] || term_max=$took
    else
        term_hung=$((term_hung + 1))
    fi
done

# ---------------------------------------------------------------------------
facts="outage=${OUTAGE}s cached: ${hot_requests} requests, ${hot_failed} not successful, ${hot_socket} socket errors, p99 ${hot_p99} ms;"
facts+=" miss: ${miss_trylater}/${miss_total} tryLater, p50 ${miss_p50} ms, max ${miss_max} ms;"
facts+=" ready after return: slowest ${slowest} ms of ${#targets[@]}${not_ready:+ (never: ${not_ready[*]})};"
facts+=" LISTEN cut: stale answer while cut=${stale}, reconnect/revoked ms after restore ${listen_facts[*]};"
facts+=" SIGTERM: max ${term_max} ms, hung ${term_hung}"
verdict=PASS
[ "$hot_failed" = 0 ] && [ "$hot_socket" = 0 ] && [ "$hot_requests" -gt 0 ] || verdict=FAIL
[ "$miss_trylater" = "$miss_total" ] && [ "$miss_max" -le 5000 ] || verdict=FAIL
[ ${#not_ready[@]} = 0 ] && [ "$slowest" -le 5000 ] || verdict=FAIL
[ "$listen_ok" = 1 ] || verdict=FAIL
[ "$term_hung" = 0 ] || verdict=FAIL
drill_result "$verdict" "$facts"
