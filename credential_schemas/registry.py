"""The registry: every certificate type of a types directory, loaded once and immutable.

Layout of a types directory (the bundled one is ``credential_schemas/types``)::

    types/<id>/v<version>.json      e.g. types/resident_register_extract/v1.json

Adding a certificate type is adding one file; a published version is never edited, a new
version is a new file beside it (``v2.json``). Entries whose name starts with a dot are
ignored; anything else unexpected is refused rather than skipped, so a misnamed file can
never silently drop a type.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from credential_schemas.credential_type import CredentialType
from credential_schemas.errors import (
    RegistryErrorCode,
    TypeFileError,
    UnknownNameError,
)
from credential_schemas.type_file import load_type_file

__all__ = ["BUNDLED_TYPES_DIR", "Registry"]

BUNDLED_TYPES_DIR = Path(__file__).parent / "types"

_TYPE_DIRECTORY = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
_VERSION_FILE = re.compile(r"v([1-9][0-9]{0,2})\.json")


def _refuse(path: Path, detail: str) -> TypeFileError:
    return TypeFileError(RegistryErrorCode.INVALID_TYPE_FILE, detail, path=path)


def _listing(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if not p.name.startswith("."))
    except OSError as error:
        raise _refuse(directory, f"cannot be listed: {error.strerror or error}") from None


@dataclass(frozen=True)
class Registry:
    """All versions of all certificate types; look-ups by id (latest version) or by vct."""

    types: tuple[CredentialType, ...]  # ordered by id, then version
    _by_id_version: Mapping[tuple[str, int], CredentialType] = field(init=False, repr=False)
    _latest: Mapping[str, CredentialType] = field(init=False, repr=False)
    _by_vct: Mapping[str, CredentialType] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.types, key=lambda t: (t.id, t.version)))
        by_id_version: dict[tuple[str, int], CredentialType] = {}
        by_vct: dict[str, CredentialType] = {}
        for credential_type in ordered:
            key = (credential_type.id, credential_type.version)
            clash, what = by_id_version.get(key), f"id {key[0]!r} version {key[1]}"
            if clash is None:
                clash, what = by_vct.get(credential_type.vct), f"vct {credential_type.vct!r}"
            if clash is not None:
                raise TypeFileError(
                    RegistryErrorCode.DUPLICATE_TYPE,
                    f"{what} is also declared by {clash.source or clash.id}",
                    path=credential_type.source,
                )
            by_id_version[key] = credential_type
            by_vct[credential_type.vct] = credential_type
        # Sorted by version, so the last one written per id is the latest.
        latest = {t.id: t for t in ordered}
        object.__setattr__(self, "types", ordered)
        object.__setattr__(self, "_by_id_version", MappingProxyType(by_id_version))
        object.__setattr__(self, "_latest", MappingProxyType(latest))
        object.__setattr__(self, "_by_vct", MappingProxyType(by_vct))

    @classmethod
    def load(cls, directory: str | os.PathLike[str] | None = None) -> Registry:
        """Load every type file under ``directory`` (default: the bundled types).

        Raises ``TypeFileError`` naming the first file refused; nothing is half-loaded. The
        bundled types are files of the installed package: they are read once per process and
        the same immutable registry is handed out after (a verifier, a deployment, a command
        each asked for it, at a tenth of a second a time).
        """
        if directory is None:
            return _bundled()
        return cls._read(Path(directory))

    @classmethod
    def _read(cls, root: Path) -> Registry:
        if not root.is_dir():
            raise _refuse(root, "not a directory")
        loaded: list[CredentialType] = []
        for type_dir in _listing(root):
            if not type_dir.is_dir() or _TYPE_DIRECTORY.fullmatch(type_dir.name) is None:
                raise _refuse(type_dir, "expected a directory named after a snake_case type id")
            files = _listing(type_dir)
            if not files:
                raise _refuse(type_dir, "holds no version file (v1.json)")
            for file in files:
                match = _VERSION_FILE.fullmatch(file.name)
                if match is None:
                    raise _refuse(file, "expected a version file named v1.json, v2.json, ...")
                version = int(match.group(1))
                loaded.append(load_type_file(file, type_id=type_dir.name, version=version))
        if not loaded:
            raise _refuse(root, "holds no certificate type")
        return cls(types=tuple(loaded))

    def get(self, type_id: str, version: int | None = None) -> CredentialType:
        """The type ``type_id`` at ``version`` (default: its latest); ``UNKNOWN_TYPE`` if none."""
        found = (
            self._latest.get(type_id)
            if version is None
            else self._by_id_version.get((type_id, version))
        )
        if found is None:
            at = "" if version is None else f" version {version}"
            raise UnknownNameError(
                RegistryErrorCode.UNKNOWN_TYPE, f"no certificate type {type_id[:60]!r}{at}"
            )
        return found

    def by_vct(self, vct: str) -> CredentialType | None:
        """The type with this exact ``vct``, or ``None`` (a verifier decides what that means)."""
        return self._by_vct.get(vct)


@functools.cache
def _bundled() -> Registry:
    return Registry._read(BUNDLED_TYPES_DIR)
