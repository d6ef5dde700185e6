"""The issuer: the pure credential maker here; the FastAPI service lives in ``issuer.api``."""
