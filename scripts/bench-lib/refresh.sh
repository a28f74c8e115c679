# scripts/bench refresh (sourced by scripts/bench): the OCSP refresh loop's reads timed in
# Postgres itself (docs/benchmarks.md, "OCSP refresh: work ∝ change"). A scratch cluster on a
# free port, migrated by certctl-admin, seeded with BENCH_REFRESH_CERTS certificates
# (ocsp-refresh-seed.sql), then ocsp-refresh-measure.sql: the figures are a tick with nothing
# due against a full sweep of every certificate.
bench_refresh() {
    ensure_packages postgresql:initdb postgresql-client:psql
    local n=${BENCH_REFRESH_CERTS:-1000000} bin pg_port url
    if [ -n "${DEV_BIN_DIR:-}" ]; then
        bin=$DEV_BIN_DIR
    else
        local config=${BENCH_BUILD_CONFIG:-release}
        require_swift
        log "building ($config)"
        swift_build -c "$config" --product certctl-admin 2>&1 | grep -E 'error:|Build complete' || die "build failed"
        bin=$(swift build -c "$config" --show-bin-path)
    fi
    work=$(mktemp -d /tmp/certctl-bench.XXXXXX); chmod 755 "$work"
    pick_ports pg_port   # not "port": pick_ports has a local of that name
    trap 'pg_stop "$work/pg"; rm -rf "$work"' EXIT
    pg_start "$work/pg" "$pg_port" fsync=off synchronous_commit=off full_page_writes=off
    url="postgres://postgres@127.0.0.1:$pg_port/bench"
    psql "postgres://postgres@127.0.0.1:$pg_port/postgres" -qtA -c "CREATE DATABASE bench" >/dev/null
    CERTCTL_DATABASE_URL="$url?sslmode=disable" "$bin/certctl-admin" migrate >"$work/migrate.log" 2>&1 \
        || { cat "$work/migrate.log" >&2; die "migration failed"; }
    log "seeding $n certificates and 2 × $n pre-signed answers"
    local t0; t0=$(date +%s)
    psql "$url" -q -v n="$n" -f "$ROOT/scripts/bench-lib/ocsp-refresh-seed.sql" >/dev/null
    echo "===== OCSP refresh reads, $n certificates (1 % revoked), seeded in $(( $(date +%s) - t0 )) s; Postgres fsync=off"
    psql "$url" -f "$ROOT/scripts/bench-lib/ocsp-refresh-measure.sql" >"$work/measure.out" 2>&1 \
        || { cat "$work/measure.out" >&2; die "ocsp-refresh-measure.sql failed"; }
    # Per section ("== 1." … from \echo): the sum of its EXPLAIN ANALYZE execution times and the
    # sweep function's seconds ( pages | candidates | seconds ).
    awk '
        /^== [0-9a-z]+\./ { sec = $2; sub(/\.$/, "", sec) }
        /Execution Time:/ { ms[sec] += $3 }
        sec != "" && /^ *[0-9]+ *\| *[0-9]+ *\| *[0-9.]+ *$/ { split($0, f, "|"); pages[sec] = f[1] + 0; cand[sec] = f[2] + 0; secs[sec] = f[3] + 0 }
        END {
            printf "   former tick (full scan + NOT EXISTS delete), nothing due: %.1f ms + %.1f ms\n", ms["1"], ms["1b"]
            printf "   incremental tick, nothing due (delete + three candidate reads): %.2f ms\n", ms["2"]
            printf "   full sweep, steady state: %d pages, %d candidates, %.2f s\n", pages["3"], cand["3"], secs["3"]
            printf "   full sweep, cold: %d pages, %d candidates, %.2f s\n", pages["4"], cand["4"], secs["4"]
            printf "   one batch of 500 among rows coming due: %.2f ms\n", ms["6"]
            printf "refresh_former_tick_ms=%.1f\nrefresh_tick_ms=%.2f\nrefresh_sweep_steady_s=%.2f\nrefresh_sweep_cold_s=%.2f\nrefresh_due_batch_ms=%.2f\n",
                ms["1"] + ms["1b"], ms["2"], secs["3"], secs["4"], ms["6"] > "/dev/stderr"
        }' "$work/measure.out" 2>"$work/figures"
    grep -A3 'due_within_margin' "$work/measure.out" | sed 's/^/   /'
    record refresh_certs "$n"
    [ -z "${BENCH_RESULTS:-}" ] || cat "$work/figures" >>"$BENCH_RESULTS"
    [ -z "${BENCH_REFRESH_OUTPUT:-}" ] || cp "$work/measure.out" "$BENCH_REFRESH_OUTPUT"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
