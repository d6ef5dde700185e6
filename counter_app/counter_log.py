"""The counter's log: when each verdict was given, for which purpose, and its code. No claim,
no token, no image: what a branch manager may count and a help desk may ask about.

One JSON object a line in a file only the counter's user can read; past ``max_bytes`` the file
moves to ``NAME.1`` (the one before is replaced) so the log never grows without end.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["CounterLog", "LogEntry"]

OWNER_ONLY = 0o600
SHOWN_ENTRIES = 20  # the page's "today at this counter" list


@dataclass(frozen=True, slots=True)
class LogEntry:
    at: int  # epoch seconds
    purpose: str  # the registered purpose's id
    source: str  # "camera" or "photo"
    verdict: str  # "valid" or "refused"
    code: str | None  # the verifier's code when refused


class CounterLog:
    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = 1024 * 1024) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._recent: deque[LogEntry] = deque(maxlen=SHOWN_ENTRIES)

    def append(self, entry: LogEntry) -> None:
        line = json.dumps(asdict(entry), separators=(",", ":")) + "\n"
        with self._lock:
            self._recent.append(entry)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                if self.path.stat().st_size + len(line) > self.max_bytes:
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            except FileNotFoundError:
                pass
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, OWNER_ONLY)
            with os.fdopen(descriptor, "a", encoding="ascii") as file:
                file.write(line)

    def recent(self) -> list[LogEntry]:
        """The latest entries of this run, newest first."""
        with self._lock:
            return list(reversed(self._recent))
