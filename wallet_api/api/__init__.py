"""The wallet service's HTTP layer (FastAPI): thin routes over ``wallet_api``'s services."""
