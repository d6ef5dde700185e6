"""What a service's readiness check raises when it cannot serve (``/ready``, ``serve``).

Its own module, with no web framework and no prometheus-client: the commands import it before
the metrics directory is set, and prometheus-client fixes its mode when first imported.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["NotReadyError"]


class NotReadyError(Exception):
    """A stable ``reason`` (the service's ``Unreadiness``) and a ``detail`` for the log."""

    def __init__(self, reason: StrEnum, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
