"""The demo's output directory: it never deletes what it did not create.

A run lists every path it makes in ``DIR/.jigap-demo.json`` (first the top-level names it will
make, then, when it ends, every path under them); the next run removes only those. A directory
holding anything else and no such list is refused, as is a list naming a path outside it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

__all__ = [
    "MARKER_FILE",
    "DemoOutputError",
    "clear_previous_output",
    "demo_paths",
    "write_marker",
]

MARKER_FILE = ".jigap-demo.json"  # what a demo run created, so that the next run removes only that


class DemoOutputError(Exception):
    """An output directory the demo will not write into: it holds what the demo did not make."""


def clear_previous_output(root: Path) -> None:
    """Make ``root`` ready: new, empty, or a previous demo's output with the demo's files gone.

    A command never deletes what it did not create: only the paths a previous run listed in
    its marker are removed (files one by one, then its directories if they are left empty),
    so a file someone put there survives, and a directory that is no demo's is refused.
    """
    if not root.exists():
        return
    if not root.is_dir():
        raise DemoOutputError(f"{root} is not a directory")
    marker = root / MARKER_FILE
    if not marker.is_file():
        if any(root.iterdir()):
            raise DemoOutputError(
                f"{root} is not empty and holds no previous demo output ({MARKER_FILE});"
                " refusing to write into it: give a new or empty directory with --out"
            )
        return
    try:
        record = json.loads(marker.read_text("utf-8"))
        created = [Path(name) for name in record["created"] if isinstance(name, str)]
        complete = record["complete"] is True
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DemoOutputError(f"{marker} is unreadable; remove the demo's output yourself") from exc
    real_root = root.resolve()
    for relative in created:
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise DemoOutputError(f"{marker} names {relative}, outside {root}")
        # A directory swapped for a link since would lead the removal outside: refuse.
        if (root / relative).parent.resolve() != real_root.joinpath(*relative.parts[:-1]):
            raise DemoOutputError(f"{root / relative} lies behind a symbolic link; refusing")
    if not complete:  # a run that stopped half-way listed only the top-level paths it makes
        for relative in created:
            path = root / relative
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    else:
        for relative in created:
            path = root / relative
            if path.is_symlink() or path.is_file():
                path.unlink()
        for relative in sorted(created, key=lambda p: len(p.parts), reverse=True):
            path = root / relative
            if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
                path.rmdir()
    marker.unlink()


def demo_paths(root: Path, creates: tuple[str, ...]) -> set[Path]:
    """Every path under the top-level names the demo makes, relative to ``root``."""
    return {
        path.relative_to(root)
        for top in creates
        if (root / top).exists()
        for path in [root / top, *(root / top).rglob("*")]
    }


def write_marker(
    root: Path, creates: tuple[str, ...], *, complete: bool, kept: frozenset[Path] = frozenset()
) -> None:
    """Before the run: the top-level paths it will make (those not there already); after:
    every path it made, that is all of them but the files someone else ``kept`` there."""
    root.mkdir(parents=True, exist_ok=True)
    if complete:
        made = demo_paths(root, creates) - {path for path in kept if not (root / path).is_dir()}
        created = sorted(str(path) for path in made)
    else:
        created = [top for top in creates if Path(top) not in kept]
    record = {"complete": complete, "created": created}
    (root / MARKER_FILE).write_text(json.dumps(record, indent=1) + "\n", "utf-8")
