# `scripts/compose test`, sourced by scripts/compose (uses its functions).
# A fresh stack of its own (project certctl-compose-test, subnet 10.89.202.0/24,
# free loopback ports, secrets in a scratch directory), then:
#   - the interop suites issuance, ocsp, crl, est and scep through the published
#     ports and the OCSP balancer, with CERTCTL_INTEROP_HOST_PROCESSES=0 (their sections
#     that start host processes, read /proc or run pg_ctl are skipped);
#   - a revocation seen by every OCSP replica and through the balancer;
#   - one OCSP container stopped: every request through the balancer answered;
#   - the signer container's process killed: its restart policy brings it
#     back and issuance resumes;
#   - the postgres container restarted: every service ready again, issuance,
#     OCSP and CRL work, without a manual step;
#   - the runbook's pg_dump and psql through `podman exec` on the postgres container;
# then `down` and the project's volumes and secrets removed, also on failure.
# Each step reports its time; a table ends the run.

TEST_ROWS=() TEST_FAILED=0

test_step() { # NAME COMMAND...: runs it, records ok/FAILED and seconds; stops at the first failure
    local name=$1 t0=$SECONDS rc=0; shift
    log "compose test: $name"
    "$@" || rc=$?
    TEST_ROWS+=("$(printf '%-40s %-7s %5d s' "$name" "$([ $rc = 0 ] && echo ok || echo FAILED)" $((SECONDS - t0)))")
    [ $rc = 0 ] || { TEST_FAILED=1; die "compose test: $name failed"; }
}

test_cleanup() {
    local status=$? name volumes=()
    if [ $status != 0 ] && [ -n "$(project_containers)" ]; then
        for name in $(project_containers); do
            log "---- $name ($(health_of "$name")), last lines:"
            podman logs --tail 15 "$name" 2>&1 | cut -c1-300 >&2 || true
        done
    fi
    for name in $(project_containers); do
        volumes+=($(podman inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}' "$name" 2>/dev/null))
    done
    pcompose down >"$DATA/down.log" 2>&1 || tail -n 20 "$DATA/down.log" >&2
    [ ${#volumes[@]} -eq 0 ] || podman volume rm -f "${volumes[@]}" >/dev/null 2>&1 || true
    podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
    rm -rf "$DATA"
    {
        printf '\n%-40s %-7s %7s\n' step result time
        printf '%s\n' ${TEST_ROWS[@]+"${TEST_ROWS[@]}"}
        printf '%-40s %-7s %5d s\n' total "$([ $status = 0 ] && echo ok || echo FAILED)" $((SECONDS - TEST_START))
    } >&2
    exit $status
}

# ---------------------------------------------------------------------------
# Clients: curl (CURL_CA_BUNDLE trusts admin's TLS CA), openssl.
issue_cert() { # NAME: $DRILL/NAME.pem; prints the certificate id
    local name=$1 dir=$DRILL
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/$name.key" \
        -subj "/CN=$name.compose.test" -addext "subjectAltName=DNS:$name.compose.test" -out "$dir/$name.csr" 2>/dev/null
    jq -n --rawfile csr "$dir/$name.csr" '{csr_pem: $csr, issuer_id: "iss-local", profile_id: "default"}' |
        curl -fsS --max-time 20 -H "Authorization: Bearer $CERTCTL_API_KEY" -H 'Content-Type: application/json' \
            --data-binary @- "$CERTCTL_ADMIN_URL/api/v1/certificates" >"$dir/$name.json" || return 1
    jq -er .certificate_pem "$dir/$name.json" >"$dir/$name.pem" && jq -er .id "$dir/$name.json"
}
revoke_cert() { # ID REASON
    curl -fsS --max-time 20 -o /dev/null -H "Authorization: Bearer $CERTCTL_API_KEY" -H 'Content-Type: application/json' \
        -d "{\"reason\": \"$2\"}" "$CERTCTL_ADMIN_URL/api/v1/certificates/$1/revoke"
}
ocsp_status() { # BASE-URL CERT: good | revoked | unknown | the error, with a verified signature
    local out
    out=$(openssl ocsp -issuer "$CERTCTL_CA_CERT_PATH" -cert "$2" -CAfile "$CERTCTL_CA_CERT_PATH" -no_nonce -timeout 10 \
        -url "$1/.well-known/pki/ocsp/iss-local" 2>&1) || true
    if grep -q "Response verify OK" <<<"$out"; then
        sed -n "s#^$2: \([a-z]*\).*#\1#p" <<<"$out"
    else
        echo "error: $(tr '\n' ' ' <<<"$out" | cut -c1-200)"
    fi
}
crl_ok() { # the CRL through the published port verifies against the CA
    curl -fsS --max-time 10 -o "$DRILL/crl.der" "$CERTCTL_CRL_URL/.well-known/pki/crl/iss-local" &&
        openssl crl -inform DER -in "$DRILL/crl.der" -CAfile "$CERTCTL_CA_CERT_PATH" -noout 2>&1 | grep -q "verify OK"
}
expect() { # DESCRIPTION EXPECTED GOT
    if [ "$2" = "$3" ]; then log "  ok  $1"; else log "  FAIL $1: expected $2, got $3"; return 1; fi
}

# ---------------------------------------------------------------------------
# Drills.
drill_revocation_everywhere() {
    local id url replicas start
    read -ra replicas <<<"$CERTCTL_OCSP_REPLICA_URLS"
    expect "the balancer has every replica" "${#replicas[@]}" "$(balancer_up)"
    id=$(issue_cert everywhere)
    for url in "${replicas[@]}"; do expect "good at $url (warms its memory cache)" good "$(ocsp_status "$url" "$DRILL/everywhere.pem")"; done
    revoke_cert "$id" keyCompromise
    start=$SECONDS
    for url in "${replicas[@]}"; do
        expect "revoked at replica $url right after the API call" revoked "$(ocsp_status "$url" "$DRILL/everywhere.pem")"
    done
    for _ in 1 2 3 4 5 6; do
        expect "revoked through the balancer" revoked "$(ocsp_status "$CERTCTL_OCSP_URL" "$DRILL/everywhere.pem")"
    done
    log "  (${#replicas[@]} replicas and the balancer answered revoked within $((SECONDS - start)) s)"
    local name keys=()
    for name in $(project_containers | grep "^${PROJECT}_ocsp_[0-9]"); do
        keys+=("$(podman exec "$name" sh -c 'cat /var/lib/certctl/ocsp-responder-keys/* | sha256sum' | cut -c1-16)")
    done
    expect "every replica signs with a key of its own" "${#replicas[@]}" "$(printf '%s\n' "${keys[@]}" | sort -u | wc -l)"
}

drill_ocsp_replica_stopped() {
    local victim answered=0 failed=0 i status
    victim=$(container ocsp 2)
    issue_cert balanced >/dev/null
    expect "good through the balancer" good "$(ocsp_status "$CERTCTL_OCSP_URL" "$DRILL/balanced.pem")"
    podman stop -t 5 "$victim" >/dev/null &
    local stopper=$!
    for i in $(seq 60); do   # during and after the stop, ~10 s
        status=$(ocsp_status "$CERTCTL_OCSP_URL" "$DRILL/balanced.pem")
        if [ "$status" = good ]; then answered=$((answered + 1)); else failed=$((failed + 1)); log "  request $i: $status"; fi
        sleep 0.15
    done
    wait $stopper
    expect "$victim stopped" exited "$(podman inspect -f '{{.State.Status}}' "$victim")"
    expect "answers through the balancer while $victim stops (of 60)" "60 answered, 0 failed" "$answered answered, $failed failed"
    expect "the pool lost one replica" 2 "$(balancer_up)"
    podman start "$victim" >/dev/null
    local deadline=$((SECONDS + 60))
    until [ "$(balancer_up)" = 3 ]; do
        [ $SECONDS -lt $deadline ] || { expect "$victim back in the pool within 60 s" 3 "$(balancer_up)"; return 1; }
        sleep 1
    done
    log "  ok  $victim back in the pool"
    # its address may have changed: the suites' per-replica URLs follow
    write_env; set -a; source "$DATA/compose.env"; set +a
}

drill_signer_killed() {
    local signer pid restarts t0 id
    signer=$(container certctl-signer)
    pid=$(podman inspect -f '{{.State.Pid}}' "$signer")
    restarts=$(podman inspect -f '{{.RestartCount}}' "$signer")
    t0=$SECONDS
    kill -KILL "$pid"   # the container's main process (certctl-signer), as a crash would
    local deadline=$((SECONDS + 90))
    until [ "$(podman inspect -f '{{.RestartCount}}' "$signer")" -gt "$restarts" ] && [ "$(health_of "$signer")" = healthy ]; do
        [ $SECONDS -lt $deadline ] || { log "  FAIL signer not restarted and healthy within 90 s: $(health_of "$signer")"; return 1; }
        sleep 1
    done
    log "  ok  the restart policy restarted $signer (restarts $restarts -> $(podman inspect -f '{{.RestartCount}}' "$signer")), healthy after $((SECONDS - t0)) s"
    until id=$(issue_cert after-signer 2>/dev/null); do
        [ $SECONDS -lt $deadline ] || { log "  FAIL issuance did not resume within 90 s of the kill"; return 1; }
        sleep 1
    done
    log "  ok  issuance resumed $((SECONDS - t0)) s after the kill (certificate $id)"
    expect "the new certificate is good through the balancer" good "$(ocsp_status "$CERTCTL_OCSP_URL" "$DRILL/after-signer.pem")"
}

drill_postgres_restarted() {
    local t0=$SECONDS id
    podman restart -t 10 "$(container postgres)" >/dev/null
    HEALTH_TIMEOUT=180 wait_healthy
    log "  ok  every container healthy and the balancer's pool full $((SECONDS - t0)) s after the restart"
    local deadline=$((SECONDS + 60))
    until id=$(issue_cert after-postgres 2>/dev/null); do
        [ $SECONDS -lt $deadline ] || { log "  FAIL issuance did not work within 60 s of readiness"; return 1; }
        sleep 1
    done
    log "  ok  issuance works $((SECONDS - t0)) s after the restart"
    expect "OCSP through the balancer" good "$(ocsp_status "$CERTCTL_OCSP_URL" "$DRILL/after-postgres.pem")"
    revoke_cert "$id" superseded
    expect "a revocation after the restart reaches the balanced tier" revoked "$(ocsp_status "$CERTCTL_OCSP_URL" "$DRILL/after-postgres.pem")"
    crl_ok && log "  ok  the CRL verifies" || { log "  FAIL the CRL"; return 1; }
}

drill_backup() { # the runbook's backup through the postgres container (docs/deployment.md)
    local pg; pg=$(container postgres)
    podman exec "$pg" pg_dump -U postgres -Fc certctl >"$DRILL/certctl.dump"
    expect "pg_dump -Fc through podman exec: a custom-format archive" PGDMP "$(head -c 5 "$DRILL/certctl.dump")"
    expect "the archive lists table certificates" 1 \
        "$(podman exec -i "$pg" pg_restore --list <"$DRILL/certctl.dump" | grep -c 'TABLE public certificates ')"
    expect "psql -U postgres through podman exec" t \
        "$(podman exec "$pg" psql -U postgres -d certctl -qtAc "SELECT count(*) > 0 FROM certificates")"
}

# EST label `default` (user `device`, mTLS against trust bundle est-clients,
# which starts as the product CA) and SCEP profile `default` (an RSA RA key and
# certificate issued by iss-local, a static challenge), as scripts/dev sets
# them up; their files in the shared directory that admin and enroll see at
# the same path (compose.test.yaml). Adds the suites' variables to compose.env.
setup_enrollment() {
    local shared=$COMPOSE_TEST_SHARED auth=(-H "Authorization: Bearer $CERTCTL_API_KEY" -H 'Content-Type: application/json')
    local admin=$CERTCTL_ADMIN_URL password challenge
    mkdir -p "$shared/scep" "$shared/tmp"
    cp "$CERTCTL_CA_CERT_PATH" "$shared/est-clients.pem"
    chown "$CERTCTL_UID:$CERTCTL_UID" "$shared/est-clients.pem"; chmod 644 "$shared/est-clients.pem"
    curl -fsS -o /dev/null "${auth[@]}" "$admin/api/v1/admin/trust-anchors" \
        -d "{\"name\": \"est-clients\", \"purpose\": \"est-mtls\", \"path\": \"$shared/est-clients.pem\"}"
    # certctl-enroll loads a bundle at start or on reload (scripts/dev restarts it after creating this one)
    curl -fsS -o /dev/null "${auth[@]}" -X POST "$admin/api/v1/admin/trust-anchors/est-clients/reload"
    curl -fsS -o /dev/null "${auth[@]}" "$admin/api/v1/est/labels" -d '{"name": "default", "issuer_id": "iss-local",
        "profile_id": "default", "allow_basic": true, "allow_mtls": true, "trust_anchor": "est-clients"}'
    password=$(curl -fsS "${auth[@]}" "$admin/api/v1/est/labels/default/users" -d '{"username": "device"}' | jq -er .password)
    (umask 077; openssl genrsa -out "$shared/scep/ra.key" 2048 2>/dev/null)
    openssl req -new -key "$shared/scep/ra.key" -subj "/O=certctl compose test/CN=certctl SCEP RA default" -out "$shared/scep/ra.csr"
    jq -n --rawfile csr "$shared/scep/ra.csr" '{csr_pem: $csr, issuer_id: "iss-local", profile_id: "default"}' |
        curl -fsS "${auth[@]}" --data-binary @- "$admin/api/v1/certificates" | jq -er .certificate_pem >"$shared/scep/ra.crt"
    chown -R "$CERTCTL_UID:$CERTCTL_UID" "$shared/scep"
    challenge=$(openssl rand -hex 16)
    jq -n --arg cert "$shared/scep/ra.crt" --arg key "$shared/scep/ra.key" --arg challenge "$challenge" \
        '{name: "default", issuer_id: "iss-local", profile_id: "default", ra_cert_path: $cert, ra_key_path: $key,
          static_challenge: $challenge, allow_one_time_challenges: true}' |
        curl -fsS -o /dev/null "${auth[@]}" --data-binary @- "$admin/api/v1/scep/profiles"
    {
        echo "CERTCTL_EST_URL=https://127.0.0.1:$CERTCTL_EST_PORT/.well-known/est"
        echo "CERTCTL_EST_USER=device"
        echo "CERTCTL_EST_PASSWORD=$password"
        echo "CERTCTL_EST_TLS_CA_PATH=$DATA/tls-ca/ca.crt"
        echo "CERTCTL_EST_CLIENT_BUNDLE=$shared/est-clients.pem"
        echo "CERTCTL_SCEP_URL=http://127.0.0.1:$CERTCTL_ENROLL_PORT/scep/default"
        echo "CERTCTL_SCEP_CHALLENGE=$challenge"
        echo "CERTCTL_INTEROP_TMP=$shared/tmp"
        # scep.sh signs challenge tokens with the host's certctl-admin (a local command, no server)
        echo "CERTCTL_BIN_DIR=${COMPOSE_BIN_DIR:-$(swift build --show-bin-path)}"
    } >>"$DATA/compose.env"
    set -a; source "$DATA/compose.env"; set +a
}

run_suite() { bash "$ROOT/scripts/interop/$1.sh" >"$DATA/suite-$1.log" 2>&1 || { tail -n 40 "$DATA/suite-$1.log" >&2; return 1; }; tail -n 1 "$DATA/suite-$1.log" | sed 's/^/  /' >&2; }

cmd_test() {
    TEST_START=$SECONDS
    PROJECT=${COMPOSE_PROJECT:-certctl-compose-test}
    DATA=$(mktemp -d /tmp/certctl-compose-test.XXXXXX)
    export COMPOSE_DATA=$DATA
    export CERTCTL_COMPOSE_SUBNET=${COMPOSE_TEST_SUBNET:-10.89.202.0/24}
    pick_ports CERTCTL_ADMIN_PORT CERTCTL_OCSP_PORT CERTCTL_CRL_PORT CERTCTL_ENROLL_PORT CERTCTL_EST_PORT CERTCTL_PG_PORT
    export CERTCTL_ADMIN_PORT CERTCTL_OCSP_PORT CERTCTL_CRL_PORT CERTCTL_ENROLL_PORT CERTCTL_EST_PORT CERTCTL_PG_PORT
    export CERTCTL_OCSP_BASE_URL=http://127.0.0.1:$CERTCTL_OCSP_PORT CERTCTL_CRL_BASE_URL=http://127.0.0.1:$CERTCTL_CRL_PORT
    export COMPOSE_TEST_SHARED=$DATA/shared
    mkdir -p "$COMPOSE_TEST_SHARED"; chmod 755 "$COMPOSE_TEST_SHARED"
    ensure_packages curl:curl jq:jq openssl:openssl postgresql-client:psql
    trap test_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    DRILL=$DATA/drill; mkdir -p "$DRILL"
    test_step "up (build, secrets, start, healthy)" cmd_up
    set -a; source "$DATA/compose.env"; set +a
    test_step "interop issuance" run_suite issuance
    test_step "interop ocsp (sections 1-4)" run_suite ocsp
    test_step "interop crl (all but 2 sections)" run_suite crl
    test_step "EST label and SCEP profile set up" setup_enrollment
    test_step "interop est" run_suite est
    test_step "interop scep" run_suite scep
    test_step "revocation at every OCSP replica" drill_revocation_everywhere
    test_step "one OCSP container stopped" drill_ocsp_replica_stopped
    test_step "signer container killed" drill_signer_killed
    test_step "postgres container restarted" drill_postgres_restarted
    test_step "backup with pg_dump (exec)" drill_backup
    log "compose test passed"
}
