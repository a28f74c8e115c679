#!/usr/bin/env bash
# Interop suite: profile management (create, read, update, validation, roles,
# audit), issuance under a custom profile, and listing certificates (filters,
# paging, bad query parameters) of the admin REST API, checked with curl,
# openssl, jq and psql against a running stack (see docs/issuance.md and
# docs/api/openapi.yaml).
#
# Reads only the environment that `./scripts/dev up` writes to dev.env:
#   set -a; source <data>/dev.env; set +a; bash scripts/interop/profiles.sh
# Stops at the first failed check (expected vs. got, plus the last response);
# ends with "N passed, 0 failed".
#
# The profile it creates (web-<run>) stays: certificates issued under it refer
# to it. The API keys it creates are deleted on exit.
set -Eeuo pipefail

for var in DATABASE_URL CERTCTL_ADMIN_URL CERTCTL_API_KEY CERTCTL_CA_CERT_PATH CERTCTL_DEFAULT_ISSUER_ID; do
    [ -n "${!var:-}" ] || { echo "error: $var is not set (export the stack's dev.env first)" >&2; exit 1; }
done
for tool in curl openssl jq psql date; do
    command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is required" >&2; exit 1; }
done
[ -r "$CERTCTL_CA_CERT_PATH" ] || { echo "error: CERTCTL_CA_CERT_PATH=$CERTCTL_CA_CERT_PATH is not readable" >&2; exit 1; }

ADMIN=${CERTCTL_ADMIN_URL%/}
ISSUER=$CERTCTL_DEFAULT_ISSUER_ID
CA=$CERTCTL_CA_CERT_PATH
RUN=$(openssl rand -hex 5)            # makes profile ids, host names and actors unique per run
AUDITOR_KEY= OPERATOR_KEY=
AUDITOR_ACTOR="interop-auditor-$RUN" OPERATOR_ACTOR="interop-operator-$RUN"
PASSED=0 STATUS= BODY= LAST_REQUEST=

WORK=$(mktemp -d /tmp/certctl-interop.XXXXXX)
drop_key() { # KEY: delete the api_keys row of KEY
    [ -n "$1" ] || return 0
    psql "$DATABASE_URL" -XAtq -v key="$1" >/dev/null 2>&1 <<'SQL' || true
DELETE FROM api_keys WHERE key_hash = sha256(convert_to(:'key', 'UTF8'));
SQL
}
cleanup() {
    local status=$?
    drop_key "$AUDITOR_KEY"
    drop_key "$OPERATOR_KEY"
    rm -rf "$WORK"
    exit $status
}
trap cleanup EXIT INT TERM
trap 'echo "error: line $LINENO: \`$BASH_COMMAND\` failed unexpectedly (after $PASSED passed checks)" >&2' ERR
cd "$WORK"

# ---------------------------------------------------------------------------
# Check helpers. Every check counts once; the first failure exits 1.

section() { printf '\n== %s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); printf '  ok  %s\n' "$1"; }

fail() { # NAME EXPECTED GOT
    {
        printf 'FAIL: %s\n  expected: %s\n  got:      %s\n' "$1" "$2" "$3"
        if [ -n "$LAST_REQUEST" ]; then
            printf '  last request: %s -> HTTP %s\n  response body:\n' "$LAST_REQUEST" "$STATUS"
            printf '%s\n' "$BODY" | head -c 4000 | sed 's/^/    /'
        fi
    } >&2
    printf '%d passed, 1 failed\n' "$PASSED"
    exit 1
}

# check NAME COMMAND...: passes if COMMAND succeeds.
check() {
    local name=$1 out; shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "\`$*\` succeeds" "it failed: ${out:-no output}"; fi
}
# expect_eq NAME EXPECTED ACTUAL
expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "$2" "$3"; fi; }
# expect_match NAME EXTENDED-REGEX ACTUAL
expect_match() { if [[ $3 =~ $2 ]]; then pass "$1"; else fail "$1" "a match for /$2/" "$3"; fi; }
# expect_status CODE [ERROR]: status (and JSON `error`) of the last response.
expect_status() {
    local want="HTTP $1${2:+ $2}" got="HTTP $STATUS"
    [ -z "${2:-}" ] || got="$got $(jq -r '.error // "<no error field>"' <<<"$BODY" 2>/dev/null || echo '<not JSON>')"
    expect_eq "$LAST_REQUEST -> $want" "$want" "$got"
}

# ---------------------------------------------------------------------------
# HTTP and SQL helpers.

# request KEY METHOD PATH [CURL-ARGS...]: sets STATUS and BODY. An empty KEY
# sends no Authorization header. Waits for the stack if it is restarting.
request() {
    local key=$1 method=$2 path=$3 tries=0 rc; shift 3
    local auth=()
    [ -z "$key" ] || auth=(-H "Authorization: Bearer $key")
    LAST_REQUEST="$method ${path%%\?*}"
    while :; do
        rc=0
        STATUS=$(curl -sS -o "$WORK/body" -w '%{http_code}' -X "$method" "${auth[@]}" "$@" "$ADMIN$path" \
            2>"$WORK/curl.err") || rc=$?
        # 7 = could not connect: the stack is being restarted, wait for it.
        if [ "$rc" = 7 ] && [ $tries -lt 30 ]; then tries=$((tries + 1)); sleep 1; continue; fi
        break
    done
    BODY=$(cat "$WORK/body" 2>/dev/null || true)
    [ "$rc" = 0 ] || BODY="(curl exit $rc: $(cat "$WORK/curl.err")) $BODY"
}
api() { request "$CERTCTL_API_KEY" "$@"; }
JSON=(-H 'Content-Type: application/json')
# post_json PATH FILE [CURL-ARGS...] as the admin key.
post_json() { local path=$1 file=$2; shift 2; api POST "$path" "${JSON[@]}" --data-binary "@$file" "$@"; }
put_json() { local path=$1 file=$2; shift 2; api PUT "$path" "${JSON[@]}" --data-binary "@$file" "$@"; }
jf() { jq -r "$1" <<<"$BODY"; }

# list_certs [KEY=VALUE...]: GET /api/v1/certificates with these query
# parameters (URL-encoded), as the admin key.
list_certs() {
    local args=() p
    for p in "$@"; do args+=(--data-urlencode "$p"); done
    api GET /api/v1/certificates -G "${args[@]}"
    LAST_REQUEST="GET /api/v1/certificates?$(IFS='&'; echo "$*")"
}

sql() { # SQL on stdin or as -c; retried while Postgres is restarting
    local tries=0 out
    until out=$(psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "$@" 2>&1); do
        tries=$((tries + 1)); [ $tries -lt 10 ] || { echo "error: psql failed: $out" >&2; return 1; }
        sleep 1
    done
    printf '%s\n' "$out"
}
row_count() { sql -c "SELECT count(*) FROM $1"; }

# new_api_key ACTOR ROLE: inserts a key, prints it.
new_api_key() {
    local key
    key="cctl_$(openssl rand -hex 24)"
    sql -v key="$key" -v actor="$1" -v role="$2" >/dev/null <<'SQL'
INSERT INTO api_keys (actor, role, key_hash, key_prefix)
VALUES (:'actor', :'role', sha256(convert_to(:'key', 'UTF8')), left(:'key', 10));
SQL
    printf '%s\n' "$key"
}

# rejects TABLE DESCRIPTION STATUS ERROR KEY METHOD PATH [CURL-ARGS...]: the
# request fails with STATUS/ERROR and the row count of TABLE does not change.
rejects() {
    local table=$1 desc=$2 status=$3 error=$4 before after; shift 4
    before=$(row_count "$table")
    request "$@"
    LAST_REQUEST="$LAST_REQUEST ($desc)"
    expect_status "$status" "$error"
    after=$(row_count "$table")
    expect_eq "$table count unchanged ($desc)" "$before" "$after"
}

# ---------------------------------------------------------------------------
# Certificate helpers.

# new_csr FILE OPENSSL-NEWKEY-ARGS SUBJECT-CN SAN
new_csr() {
    local out=$1 cn=$3 san=$4; local -a newkey
    read -r -a newkey <<<"$2"
    openssl req -new "${newkey[@]}" -nodes -keyout "$out.key" -out "$out" \
        -subj "/CN=$cn" -addext "subjectAltName=$san" 2>/dev/null
}
P256="-newkey ec -pkeyopt ec_paramgen_curve:P-256"
# issue_body CSR-FILE [EXTRA-JQ-OBJECT]: the request body as JSON.
issue_body() { local extra=${2:-}; jq -Rs "{csr_pem: .} + ${extra:-null}" "$1"; }
epoch() { date -u -d "$1" +%s; }
epoch_ns() { date -u -d "$1" +%s%N; }
# ext CERT NAME: one extension as "line|line" with indentation trimmed.
ext() { openssl x509 -in "$1" -noout -ext "$2" | sed 's/^ *//; s/ *$//' | paste -sd'|' -; }
# lifetime CERT: notAfter - notBefore in seconds.
lifetime() {
    echo $(( $(epoch "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)") \
           - $(epoch "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)") ))
}

TS_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})'
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
DAY=86400

# ---------------------------------------------------------------------------
section "1. Profiles: create, read, update"
PROFILE="web-$RUN"
# the profile's settings as the API returns them (id and settings, no timestamps)
FIELDS='{id, description, allowed_key_algorithms, max_validity_days, extended_key_usages, allowed_san_types, san_patterns}'
jq -n --arg id "$PROFILE" '{
    id: $id, description: "web servers", allowed_key_algorithms: ["ecdsa-p256"], max_validity_days: 30,
    extended_key_usages: ["serverAuth"], allowed_san_types: ["dns"], san_patterns: ["*.example.com"]}' >profile.json
want=$(jq -cS . profile.json)

before=$(row_count profiles)
post_json /api/v1/profiles profile.json
expect_status 201
expect_eq "POST: body has the request's fields" "$want" "$(jf "$FIELDS" | jq -cS .)"
expect_eq "POST: allow_ca defaults to false" false "$(jf .allow_ca)"
created_at=$(jf .created_at)
expect_match "POST: created_at is RFC 3339" "^$TS_RE\$" "$created_at"
expect_match "POST: updated_at is RFC 3339" "^$TS_RE\$" "$(jf .updated_at)"
expect_eq "profiles count grew by one" $((before + 1)) "$(row_count profiles)"

rejects profiles "same id again" 409 profile_exists "$CERTCTL_API_KEY" POST /api/v1/profiles \
    "${JSON[@]}" --data-binary @profile.json

api GET "/api/v1/profiles/$PROFILE"
expect_status 200
expect_eq "GET: same fields" "$want" "$(jf "$FIELDS" | jq -cS .)"
expect_eq "GET: same created_at" "$created_at" "$(jf .created_at)"

jq 'del(.id) | .max_validity_days = 60 | .description = "web servers, 60 days"' profile.json >update.json
want_updated=$(jq -cS --arg id "$PROFILE" '. + {id: $id}' update.json)
put_json "/api/v1/profiles/$PROFILE" update.json
expect_status 200
expect_eq "PUT: body has the new values" "$want_updated" "$(jf "$FIELDS" | jq -cS .)"
expect_eq "PUT: created_at unchanged" "$(epoch "$created_at")" "$(epoch "$(jf .created_at)")"
check "PUT: updated_at ($(jf .updated_at)) not before created_at ($created_at)" \
    [ "$(epoch_ns "$(jf .updated_at)")" -ge "$(epoch_ns "$created_at")" ]
api GET "/api/v1/profiles/$PROFILE"
expect_status 200
expect_eq "GET after PUT: the new values" "$want_updated" "$(jf "$FIELDS" | jq -cS .)"

rejects profiles "PUT unknown id" 404 profile_not_found "$CERTCTL_API_KEY" PUT "/api/v1/profiles/nope-$RUN" \
    "${JSON[@]}" --data-binary @update.json
api GET "/api/v1/profiles/nope-$RUN"
LAST_REQUEST="$LAST_REQUEST (unknown id)"
expect_status 404 profile_not_found

# ---------------------------------------------------------------------------
section "2. Profiles: invalid values are refused"
n=0
bad_profile() { # DESCRIPTION JQ-EDIT: POST profile.json with a fresh id, edited
    n=$((n + 1))
    jq --arg id "bad-$RUN-$n" ".id = \$id | $2" profile.json >"bad-$n.json"
    rejects profiles "$1" 400 invalid_request "$CERTCTL_API_KEY" POST /api/v1/profiles \
        "${JSON[@]}" --data-binary "@bad-$n.json"
}
bad_profile "allowed_key_algorithms [rsa-1024]" '.allowed_key_algorithms = ["rsa-1024"]'
bad_profile "extended_key_usages [anyPurpose]" '.extended_key_usages = ["anyPurpose"]'
bad_profile "allowed_san_types [dn]" '.allowed_san_types = ["dn"]'
bad_profile "max_validity_days 0" '.max_validity_days = 0'
bad_profile "id \"Bad Id\"" '.id = "Bad Id"'
bad_profile "allowed_key_algorithms []" '.allowed_key_algorithms = []'

jq '.max_validity_days = 36501' update.json >bad-update.json
rejects profiles "PUT max_validity_days 36501" 400 invalid_request "$CERTCTL_API_KEY" PUT "/api/v1/profiles/$PROFILE" \
    "${JSON[@]}" --data-binary @bad-update.json
api GET "/api/v1/profiles/$PROFILE"
expect_eq "refused PUT left the profile unchanged" "$want_updated" "$(jf "$FIELDS" | jq -cS .)"

# ---------------------------------------------------------------------------
section "3. Profiles: roles and audit"
AUDITOR_KEY=$(new_api_key "$AUDITOR_ACTOR" auditor)
OPERATOR_KEY=$(new_api_key "$OPERATOR_ACTOR" operator)
jq --arg id "role-$RUN" '.id = $id' profile.json >role.json

rejects profiles "auditor creates a profile" 403 forbidden "$AUDITOR_KEY" POST /api/v1/profiles \
    "${JSON[@]}" --data-binary @role.json
rejects profiles "operator creates a profile" 403 forbidden "$OPERATOR_KEY" POST /api/v1/profiles \
    "${JSON[@]}" --data-binary @role.json
jq '.max_validity_days = 1' update.json >operator-update.json
rejects profiles "operator updates a profile" 403 forbidden "$OPERATOR_KEY" PUT "/api/v1/profiles/$PROFILE" \
    "${JSON[@]}" --data-binary @operator-update.json
api GET "/api/v1/profiles/$PROFILE"
expect_eq "refused operator PUT left max_validity_days" 60 "$(jf .max_validity_days)"

request "$OPERATOR_KEY" GET /api/v1/profiles
LAST_REQUEST="$LAST_REQUEST (operator)"
expect_status 200
expect_eq "operator's profile list has $PROFILE" 1 "$(jq --arg id "$PROFILE" '[.items[] | select(.id == $id)] | length' <<<"$BODY")"

api GET /api/v1/audit -G --data-urlencode "target_id=$PROFILE"
LAST_REQUEST="GET /api/v1/audit?target_id=$PROFILE"
expect_status 200
expect_eq "audit: one profile.create by bootstrap" 1 \
    "$(jf '[.items[] | select(.action == "profile.create" and .actor == "bootstrap" and .outcome == "success")] | length')"
expect_eq "audit: one profile.update by bootstrap" 1 \
    "$(jf '[.items[] | select(.action == "profile.update" and .actor == "bootstrap" and .outcome == "success")] | length')"

# ---------------------------------------------------------------------------
section "4. Issuance under $PROFILE"
with_profile="{profile_id: \"$PROFILE\"}"
new_csr web.csr "$P256" a.example.com "DNS:a.example.com"
issue_body web.csr "$with_profile" >web.json
post_json /api/v1/certificates web.json
expect_status 201
expect_eq "profile_id" "$PROFILE" "$(jf .profile_id)"
expect_eq "subject_alt_names" '["DNS:a.example.com"]' "$(jq -c .subject_alt_names <<<"$BODY")"
jf .certificate_pem >web.pem
expect_eq "openssl verify -CAfile \$CERTCTL_CA_CERT_PATH" "web.pem: OK" "$(openssl verify -CAfile "$CA" web.pem 2>&1)"
expect_eq "extendedKeyUsage is serverAuth only" "X509v3 Extended Key Usage:|TLS Web Server Authentication" \
    "$(ext web.pem extendedKeyUsage)"
life=$(lifetime web.pem)
# no validity_days: the updated profile's 60 days (plus 5 minutes of backdating)
check "notAfter - notBefore is 60 days, at most 61 ($((life / DAY))d $((life % DAY))s)" \
    [ "$life" -ge $((60 * DAY)) -a "$life" -le $((61 * DAY)) ]

issue() { # DESCRIPTION STATUS ERROR BODY-FILE: POST it as the admin key
    rejects certificates "$1" "$2" "$3" "$CERTCTL_API_KEY" POST /api/v1/certificates "${JSON[@]}" --data-binary "@$4"
}
new_csr deep.csr "$P256" a.b.example.com "DNS:a.b.example.com"
issue_body deep.csr "$with_profile" >deep.json
issue "DNS:a.b.example.com (two labels under *.example.com)" 400 san_not_allowed deep.json
new_csr org.csr "$P256" a.example.org "DNS:a.example.org"
issue_body org.csr "$with_profile" >org.json
issue "DNS:a.example.org" 400 san_not_allowed org.json
new_csr ip.csr "$P256" ip.example.com "DNS:ip.example.com,IP:10.0.0.1"
issue_body ip.csr "$with_profile" >ip.json
issue "IP:10.0.0.1 (type not allowed)" 400 san_not_allowed ip.json
new_csr rsa.csr "-newkey rsa:2048" b.example.com "DNS:b.example.com"
issue_body rsa.csr "$with_profile" >rsa.json
issue "RSA-2048" 400 key_not_allowed rsa.json
new_csr ok.csr "$P256" c.example.com "DNS:c.example.com"
issue_body ok.csr "$with_profile + {validity_days: 61}" >long.json
issue "validity_days 61" 400 validity_too_long long.json

issue_body ok.csr "$with_profile + {validity_days: 10}" >short.json
post_json /api/v1/certificates short.json
LAST_REQUEST="$LAST_REQUEST (validity_days 10)"
expect_status 201
jf .certificate_pem >short.pem
life=$(lifetime short.pem)
check "notAfter - notBefore is 10 days + about 5 minutes (10d + $((life - 10 * DAY))s)" \
    [ $((life - 10 * DAY)) -ge 240 -a $((life - 10 * DAY)) -le 420 ]

new_csr op.csr "$P256" d.example.com "DNS:d.example.com"
issue_body op.csr "$with_profile" >op.json
request "$OPERATOR_KEY" POST /api/v1/certificates "${JSON[@]}" --data-binary @op.json
LAST_REQUEST="$LAST_REQUEST (operator)"
expect_status 201
expect_eq "operator's certificate: requested_by" "$OPERATOR_ACTOR" "$(jf .requested_by)"

# ---------------------------------------------------------------------------
section "5. Listing and paging"
MARK="pg-$RUN"
IDS=()
for i in 1 2 3 4 5; do
    new_csr "pg$i.csr" "$P256" "$MARK-$i.example.com" "DNS:$MARK-$i.example.com"
    issue_body "pg$i.csr" >"pg$i.json"
    post_json /api/v1/certificates "pg$i.json"
    [ "$STATUS" = 201 ] || expect_status 201
    IDS+=("$(jf .id)")
done
expect_eq "issued 5 certificates with ids" 5 "$(printf '%s\n' "${IDS[@]}" | grep -cE "$UUID_RE")"
want_ids=$(printf '%s\n' "${IDS[@]}" | sort | paste -sd, -)

list_certs "q=$MARK" limit=2
expect_status 200
expect_eq "first page: 2 items" 2 "$(jf '.items | length')"
cursor=$(jf '.next_cursor // empty')
expect_match "first page: next_cursor is set" '.' "$cursor"
jf '.items[] | [.id, .created_at] | @tsv' >pages.tsv
pages=1 last_next= last_items=
while [ -n "$cursor" ] && [ $pages -lt 10 ]; do
    list_certs "q=$MARK" limit=2 "cursor=$cursor"
    expect_status 200
    pages=$((pages + 1))
    check "page $pages: at most 2 items ($(jf '.items | length'))" [ "$(jf '.items | length')" -le 2 ]
    jf '.items[] | [.id, .created_at] | @tsv' >>pages.tsv
    last_items=$(jf '.items | length') last_next=$(jf .next_cursor)
    cursor=$(jf '.next_cursor // empty')
done
expect_eq "paging ends: last page's next_cursor null or the page after it empty" true \
    "$([ -z "$cursor" ] && { [ "$last_next" = null ] || [ "$last_items" = 0 ]; } && echo true || echo "next_cursor=$last_next after $pages pages")"
expect_eq "pages hold 5 items" 5 "$(wc -l <pages.tsv | tr -d ' ')"
expect_eq "pages hold exactly the 5 issued ids" "$want_ids" "$(cut -f1 pages.tsv | sort -u | paste -sd, -)"
prev= order=ok
while IFS=$'\t' read -r id ts; do
    t=$(epoch_ns "$ts")
    [ -z "$prev" ] || [ "$t" -le "$prev" ] || order="$id ($ts) is newer than the item before it"
    prev=$t
done <pages.tsv
expect_eq "newest first: created_at non-increasing across pages" ok "$order"

list_certs status=revoked "q=$MARK"
expect_status 200
expect_eq "status=revoked: none yet" 0 "$(jf '.items | length')"
echo '{"reason":"superseded"}' >revoke.json
post_json "/api/v1/certificates/${IDS[2]}/revoke" revoke.json
expect_status 200
list_certs status=revoked "q=$MARK"
expect_status 200
expect_eq "status=revoked: the revoked one" "${IDS[2]}" "$(jf '[.items[].id] | join(",")')"
list_certs status=issued "q=$MARK"
expect_status 200
expect_eq "status=issued: the other 4" 4 "$(jf '.items | length')"

list_certs "issuer_id=$ISSUER" "q=$MARK"
expect_status 200
expect_eq "issuer_id=$ISSUER: all 5" 5 "$(jf '.items | length')"

now=$(date -u +%s)
list_certs "expiring_before=$(date -u -d "@$((now + DAY))" +%Y-%m-%dT%H:%M:%SZ)" "q=$MARK"
expect_status 200
expect_eq "expiring_before now + 1 day: none" 0 "$(jf '.items | length')"
list_certs "expiring_before=$(date -u -d "@$((now + 400 * DAY))" +%Y-%m-%dT%H:%M:%SZ)" "q=$MARK"
expect_status 200
expect_eq "expiring_before now + 400 days: all 5" 5 "$(jf '.items | length')"
# offsets count: the certificates end about now + 397 days (default profile)
list_certs "expiring_before=$(TZ=UTC-5 date -d "@$((now + 397 * DAY - 3600))" +%Y-%m-%dT%H:%M:%S+05:00)" "q=$MARK"
expect_status 200
expect_eq "expiring_before now + 397 days - 1 hour, as +05:00: none" 0 "$(jf '.items | length')"
list_certs "expiring_before=$(TZ=UTC+5 date -d "@$((now + 397 * DAY + 3600))" +%Y-%m-%dT%H:%M:%S-05:00)" "q=$MARK"
expect_status 200
expect_eq "expiring_before now + 397 days + 1 hour, as -05:00: all 5" 5 "$(jf '.items | length')"

section "6. Listing: bad query parameters"
list_certs limit=0;                 expect_status 400 invalid_request
list_certs limit=501;               expect_status 400 invalid_request
list_certs status=bogus;            expect_status 400 invalid_request
list_certs cursor=not-a-cursor;     expect_status 400 invalid_cursor
list_certs expiring_before=yesterday; expect_status 400 invalid_request
list_certs serial=xyz;              expect_status 400 invalid_serial

echo
printf '%d passed, 0 failed\n' "$PASSED"
