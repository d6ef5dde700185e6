"""The plain install is the verifier: it must not pull in the services' stack."""

from __future__ import annotations

import subprocess
import sys

import verifier

FORBIDDEN = (
    "fastapi",
    "sqlmodel",
    "sqlalchemy",
    "uvicorn",
    "issuer",
    "wallet_api",
    "qrcode",
    "PIL",
)


def test_importing_the_verifier_pulls_in_no_service_code() -> None:
    probe = (
        "import sys, verifier, verifier.cli, keys, credential_schemas\n"
        "from verifier import Verifier, TrustStore\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_public_api_is_curated() -> None:
    assert sorted(verifier.__all__) == [
        "CredentialStatus",
        "ErrorCode",
        "Policy",
        "TrustStore",
        "VerificationError",
        "VerificationResult",
        "Verifier",
        "decode_envelope",
        "encode_envelope",
    ]
    for name in verifier.__all__:
        assert getattr(verifier, name) is not None


def test_the_plain_install_needs_no_web_framework_or_database() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    plain = " ".join(project["dependencies"]).lower()
    for heavy in ("fastapi", "sqlmodel", "sqlalchemy", "uvicorn", "alembic", "psycopg"):
        assert heavy not in plain
    assert "fastapi" in " ".join(project["optional-dependencies"]["server"])
