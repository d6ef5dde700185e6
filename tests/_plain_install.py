"""An environment in which the server extra is not installed, for CLI subprocesses.

Building a venv with only the base dependencies costs a minute of pip per run; instead a
``sitecustomize`` on PYTHONPATH puts a finder first on ``sys.meta_path`` that refuses the
server extra's modules exactly as a missing package would (``ModuleNotFoundError`` with its
name), so every import of them, direct or deep inside a library, fails as on a plain install.
"""

from __future__ import annotations

import os
from pathlib import Path

SERVER_MODULES = ("fastapi", "starlette", "sqlmodel", "sqlalchemy", "alembic", "uvicorn", "psycopg")

_SITECUSTOMIZE = """
import sys

_BLOCKED = {blocked!r}


class _NotInstalled:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled)
"""


def plain_install_env(directory: Path, blocked: tuple[str, ...] = SERVER_MODULES) -> dict[str, str]:
    """The current environment, with ``blocked`` modules unimportable in child processes."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(blocked=set(blocked)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(directory), env.get("PYTHONPATH")]))
    return env
