# Revocation → replica answers revoked: issue a certificate, have every replica
# cache "good", revoke it through the admin API and time until each replica's
# answer changes (and check it says revoked).
#   python3 propagation.py ROUNDS ADMIN_URL API_KEY CA_PEM NAME=PORT...
# Prints p50/p99/max per replica, from the revoke API's response to the replica's new answer.
import http.client, json, subprocess, sys, threading, time, urllib.request

rounds, admin, key, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
replicas = [(arg.split("=")[0], int(arg.split("=")[1])) for arg in sys.argv[5:]]

def sh(*args): return subprocess.run(args, check=True, capture_output=True).stdout

def issue(name):
    sh("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
       "-out", name + ".csr", "-subj", "/CN=%s.bench.example.com" % name)
    body = json.dumps({"csr_pem": open(name + ".csr").read()}).encode()
    req = urllib.request.Request(admin + "/api/v1/certificates", body, {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    cert = json.load(urllib.request.urlopen(req))
    open(name + ".pem", "w").write(cert["certificate_pem"])
    sh("openssl", "ocsp", "-issuer", ca, "-cert", name + ".pem", "-no_nonce", "-reqout", name + ".req")
    return cert["id"], open(name + ".req", "rb").read()

def post(conn, body):
    conn.request("POST", "/.well-known/pki/ocsp/iss-local", body, {"Content-Type": "application/ocsp-request"})
    return conn.getresponse().read()

def status(answer):
    open("answer.der", "wb").write(answer)
    run = subprocess.run(["openssl", "ocsp", "-respin", "answer.der", "-resp_text", "-noverify"], capture_output=True)
    text = (run.stdout + run.stderr).decode()
    return "revoked" if "Cert Status: revoked" in text else "good" if "Cert Status: good" in text else text.strip()

latencies = {name: [] for name, _ in replicas}
failures = 0
for r in range(rounds):
    cid, body = issue("prop%d" % r)
    time.sleep(0.2)                                  # the certificate reaches the standby
    good = []
    for _, port in replicas:                         # every replica answers, and keeps, "good"
        c = http.client.HTTPConnection("127.0.0.1", port)
        answer = post(c, body)
        if status(answer) != "good": print("   replica %d did not answer good before the revocation" % port)
        good.append(post(c, body))                   # the second answer comes from memory
    done, answers, start = [None] * len(replicas), [None] * len(replicas), [0.0]
    def poll(i):
        c = http.client.HTTPConnection("127.0.0.1", replicas[i][1])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            answer = post(c, body)
            if answer != good[i]:                    # memory's "good" was evicted: a new answer
                done[i] = time.monotonic(); answers[i] = answer; return
            time.sleep(0.005)
    revoke = urllib.request.Request(admin + "/api/v1/certificates/%s/revoke" % cid, b'{"reason":"keyCompromise"}',
                                    {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    threads = [threading.Thread(target=poll, args=(i,)) for i in range(len(replicas))]
    for t in threads: t.start()
    urllib.request.urlopen(revoke).read()
    start[0] = time.monotonic()                      # the revocation has committed on the primary
    for t in threads: t.join(12)
    for i, (name, port) in enumerate(replicas):
        if answers[i] is None:
            failures += 1; print("   %s (%d) never changed its answer" % (name, port)); continue
        s = status(answers[i])
        if s != "revoked":
            failures += 1; print("   %s (%d) answered %s" % (name, port, s)); continue
        latencies[name].append(max(0.0, (done[i] - start[0]) * 1000))

for name, values in latencies.items():
    if not values: continue
    values.sort()
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    print("   %-10s %d samples: p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (name, len(values), pick(0.5), pick(0.99), values[-1]))
sys.exit(1 if failures else 0)
