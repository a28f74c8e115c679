# Where a benchmark's CPU goes, by process name (sourced by scripts/bench): a profile that needs
# no symbols. cpu_split_start snapshots every process's CPU time and the machine's; cpu_split_end
# LABEL prints each process name's share of the machine over the interval (100 % = every core),
# kernel time (system, softirq) and idle, so a figure below its target names who used the cores.
#   cpu_split_start; wrk …; cpu_split_end "REST issuance, concurrency 64"

# cpu_snapshot: "name ticks" per process (utime + stime, clock ticks), then "@machine total idle system softirq"
cpu_snapshot() {
    local stat
    for stat in /proc/[0-9]*/stat; do
        # comm is in parentheses and may hold spaces: split on the last ')'
        awk '{ s = $0; i = index(s, "("); j = 0; for (k = length(s); k > 0; k--) if (substr(s, k, 1) == ")") { j = k; break }
               name = substr(s, i + 1, j - i - 1); split(substr(s, j + 2), f, " "); gsub(/ /, "_", name)
               print name, f[12] + f[13] }' "$stat" 2>/dev/null
    done
    awk '/^cpu / { total = 0; for (i = 2; i <= NF; i++) total += $i; print "@machine", total, $5 + $6, $4, $8 }' /proc/stat
}

cpu_split_start() { CPU_SPLIT_BEFORE=$(cpu_snapshot); }

cpu_split_end() { # LABEL
    local after; after=$(cpu_snapshot)
    # processes that started during the interval count from zero; ones that ended are lost (the
    # benchmarks' processes live through it). Names seen in both are summed per name.
    awk -v label="$1" -v cores="$(nproc)" '
        FNR == NR { if ($1 == "@machine") { t0 = $2; i0 = $3; s0 = $4; q0 = $5 } else before[$1] += $2; next }
        $1 == "@machine" { total = $2 - t0; idle = $3 - i0; sys = $4 - s0; soft = $5 - q0; next }
        { after[$1] += $2 }
        END {
            if (total <= 0) exit
            n = 0
            for (name in after) { d = after[name] - before[name]; if (d > 0) { used[name] = d; order[++n] = name } }
            for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++) if (used[order[b]] > used[order[a]]) { t = order[a]; order[a] = order[b]; order[b] = t }
            line = ""; seen = 0
            for (a = 1; a <= n; a++) { seen += used[order[a]]; if (a <= 8) line = line sprintf("%s%s %.0f %%", (a > 1 ? ", " : ""), order[a], 100 * used[order[a]] / total) }
            # what no live process accounts for: processes that ended before the second snapshot (the load generator) and interrupts
            gone = total - idle - seen; if (gone < 0) gone = 0
            printf "   CPU split (%s; %% of %d cores): %s; ended during the run (load generator) or unattributed %.0f %%; kernel (system time, included above) %.0f %%, softirq %.0f %%; idle %.0f %%\n",
                label, cores, line, 100 * gone / total, 100 * sys / total, 100 * soft / total, 100 * idle / total
        }' <(echo "$CPU_SPLIT_BEFORE") <(echo "$after")
}
