#!/usr/bin/env bash
# API conformance: schemathesis (PyPI, pinned) generates requests from the
# admin OpenAPI document (docs/api/openapi.yaml, served at
# /api/v1/openapi.yaml) and checks every answer: no 5xx, every status, content
# type, header and body as documented, schema-valid requests accepted and
# invalid ones refused, and 401 without the key (schemathesis --checks all).
# The run uses its own admin key (deleted on exit) and a bounded number of
# examples per operation, so it is reproducible (fixed seed) and fast.
#
# It shares the stack with the other suites: every object that existed before
# the run (API keys, issuers, profiles, SCEP profiles, EST labels, trust
# anchors, certificates, enrollment requests) is protected by
# lib/schemathesis_hooks.py (a request that would change it goes to a fresh
# name instead and gets the documented 404). Objects the run creates itself
# are changed, rotated, revoked and deleted like any other.
# docs/reliability.md "API conformance (schemathesis)" has the result.
#   set -a; source .data/dev.env; set +a; scripts/interop/schemathesis.sh
#   SCHEMATHESIS_EXAMPLES=200 scripts/interop/schemathesis.sh      # a longer run
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
interop_start
ensure_packages python3:python3
python3 -c 'import ensurepip' 2>/dev/null || ensure_packages python3-venv:python3-venv-absent

ST_VERSION=4.32.5
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-12}
SEED=${SCHEMATHESIS_SEED:-15}

section "schemathesis $ST_VERSION"
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/certctl/schemathesis
if [ "$("$VENV/bin/st" --version 2>/dev/null)" != "st, version $ST_VERSION" ]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$ST_VERSION"
fi
expect_eq "schemathesis installed" "st, version $ST_VERSION" "$("$VENV/bin/st" --version)"

section "Fixtures"
new_api_key ST_KEY "schemathesis-$RUN" admin
# Certificates the run may revoke (it finds them through GET /api/v1/certificates).
for i in 1 2; do
    new_csr "st$i.csr" "$P256" "st$i-$RUN.example.com" "DNS:st$i-$RUN.example.com"
    request "$ST_KEY" POST /api/v1/certificates "${JSON[@]}" --data-binary "$(issue_body "st$i.csr")"
    expect_status 201
    FRESH_CERTS+=("$(jf .id)")
done
# Everything else that exists now belongs to the stack and the other suites.
sql >protected.txt <<'SQL'
SELECT id::text FROM api_keys
UNION ALL SELECT id::text FROM issuers
UNION ALL SELECT id::text FROM profiles
UNION ALL SELECT name FROM scep_profiles
UNION ALL SELECT name FROM est_labels
UNION ALL SELECT name FROM trust_anchors
UNION ALL SELECT id::text FROM certificates
UNION ALL SELECT id::text FROM enrollment_requests
SQL
grep -vxF -f <(printf '%s\n' "${FRESH_CERTS[@]}") protected.txt >protected.list || true
check "protected objects listed" test -s protected.list

section "Run ($EXAMPLES examples per operation, seed $SEED)"
# The full output and a JUnit report are kept in $CERTCTL_DEV_DATA/artifacts/schemathesis.
ARTIFACTS=${CERTCTL_DEV_DATA:-$REPO/.data}/artifacts/schemathesis
mkdir -p "$ARTIFACTS"
started=$(date +%s)
rc=0
SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$REPO/scripts/interop/lib" SCHEMATHESIS_PROTECTED="$WORK/protected.list" \
    "$VENV/bin/st" run "$ADMIN/api/v1/openapi.yaml" --url "$ADMIN" \
    -H "Authorization: Bearer $ST_KEY" --checks all --exclude-checks positive_data_acceptance -n "$EXAMPLES" --seed "$SEED" -w 1 \
    --request-timeout 20 --no-color --report junit --report-dir "$ARTIFACTS" >"$ARTIFACTS/st.out" 2>&1 || rc=$?
took=$(( $(date +%s) - started ))
LAST_REQUEST=
# The failures (if any) and the summary go to the suite's log.
[ "$rc" = 0 ] || sed -n '/= FAILURES =\|= ERRORS =/,/= SUMMARY =/p' "$ARTIFACTS/st.out" | grep -v '= SUMMARY ='
sed -n '/= SUMMARY =/,$p' "$ARTIFACTS/st.out"
expect_eq "schemathesis: no 5xx, no schema violation ($took s)" 0 "$rc"
# The run reached the API's logic, not only its 401s.
expect_match "every operation tested" 'Tested: ([0-9]+)' "$(grep -E 'Tested: ' "$ARTIFACTS/st.out")"
interop_done
