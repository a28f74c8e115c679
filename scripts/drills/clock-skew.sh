#!/usr/bin/env bash
# drill clock-skew: certctl-signer restarted under libfaketime (`faketime -f
# +120`), so its clock is two minutes ahead of the database server's while
# nothing else changes (no test switch in certctl: the signer compares its
# own clock with Postgres's clock_timestamp(), and here its clock really is wrong).
#   - issuance is refused: 502 signer_refused whose message names clock_skew
#     and the measured offset; the refusal is audited with error_code clock_skew;
#   - the signer's /readyz is 503 and says why; certctl_signer_clock_skew_seconds ≈ -120;
#   - a skew inside the bound (+10 s against the default 30 s) signs normally;
#   - with the clock right again, issuance works.
# ci: fast
source "$(dirname "$0")/lib.sh"
ensure_packages faketime:faketime
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 | head -n 1)
[ -n "$FAKETIME_LIB" ] || die "libfaketimeMT.so.1 not found (package libfaketime)"
drill_stack
W=$DRILL_WORK
SIGNER_PORT=$(service_port signer)
restart_script signer "$W/restart-signer.sh"
restart_script signer "$W/restart-signer-ahead.sh" env LD_PRELOAD="$FAKETIME_LIB" FAKETIME=+120 FAKETIME_DONT_FAKE_MONOTONIC=1
restart_script signer "$W/restart-signer-near.sh" env LD_PRELOAD="$FAKETIME_LIB" FAKETIME=+10 FAKETIME_DONT_FAKE_MONOTONIC=1
DRILL_CLEANUPS+=("signer_back")

stop_signer() {
    local pid; pid=$(cat "$DATA/run/signer.pid")
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 20 eval "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
}
# signer_up SCRIPT: restarts the signer and waits for its RPC listener (not readiness: a skewed signer is not ready)
signer_up() {
    stop_signer
    local lines; lines=$(wc -l <"$DATA/logs/signer.log")
    "$1"
    wait_until 30 eval "[ \$(tail -n +$((lines + 1)) '$DATA/logs/signer.log' | grep -c 'serving signer RPC') -gt 0 ]"
}
signer_back() { signer_up "$W/restart-signer.sh" && wait_until 30 ready "$SIGNER_PORT"; }
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/leaf.key" -out "$W/leaf.csr" \
    -subj "/CN=clock.drill.example.com" -addext "subjectAltName=DNS:clock.drill.example.com" 2>/dev/null
jq -n --rawfile csr "$W/leaf.csr" '{csr_pem: $csr}' >"$W/body.json"
issue() { # HTTP status; body in $W/issue.out
    curl -sS -o "$W/issue.out" -w '%{http_code}' -H "Authorization: Bearer $CERTCTL_API_KEY" -H 'Content-Type: application/json' \
        --data-binary @"$W/body.json" "$CERTCTL_ADMIN_URL/api/v1/certificates"
}
# first answer other than signer_unavailable (the admin's gRPC connection reconnects to the restarted signer)
issue_settled() {
    local status
    for _ in $(seq 50); do
        status=$(issue)
        [ "$status" = 503 ] && [ "$(jq -r .error "$W/issue.out")" = signer_unavailable ] || { echo "$status"; return; }
        sleep 0.2
    done
    echo "$status"
}
since=$(sql -c "SELECT now()")

signer_up "$W/restart-signer-ahead.sh" || die "the signer's RPC listener did not open (clock +120 s)"
ahead_status=$(issue_settled)
ahead_code=$(jq -r .error "$W/issue.out"); ahead_message=$(jq -r .message "$W/issue.out")
readyz=$(curl -s -w ' HTTP %{http_code}' "http://127.0.0.1:$SIGNER_PORT/readyz")
gauge=$(curl -s "http://127.0.0.1:$SIGNER_PORT/metrics" | awk '/^certctl_signer_clock_skew_seconds/ {print $2}')
audited=$(sql -c "SELECT count(*) FROM audit_events WHERE service = 'signer' AND error_code = 'clock_skew' AND occurred_at >= '$since'")
logged=$(grep -c 'refusing to sign: clock skew beyond the bound' "$DATA/logs/signer.log" || true)

signer_up "$W/restart-signer-near.sh" || die "the signer's RPC listener did not open (clock +10 s)"
near_status=$(issue_settled)

signer_back || die "the signer did not come back with the right clock"
back_status=$(issue_settled)

facts="signer +120 s: HTTP $ahead_status $ahead_code \"$ahead_message\"; /readyz: $readyz; gauge $gauge s; audited refusals $audited;"
facts+=" signer +10 s: HTTP $near_status; clock right: HTTP $back_status"
verdict=PASS
[ "$ahead_status" = 502 ] && [ "$ahead_code" = signer_refused ] && [[ $ahead_message == *clock_skew* ]] || verdict=FAIL
[[ $readyz == *"HTTP 503"* ]] && [[ $readyz == *"clock"* ]] || verdict=FAIL
awk -v g="${gauge:-0}" 'BEGIN { exit !(g < -115 && g > -125) }' || verdict=FAIL
[ "$audited" -ge 1 ] && [ "$logged" -ge 1 ] || verdict=FAIL
[ "$near_status" = 201 ] && [ "$back_status" = 201 ] || verdict=FAIL
drill_result "$verdict" "$facts"
