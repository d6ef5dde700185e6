"""Keys, JWK/JWKS, JWS, the signed trust list, and sealing at rest (pure: no I/O but the file
key stores)."""
