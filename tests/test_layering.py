"""The layering, enforced: what each package may import.

- the plain install is the verifier: it must not pull in the services' stack;
- the issuer and the wallet service are separate rooms: neither imports the other; they
  share only ``protocols`` (the specs' messages and rules) and ``servicekit`` (service
  infrastructure), which import neither service;
- ``protocols`` is pure: no web framework, no database.

Two checks, each able to fail on its own: a static scan of every ``import`` statement of every
module (an import inside a function counts: the issuer's commands import lazily), and a fresh
interpreter importing every module of a package (what arrives transitively counts).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import verifier

ROOT = Path(__file__).parents[1]
SERVICES = frozenset({"issuer", "wallet_api"})
WEB_AND_DATABASE = frozenset(
    {"fastapi", "starlette", "sqlmodel", "sqlalchemy", "alembic", "uvicorn", "psycopg"}
)
# Package -> the top-level packages none of its modules may import.
FORBIDDEN_IMPORTS: dict[str, frozenset[str]] = {
    "wallet_api": frozenset({"issuer"}),
    "issuer": frozenset({"wallet_api"}),
    "protocols": SERVICES | WEB_AND_DATABASE | {"servicekit"},
    "servicekit": SERVICES,
    "verifier": SERVICES | WEB_AND_DATABASE | {"protocols", "servicekit", "prometheus_client"},
    # A bank's web backend: the verifier and FastAPI, no service, no database.
    "verifier_web": SERVICES
    | (WEB_AND_DATABASE - {"fastapi", "starlette"})
    | {"protocols", "servicekit"},
    # The counter app: the verifier, FastAPI and servicekit's web plumbing; no database.
    "counter_app": SERVICES
    | (WEB_AND_DATABASE - {"fastapi", "starlette", "uvicorn"})
    | {"protocols"},
    "keys": SERVICES | WEB_AND_DATABASE | {"protocols", "servicekit"},
    "credential_schemas": SERVICES | WEB_AND_DATABASE | {"protocols", "servicekit"},
}

FORBIDDEN = (
    "fastapi",
    "sqlmodel",
    "sqlalchemy",
    "uvicorn",
    "issuer",
    "wallet_api",
    "protocols",
    "servicekit",
    "qrcode",
    "PIL",
)


def imported_packages(source: str) -> set[str]:
    """The top-level packages named by every absolute import in ``source``, wherever it is."""
    named: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            named.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            named.add(node.module.split(".")[0])
    return named


def forbidden_imports(package: str) -> list[str]:
    """``module: imported`` for each import of ``package``'s modules its rule forbids."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        module = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
        for name in sorted(imported_packages(path.read_text()) & FORBIDDEN_IMPORTS[package]):
            found.append(f"{module}: {name}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_no_module_imports_what_its_layer_forbids(package: str) -> None:
    assert (ROOT / package / "__init__.py").is_file()
    assert forbidden_imports(package) == []


def test_the_scan_sees_every_kind_of_import() -> None:
    source = (
        "import issuer\n"
        "import os, wallet_api.presentation as p\n"
        "from fastapi import FastAPI\n"
        "from . import sibling\n"  # relative: the package itself, never another layer
        "def later():\n"
        "    from sqlmodel import Session\n"
        "if TYPE_CHECKING:\n"
        "    from servicekit.db import session_scope\n"
    )
    assert imported_packages(source) == {
        "issuer",
        "os",
        "wallet_api",
        "fastapi",
        "sqlmodel",
        "servicekit",
    }


def _loaded_after_importing_all_of(package: str, watched: frozenset[str]) -> list[str]:
    """Import every module of ``package`` in a fresh interpreter; the ``watched`` top-level
    packages that arrived with them."""
    probe = (
        "import importlib, json, pkgutil, sys\n"
        f"package = importlib.import_module({package!r})\n"
        "for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        f"watched = set({sorted(watched)!r})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & watched)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    names: list[str] = json.loads(loaded)
    return names


@pytest.mark.parametrize(
    ("package", "watched"),
    [
        pytest.param("wallet_api", frozenset({"issuer"}), id="wallet_api-without-issuer"),
        pytest.param("issuer", frozenset({"wallet_api"}), id="issuer-without-wallet_api"),
        pytest.param("protocols", SERVICES | WEB_AND_DATABASE, id="protocols-pure"),
        pytest.param("servicekit", SERVICES, id="servicekit-without-services"),
    ],
)
def test_importing_every_module_pulls_in_no_forbidden_package(
    package: str, watched: frozenset[str]
) -> None:
    assert _loaded_after_importing_all_of(package, watched) == []


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
        "PresentationRequest",
        "RequestError",
        "RequestErrorCode",
        "TrustStore",
        "VerificationError",
        "VerificationResult",
        "Verifier",
        "decode_envelope",
        "encode_envelope",
        "read_request",
        "sign_request",
    ]
    for name in verifier.__all__:
        assert getattr(verifier, name) is not None


def test_the_plain_install_needs_no_web_framework_or_database() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    plain = " ".join(project["dependencies"]).lower()
    for heavy in ("fastapi", "sqlmodel", "sqlalchemy", "uvicorn", "alembic", "psycopg"):
        assert heavy not in plain
    assert "fastapi" in " ".join(project["optional-dependencies"]["server"])


def test_every_package_is_installed_and_ruled() -> None:
    import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    installed = {pattern.rstrip("*") for pattern in setuptools["packages"]["find"]["include"]}
    assert installed == set(FORBIDDEN_IMPORTS)
