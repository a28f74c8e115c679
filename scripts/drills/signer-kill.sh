#!/usr/bin/env bash
# drill signer-kill: 1,000 concurrent issuances (POST /api/v1/certificates
# through certctl-admin); once DRILL_KILL_AFTER (default 100) have completed,
# certctl-signer gets SIGKILL; when every request has its answer the signer
# is started again (scripts/dev up) and one issuance every 100 ms shows when
# issuance resumes.
#   - every request gets an answer: 201, or a typed JSON error (no client
#     error, none left hanging; the slowest answer under load is reported: it
#     is mostly queueing in admin, which a debug build serves at ~100/s);
#   - with the signer down and no other load, one issuance is refused with
#     503 signer_unavailable within 5 s (first attempt fails at once, the retry
#     waits 3 s for a restarting signer);
#   - in the database: every signature the signer audited (certificate.issue)
#     has its row, issued, with the DER; no serial twice; every 201 is such a row;
#   - issuance resumes within 2 s of the restarted signer's /readyz.
# ci: fast
source "$(dirname "$0")/lib.sh"
ensure_packages python3:python3
drill_stack
W=$DRILL_WORK
COUNT=${DRILL_ISSUANCES:-1000}

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/leaf.key" -out "$W/leaf.csr" \
    -subj "/CN=signer-kill.drill.example.com" -addext "subjectAltName=DNS:signer-kill.drill.example.com" 2>/dev/null
jq -n --rawfile csr "$W/leaf.csr" '{csr_pem: $csr}' >"$W/body.json"
since=$(sql -c "SELECT now()")
SIGNER_PORT=$(service_port signer)
restart_script signer "$W/restart-signer.sh"
# the signer back whatever happens
DRILL_CLEANUPS+=("kill -0 \$(cat $DATA/run/signer.pid) 2>/dev/null || $W/restart-signer.sh")

python3 - "$COUNT" "${DRILL_KILL_AFTER:-100}" "$CERTCTL_ADMIN_URL" "$CERTCTL_API_KEY" "$W/body.json" "$DATA/run/signer.pid" \
    "$SIGNER_PORT" "$W/restart-signer.sh" >"$W/load.json" <<'PY'
import collections, http.client, json, os, signal, subprocess, sys, threading, time, urllib.parse
count, kill_after, admin, key, body_path, pid_path, signer_port, restart_script = sys.argv[1:]
count, kill_after = int(count), int(kill_after)
body = open(body_path, "rb").read()
target = urllib.parse.urlparse(admin)
headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}

def issue():
    start = time.monotonic()
    try:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        conn.request("POST", "/api/v1/certificates", body, headers)
        response = conn.getresponse()
        text = response.read()
        status = response.status
    except Exception as error:
        return {"status": 0, "code": "client:" + type(error).__name__, "ms": (time.monotonic() - start) * 1000}
    code, serial = None, None
    try:
        doc = json.loads(text)
        code, serial = doc.get("error"), doc.get("serial_hex")
    except Exception:
        code = "not_json"
    return {"status": status, "code": code, "serial": serial, "ms": (time.monotonic() - start) * 1000,
            "end": time.monotonic()}

results, lock, done = [], threading.Lock(), threading.Event()
killed_at = [None]
def worker(gate):
    gate.wait()
    result = issue()
    with lock:
        results.append(result)
        if killed_at[0] is None and len(results) >= kill_after:
            os.kill(int(open(pid_path).read()), signal.SIGKILL)
            killed_at[0] = time.monotonic()
gate = threading.Event()
threads = [threading.Thread(target=worker, args=(gate,)) for _ in range(count)]
for t in threads: t.start()
started = time.monotonic()
gate.set()
for t in threads: t.join()
finished = time.monotonic()

# the signer still down, no other load: how long one refusal takes
down_probes = []
for _ in range(5):
    down_probes.append(issue())
    time.sleep(0.2)

# start the signer again, then issue every 100 ms until one succeeds
restart = time.monotonic()
subprocess.run([restart_script], check=True)
ready_at = None
first_ok_at = None
probes = []
while time.monotonic() - restart < 60 and first_ok_at is None:
    if ready_at is None:
        try:
            c = http.client.HTTPConnection("127.0.0.1", int(signer_port), timeout=1)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200: ready_at = time.monotonic()
        except Exception:
            pass
    if ready_at is not None:
        r = issue()
        probes.append(r)
        if r["status"] == 201: first_ok_at = time.monotonic(); break
    time.sleep(0.1)

after_kill = [r for r in results if killed_at[0] is not None and r.get("end", 0) > killed_at[0]]
refused = [r for r in results if r["status"] != 201]
json.dump({
    "total": len(results), "ok": sum(r["status"] == 201 for r in results),
    "codes": dict(collections.Counter(f'{r["status"]} {r["code"]}' for r in refused)),
    "untyped": sum(1 for r in refused if not r["code"] or r["code"].startswith("client:") or r["code"] == "not_json"),
    "slowest_refusal_ms": round(max([r["ms"] for r in refused] or [0])),
    "slowest_ms": round(max(r["ms"] for r in results)),
    "answered_after_kill": len(after_kill),
    "load_seconds": round(finished - started, 1),
    "signer_ready_after_restart_ms": None if ready_at is None else round((ready_at - restart) * 1000),
    "resume_after_ready_ms": None if first_ok_at is None or ready_at is None else round((first_ok_at - ready_at) * 1000),
    "probes": len(probes),
    "down_probe_codes": sorted({f'{r["status"]} {r["code"]}' for r in down_probes}),
    "down_probe_max_ms": round(max(r["ms"] for r in down_probes)),
    "serials": [r["serial"] for r in results if r["status"] == 201],
}, sys.stdout)
PY

jq -r '.serials[]' "$W/load.json" >"$W/serials.txt"
read -r total ok untyped slowest_refusal resume ready after_kill load_s down_max <<<"$(jq -r \
    '[.total, .ok, .untyped, .slowest_refusal_ms, (.resume_after_ready_ms // "none"), (.signer_ready_after_restart_ms // "none"), .answered_after_kill, .load_seconds, .down_probe_max_ms] | @tsv' "$W/load.json")"
down_codes=$(jq -r '.down_probe_codes | join(", ")' "$W/load.json")
codes=$(jq -r '.codes | to_entries | map("\(.key)×\(.value)") | join(", ")' "$W/load.json")

# The database's view: signatures the signer recorded since the drill began, against their rows.
read -r signed orphans duplicates pending <<<"$(sql -F ' ' -c "
    WITH signed AS (SELECT target_id FROM audit_events
                    WHERE service = 'signer' AND action = 'certificate.issue' AND outcome = 'success' AND occurred_at >= '$since')
    SELECT (SELECT count(*) FROM signed),
           (SELECT count(*) FROM signed s WHERE NOT EXISTS (SELECT 1 FROM certificates c
                WHERE c.id::text = s.target_id AND c.status = 'issued' AND c.certificate_der IS NOT NULL)),
           (SELECT count(*) FROM (SELECT issuer_id, serial_hex FROM certificates GROUP BY 1, 2 HAVING count(*) > 1) d),
           (SELECT count(*) FROM certificates WHERE status = 'pending' AND created_at >= '$since')")"
sql -c "CREATE TEMP TABLE answered (serial text)" -c "\copy answered FROM '$W/serials.txt'" \
    -c "SELECT count(*) FROM answered a WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial_hex = a.serial AND c.status = 'issued')" \
    >"$W/missing.txt"
missing=$(tail -1 "$W/missing.txt")

facts="$total/$COUNT answered ($ok issued, refusals: ${codes:-none}; untyped $untyped; slowest refusal ${slowest_refusal} ms; ${after_kill} answered after the kill; load ${load_s} s);"
facts+=" signer down, one at a time: ${down_codes} in at most ${down_max} ms;"
facts+=" database: $signed signatures audited, $orphans without an issued row, $duplicates duplicate serials, $missing answered 201 without a row, $pending left pending;"
facts+=" signer ready ${ready} ms after restart, issuance resumed ${resume} ms after its /readyz"
verdict=PASS
[ "$total" = "$COUNT" ] && [ "$untyped" = 0 ] && [ "$slowest_refusal" -lt 60000 ] || verdict=FAIL
[ "$down_codes" = "503 signer_unavailable" ] && [ "$down_max" -le 5000 ] || verdict=FAIL
[ "$orphans" = 0 ] && [ "$duplicates" = 0 ] && [ "$missing" = 0 ] || verdict=FAIL
[ "$resume" != none ] && [ "$resume" -le 2000 ] || verdict=FAIL
drill_result "$verdict" "$facts"
