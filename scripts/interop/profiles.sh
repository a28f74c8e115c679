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

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
interop_start
AUDITOR_ACTOR="interop-auditor-$RUN" OPERATOR_ACTOR="interop-operator-$RUN"

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
new_api_key AUDITOR_KEY "$AUDITOR_ACTOR" auditor
new_api_key OPERATOR_KEY "$OPERATOR_ACTOR" operator
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

# issue DESCRIPTION STATUS ERROR BODY-FILE (lib/common.sh): POST it as the admin key
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

interop_done
