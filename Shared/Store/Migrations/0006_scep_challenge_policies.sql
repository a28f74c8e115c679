-- SCEP challenge policies beyond the static secret (issue #5):
--   * signed challenges (the Intune-style model): a connector signs a short
--     token with a key whose certificate is in a trust bundle of purpose
--     'scep-signed-challenge'; each token id is accepted once per profile;
--   * one-time challenges bound to the CSR's subjectAltNames.

ALTER TABLE scep_profiles
    ADD COLUMN signed_challenge_trust_anchor text REFERENCES trust_anchors (name);

-- A bundle serves one purpose: the database refuses a SCEP profile pointing at
-- an EST client-CA bundle and an EST label pointing at connector certificates
-- (composite foreign keys against (name, purpose), the purpose a generated column).
ALTER TABLE trust_anchors ADD CONSTRAINT trust_anchors_name_purpose UNIQUE (name, purpose);
ALTER TABLE scep_profiles
    ADD COLUMN signed_challenge_trust_anchor_purpose text GENERATED ALWAYS AS ('scep-signed-challenge') STORED,
    ADD CONSTRAINT scep_profiles_signed_challenge_anchor_purpose
        FOREIGN KEY (signed_challenge_trust_anchor, signed_challenge_trust_anchor_purpose)
        REFERENCES trust_anchors (name, purpose);
ALTER TABLE est_labels
    ADD COLUMN trust_anchor_purpose text GENERATED ALWAYS AS ('est-mtls') STORED,
    ADD CONSTRAINT est_labels_trust_anchor_purpose
        FOREIGN KEY (trust_anchor, trust_anchor_purpose) REFERENCES trust_anchors (name, purpose);

-- Exact set of subjectAltNames ("DNS:host", "IP:10.0.0.1", "email:a@b", "URI:…")
-- the CSR must carry; NULL = not bound.
ALTER TABLE scep_challenges
    ADD COLUMN expected_sans text[];

-- Signed challenges seen, so a token is used once across every enrollment
-- replica. Rows are kept until the token could no longer be valid.
CREATE TABLE scep_signed_challenge_uses (
    profile_name    text NOT NULL REFERENCES scep_profiles (name) ON DELETE CASCADE,
    challenge_id    text NOT NULL,
    connector_sha256 text NOT NULL,
    expires_at      timestamptz NOT NULL,
    transaction_id  text NOT NULL,
    used_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_name, challenge_id)
);
CREATE INDEX scep_signed_challenge_uses_expiry ON scep_signed_challenge_uses (expires_at);
