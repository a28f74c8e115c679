#!/usr/bin/env bash
# Interop suite: a custom profile made and changed through the admin REST API
# with curl, then certificates issued under it and checked with openssl
# (chain, extended key usage, lifetime; see docs/issuance.md). Profile
# validation, roles, audit events, the profile's SAN, key and validity limits,
# listing, paging and query parameters are covered in-process by
# Tests/Integration/AdminAPI*Tests.swift.
#
# Reads only the environment that `./scripts/dev up` writes to dev.env:
#   set -a; source <data>/dev.env; set +a; bash scripts/interop/profiles.sh
# Stops at the first failed check (expected vs. got, plus the last response);
# ends with "N passed, 0 failed".
#
# The profile it creates (web-<run>) stays: certificates issued under it refer
# to it.
set -Eeuo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
interop_start

# ---------------------------------------------------------------------------
section "1. A profile for web servers, then 60 days instead of 30"
PROFILE="web-$RUN"
jq -n --arg id "$PROFILE" '{
    id: $id, description: "web servers", allowed_key_algorithms: ["ecdsa-p256"], max_validity_days: 30,
    extended_key_usages: ["serverAuth"], allowed_san_types: ["dns"], san_patterns: ["*.example.com"]}' >profile.json
post_json /api/v1/profiles profile.json
expect_status 201
jq 'del(.id) | .max_validity_days = 60 | .description = "web servers, 60 days"' profile.json >update.json
put_json "/api/v1/profiles/$PROFILE" update.json
expect_status 200
expect_eq "PUT: max_validity_days" 60 "$(jf .max_validity_days)"

# ---------------------------------------------------------------------------
section "2. Issuance under $PROFILE"
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

new_csr ok.csr "$P256" c.example.com "DNS:c.example.com"
issue_body ok.csr "$with_profile + {validity_days: 10}" >short.json
post_json /api/v1/certificates short.json
LAST_REQUEST="$LAST_REQUEST (validity_days 10)"
expect_status 201
jf .certificate_pem >short.pem
life=$(lifetime short.pem)
check "notAfter - notBefore is 10 days + about 5 minutes (10d + $((life - 10 * DAY))s)" \
    [ $((life - 10 * DAY)) -ge 240 -a $((life - 10 * DAY)) -le 420 ]

interop_done
