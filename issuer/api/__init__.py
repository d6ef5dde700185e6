"""The issuer's HTTP layer (FastAPI): thin routes over ``issuer.services``."""

from issuer.api.app import create_app

__all__ = ["create_app"]
