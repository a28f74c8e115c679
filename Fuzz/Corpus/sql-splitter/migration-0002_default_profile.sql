-- The built-in `default` profile, so a plain CSR issues with no profile named:
-- TLS server and client authentication, ECDSA P-256/P-384 and RSA 2048-4096,
-- at most 397 days (the CA/Browser Forum ceiling), DNS and IP SANs.
INSERT INTO profiles (id, description, allowed_key_algorithms, max_validity_days,
                      extended_key_usages, allowed_san_types, san_patterns, allow_ca)
VALUES ('default', 'TLS server and client certificates',
        ARRAY['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'], 397,
        ARRAY['serverAuth', 'clientAuth'], ARRAY['dns', 'ip'], '{}', false)
ON CONFLICT (id) DO NOTHING;
