"""The wallet: the pure holder side here; the FastAPI service lives in ``wallet_api.api``."""
