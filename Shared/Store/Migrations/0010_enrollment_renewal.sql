-- Enrollment renewal (issue #12 §4): a SCEP RenewalReq or EST simplereenroll
-- renews only a certificate issued through the same SCEP endpoint or EST
-- label, or through one that endpoint or label names as accepted.

-- 'scep:<endpoint>' or 'est:<label>' (names as scep_profiles.name and est_labels.name allow).
CREATE FUNCTION enrollment_endpoint_valid(endpoint text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT endpoint ~ '^(scep|est):[a-z0-9][a-z0-9_-]{0,62}$'
$$;

-- At most 32 distinct, well-formed entries (a CHECK cannot hold a subquery, a function can).
CREATE FUNCTION enrollment_endpoint_list_valid(endpoints text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT cardinality(endpoints) <= 32
       AND NOT EXISTS (SELECT 1 FROM unnest(endpoints) e WHERE e IS NULL OR NOT enrollment_endpoint_valid(e))
       AND (SELECT count(DISTINCT e) FROM unnest(endpoints) e) = cardinality(endpoints)
$$;

-- Which endpoint issued the certificate, set by the reservation; NULL for the
-- admin API and OCSP responder certificates (never renewable over SCEP/EST).
ALTER TABLE certificates ADD COLUMN enrollment_endpoint text CHECK (enrollment_endpoint_valid(enrollment_endpoint));

-- Certificates issued before this migration: requested_by already names the
-- endpoint ('scep:<name>'; 'est:<label>:<actor>'), also for approved requests.
UPDATE certificates SET enrollment_endpoint = requested_by
WHERE request_source = 'scep' AND enrollment_endpoint_valid(requested_by) AND requested_by LIKE 'scep:%';
UPDATE certificates SET enrollment_endpoint = 'est:' || split_part(requested_by, ':', 2)
WHERE request_source = 'est' AND requested_by LIKE 'est:%:%' AND enrollment_endpoint_valid('est:' || split_part(requested_by, ':', 2));

-- Other endpoints and labels whose certificates this one also renews.
ALTER TABLE scep_profiles ADD COLUMN accept_renewals_from text[] NOT NULL DEFAULT '{}'
    CHECK (enrollment_endpoint_list_valid(accept_renewals_from));
ALTER TABLE est_labels ADD COLUMN accept_renewals_from text[] NOT NULL DEFAULT '{}'
    CHECK (enrollment_endpoint_list_valid(accept_renewals_from));

-- The column grants of 0009 name every column admin and enroll may insert.
GRANT INSERT (enrollment_endpoint) ON certificates TO certctl_admin, certctl_enroll;
