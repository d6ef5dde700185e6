"""A test-only issuer server: the deployment `jigap issuer serve` runs, with a fault hook.

Run as ``python -m tests._fault_server --data-dir D --port P [--pause-at POINT]
[--fail-once-at POINT]`` from the repository root. The hook is set here, in test code, on
the Deployment this process builds: production has no way to set one (no setting, no
environment variable). ``--pause-at`` writes ``{data_dir}/paused-at-POINT`` and sleeps, so
that the test can kill this process by its pid at exactly that step.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import uvicorn

from issuer.api.app import create_app, make_deployment
from issuer.cli import read_env_file
from issuer.services.deployment import FaultPoint
from issuer.settings import Settings

PAUSE_SECONDS = 60.0  # bounded: the test kills the process long before


def marker(data_dir: Path, point: FaultPoint) -> Path:
    return data_dir / f"paused-at-{point.value}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pause-at", type=FaultPoint, default=None)
    parser.add_argument("--fail-once-at", type=FaultPoint, default=None)
    args = parser.parse_args()
    deployment = make_deployment(Settings.from_env(read_env_file(args.data_dir)))
    failed: list[FaultPoint] = []

    def hook(point: FaultPoint) -> None:
        if point is args.pause_at:
            marker(args.data_dir, point).touch()
            time.sleep(PAUSE_SECONDS)
        if point is args.fail_once_at and not failed:
            failed.append(point)
            raise RuntimeError(f"injected at {point}")

    deployment.fault_hook = hook
    uvicorn.run(create_app(deployment=deployment), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
