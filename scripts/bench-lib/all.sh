# scripts/bench all (sourced by scripts/bench): every benchmark in turn on one build, each
# appending its key figures to $BENCH_RESULTS (key=value), then one summary table against
# issue #16's targets with the machine described. Logs and the summary go to .build/bench/.
BENCH_ALL=(issuance crl ocsp standby refresh)

bench_all() {
    local stamp out load_start config
    stamp=$(date -u +%Y%m%dT%H%M%SZ); out="$ROOT/.build/bench"; mkdir -p "$out"
    export BENCH_RESULTS="$out/results-$stamp.txt"; : >"$BENCH_RESULTS"
    load_start=$(cut -d' ' -f1-3 /proc/loadavg)
    busy_warning "$load_start" >&2
    config=${BENCH_BUILD_CONFIG:-release}; export BENCH_BUILD_CONFIG=$config
    if [ -z "${DEV_BIN_DIR:-}" ]; then   # one build for all: each benchmark's stack then uses DEV_BIN_DIR
        require_swift
        log "building ($config; a clean release build takes 10–25 min on 2 busy cores)"
        swift_build -c "$config" 2>&1 | grep -E 'error:|Build complete' || die "build failed"
        DEV_BIN_DIR=$(swift build -c "$config" --show-bin-path)
    fi
    export DEV_BIN_DIR
    local name t0 status
    for name in "${BENCH_ALL[@]}"; do
        log "scripts/bench $name (log: $out/$name-$stamp.log)"
        t0=$(date +%s)
        # each in its own process: its own stack, ports and EXIT trap; a failure does not stop the rest
        if "$ROOT/scripts/bench" "$name" 2>&1 | tee "$out/$name-$stamp.log"; then status=ok; else status=failed; fi
        record "run_${name}" "$status ($(( $(date +%s) - t0 )) s)"
    done
    bench_summary "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/summary-$stamp.md"
    echo "summary: $out/summary-$stamp.md; figures: $BENCH_RESULTS; logs: $out/*-$stamp.log" >&2
}

busy_warning() { # LOADAVG: a warning line when the 1-minute load average is above 1.0
    awk -v l="${1%% *}" 'BEGIN { if (l > 1.0) printf "**warning: 1-minute load average %s at start (> 1.0): other work shares the CPUs, the figures understate this machine**\n", l }'
}

bench_summary() { # LOAD_START LOAD_END
    local -A R=()
    local line
    while IFS= read -r line; do [ -z "$line" ] || R[${line%%=*}]=${line#*=}; done <"$BENCH_RESULTS"
    local q=""; [ -z "${BENCH_QUICK:-}" ] || q=" (BENCH_QUICK smoke run: reduced sizes and durations, so the targets are not measured)"
    echo "## scripts/bench all — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- . 2>/dev/null || echo '+changes')$q"
    echo
    echo "Machine: $(nproc) × $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM," \
        "Linux $(uname -r), $(swift --version 2>/dev/null | grep -o 'Swift version [0-9.]*' | head -1), $("$(pg_bin_dir)/postgres" --version 2>/dev/null | sed 's/^postgres (PostgreSQL)/PostgreSQL/')," \
        "$BENCH_BUILD_CONFIG build ($DEV_BIN_DIR). Load average (1/5/15 min) at start $1, at end $2."
    busy_warning "$1"
    echo
    local runs="" name
    for name in "${BENCH_ALL[@]}"; do runs+="${runs:+, }$name ${R[run_$name]:-not run}"; done
    echo "Runs: $runs."
    echo
    echo "| benchmark | figure | value | target | met |"
    echo "|---|---|---|---|---|"
    # row BENCH FIGURE VALUE TARGET VERDICT; VERDICT from check VALUE OP LIMIT (empty value: n/a)
    row() { echo "| $1 | $2 | ${3:-n/a} | ${4:-—} | ${5:-—} |"; }
    local smoke=""; [ -z "${BENCH_QUICK:-}" ] || smoke="smoke run, "   # verdicts at reduced sizes say nothing
    check() { [ -n "$1" ] || { echo "n/a"; return; }; awk -v v="$1" -v l="$3" -v op="$2" -v s="$smoke" 'BEGIN { ok = (op == ">=") ? v + 0 >= l + 0 : v + 0 <= l + 0; print ok ? s "met" : (s == "" ? "**not met**" : s "not met") }'; }
    pct() { [ -n "$1" ] && [ "${2:-0}" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }
    times() { [ -n "$1" ] && [ "${2:-0}" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
    both() { local a b; a=$(check "$1" ">=" "$2"); b=$(check "$3" ">=" "$4"); [ "$a" = "${smoke}met" ] && [ "$b" = "${smoke}met" ] && echo "$a" || { [ "$a" = n/a ] || [ "$b" = n/a ] && echo n/a || { [ "$a" = "${smoke}met" ] && echo "$b" || echo "$a"; }; }; }

    row issuance "REST POST /api/v1/certificates, concurrency 64, synchronous_commit=on" "${R[issuance_rest_c64_sync]:+${R[issuance_rest_c64_sync]}/s}" "≥ 1,000/s" "$(check "${R[issuance_rest_c64_sync]:-}" ">=" 1000)"
    row issuance "REST, concurrency 1, synchronous_commit=on" "${R[issuance_rest_c1_sync]:+${R[issuance_rest_c1_sync]}/s}"
    row issuance "REST, concurrency 64, synchronous_commit=off (measurement only)" "${R[issuance_rest_c64_async]:+${R[issuance_rest_c64_async]}/s}"
    row issuance "raw signer RPC, concurrency 64" "${R[issuance_signer_c64_sync]:+${R[issuance_signer_c64_sync]}/s}" "≥ 3,000/s" "$(check "${R[issuance_signer_c64_sync]:-}" ">=" 3000)"
    row issuance "raw signer RPC, concurrency 1" "${R[issuance_signer_c1_sync]:+${R[issuance_signer_c1_sync]}/s}"

    local entries=${R[crl_entries]:-} ms=${R[crl_read_sign_ms]:-} rss=${R[crl_rss_kib]:-} bytes=${R[crl_bytes]:-} rss_ratio="" time_verdict
    [ -z "$rss" ] || [ -z "$bytes" ] || rss_ratio=$(awk -v r="$rss" -v b="$bytes" 'BEGIN { printf "%.2f", r * 1024 / b }')
    time_verdict=$(check "$ms" "<=" 1200)
    [ -z "$entries" ] || [ "$entries" = 1000000 ] || time_verdict="n/a ($entries entries)"
    row crl "${entries:-?} entries: read, encode and sign (CRL phases log line), best of 3" "${ms:+$ms ms}" "≤ 1,200 ms at 1,000,000" "$time_verdict"
    row crl "same: HTTP request to response (cache deleted; includes storing the CRL)" "${R[crl_ms]:+${R[crl_ms]} ms}"
    row crl "certctl-crl peak RSS (fresh process) / CRL size" "${rss_ratio:+$(( rss / 1024 )) MiB / $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB = ${rss_ratio}×}" "≤ 2×" "$(check "$rss_ratio" "<=" 2)"
    row crl "openssl ca -gencrl, same entries" "${R[crl_openssl_ms]:+${R[crl_openssl_ms]} ms}"

    local bare=${R[ocsp_rps_bare]:-} ossl=${R[ocsp_rps_openssl]:-} key label target p x
    row ocsp "baseline: bare Hummingbird route on certctl's listener" "${bare:+$bare req/s}"
    for key in post get nonce; do
        case $key in
            post) label="cached POST"; p=90; x=6 ;;
            get) label="cached GET (RFC 6960 A.1)"; p=90; x=6 ;;
            nonce) label="nonce POST (signed live)"; p=50; x=4 ;;
        esac
        local v=${R[ocsp_rps_$key]:-} vp vx
        vp=$(pct "$v" "$bare" || true); vx=$(times "$v" "$ossl" || true)
        row ocsp "$label: req/s, % of baseline, × openssl" "${v:+$v req/s, ${vp:-?} %, ${vx:-?}×}" "≥ $p % and ≥ $x×" "$(both "$vp" "$p" "$vx" "$x")"
    done
    row ocsp "openssl ocsp -index … -multi 2" "${ossl:+$ossl req/s}"
    row ocsp "/healthz (same stack)" "${R[ocsp_rps_healthz]:+${R[ocsp_rps_healthz]} req/s}"
    row ocsp "revocation → 4 replicas on the primary answer revoked, p99" "${R[ocsp_propagation_p99_ms]:+${R[ocsp_propagation_p99_ms]} ms}"

    row standby "revocation → replica on a streaming standby answers revoked, p99" "${R[standby_p99_ms]:+${R[standby_p99_ms]} ms}" "≤ 1,000 ms" "$(check "${R[standby_p99_ms]:-}" "<=" 1000)"
    row standby "same, replica on the primary, p99" "${R[standby_primary_p99_ms]:+${R[standby_primary_p99_ms]} ms}"

    local tick=${R[refresh_tick_ms]:-} steady=${R[refresh_sweep_steady_s]:-} share=""
    [ -z "$tick" ] || [ -z "$steady" ] || share=$(awk -v t="$tick" -v s="$steady" 'BEGIN { if (s > 0) printf "%.3f", t / (s * 1000) * 100 }')
    row refresh "${R[refresh_certs]:-?} certificates: tick with nothing due (reads)" "${tick:+$tick ms}"
    row refresh "former tick: full scan + delete, nothing due" "${R[refresh_former_tick_ms]:+${R[refresh_former_tick_ms]} ms}"
    row refresh "full sweep reads, steady / cold" "${steady:+$steady s / ${R[refresh_sweep_cold_s]:-?} s}"
    local share_verdict; share_verdict=$(check "$share" "<=" 1)
    [ -z "${R[refresh_certs]:-}" ] || [ "${R[refresh_certs]}" = 1000000 ] || share_verdict="n/a (${R[refresh_certs]} certificates)"
    row refresh "tick with nothing due as a share of a steady full sweep (work ∝ change)" "${share:+$share %}" "≤ 1 % at 1,000,000" "$share_verdict"
}
