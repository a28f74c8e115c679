-- Optional operator approval of SCEP and EST requests (SCEP PENDING + CertPoll,
-- RFC 8894 §3.3.3; EST 202 + Retry-After, RFC 7030 §4.2.3).

ALTER TABLE scep_profiles ADD COLUMN require_approval boolean NOT NULL DEFAULT false;
ALTER TABLE est_labels ADD COLUMN require_approval boolean NOT NULL DEFAULT false;

-- A request held for an operator's decision. It keeps what issuance needs
-- (the CSR, issuer and certificate profile as they were when it arrived) and
-- what identifies the requester on its next poll: for SCEP the signer
-- certificate (same key may poll; the answer is enveloped to it), for EST the
-- authenticated actor. The endpoint is not a foreign key: the history outlives
-- a deleted profile or label.
CREATE TABLE enrollment_requests (
    id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    protocol                   text NOT NULL CHECK (protocol IN ('scep', 'est')),
    endpoint                   text NOT NULL,            -- SCEP profile or EST label name
    operation                  text NOT NULL CHECK (operation IN ('PKCSReq', 'RenewalReq', 'simpleenroll', 'simplereenroll')),
    issuer_id                  issuer_id NOT NULL REFERENCES issuers (id),
    profile_id                 text NOT NULL REFERENCES profiles (id),
    validity_days              integer CHECK (validity_days IS NULL OR validity_days >= 1),
    transaction_id             text,                     -- SCEP transactionID
    sender_nonce               bytea,                    -- SCEP senderNonce of the first message (identical resends repeat it)
    csr_der                    bytea NOT NULL,
    csr_sha256                 bytea NOT NULL CHECK (length(csr_sha256) = 32),
    subject                    text NOT NULL,
    subject_alt_names          text[] NOT NULL DEFAULT '{}',
    requester                  text NOT NULL,            -- actor: scep:<profile> or the EST actor
    requester_certificate_der  bytea,                    -- SCEP signer certificate
    remote                     text,
    status                     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'issued', 'rejected', 'failed')),
    certificate_id             uuid REFERENCES certificates (id),
    decided_by                 text,
    decided_at                 timestamptz,
    reason                     text,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    CHECK ((protocol = 'scep') = (transaction_id IS NOT NULL AND sender_nonce IS NOT NULL AND requester_certificate_der IS NOT NULL)),
    CHECK ((status = 'issued') = (certificate_id IS NOT NULL)),
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
-- One open request per SCEP transaction and per EST (label, CSR, actor): a
-- resend or poll finds it. A decided transaction may be followed by a new
-- request with the same transactionID (certmonger derives it from the key).
CREATE UNIQUE INDEX enrollment_requests_scep_pending ON enrollment_requests (endpoint, transaction_id)
    WHERE protocol = 'scep' AND status = 'pending';
CREATE UNIQUE INDEX enrollment_requests_est_pending ON enrollment_requests (endpoint, csr_sha256, requester)
    WHERE protocol = 'est' AND status = 'pending';
CREATE INDEX enrollment_requests_scep_lookup ON enrollment_requests (endpoint, transaction_id, created_at) WHERE protocol = 'scep';
CREATE INDEX enrollment_requests_est_lookup ON enrollment_requests (endpoint, csr_sha256, requester, created_at) WHERE protocol = 'est';
CREATE INDEX enrollment_requests_listing ON enrollment_requests (created_at DESC, id DESC);
