# scripts/bench standby (sourced by scripts/bench): a stack with a streaming standby
# (scripts/dev DEV_STANDBY=1: pg_basebackup -R) and a certctl-ocsp replica reading it, beside
# the usual replica on the primary. Measures revocation → each replica answers revoked
# (BENCH_STANDBY_ROUNDS revocations, default 100) and reports the standby's replay lag.
bench_standby() {
    ensure_packages python3:python3
    export DEV_STANDBY=1 DEV_OCSP_RATE_LIMIT=0   # the poll below asks faster than 1000/min from one address
    pick_ports DEV_OCSP_STANDBY_PORT
    export DEV_OCSP_STANDBY_PORT
    start_release_stack
    cd "$work"
    local rounds=${BENCH_STANDBY_ROUNDS:-100}
    echo "===== revocation → replica answers revoked ($rounds revocations; admin and signer on the primary)"
    echo "   primary: certctl-ocsp on the primary (LISTEN/NOTIFY); standby: certctl-ocsp on a streaming standby (revocation poll)"
    python3 "$ROOT/scripts/bench-lib/propagation.py" "$rounds" "$CERTCTL_ADMIN_URL" "$CERTCTL_API_KEY" "$CERTCTL_CA_CERT_PATH" \
        "primary=${CERTCTL_OCSP_URL##*:}" "standby=${CERTCTL_OCSP_STANDBY_URL##*:}" | tee propagation.out
    # "   standby    N samples: p50 X ms, p99 Y ms, max Z ms"
    record standby_p99_ms "$(sed -n 's/^ *standby .* p99 \([0-9.]*\) ms.*/\1/p' propagation.out)"
    record standby_primary_p99_ms "$(sed -n 's/^ *primary .* p99 \([0-9.]*\) ms.*/\1/p' propagation.out)"
    echo "== replication (pg_stat_replication on the primary)"
    psql "$DATABASE_URL" -qtA -F ' ' -c "SELECT 'state', state, 'write_lag', coalesce(write_lag::text, '0'),
        'replay_lag', coalesce(replay_lag::text, '0') FROM pg_stat_replication"
    echo "== the standby replica's answers by source (certctl_ocsp_response_source_total)"
    curl -fsS "$CERTCTL_OCSP_STANDBY_URL/metrics" | grep '^certctl_ocsp_response_source_total' | sed 's/^/   /'
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), build ${DEV_BUILD_CONFIG}"
}
