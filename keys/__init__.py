"""Keys, JWK/JWKS, JWS and the signed trust list (pure: no I/O but the file key store)."""
