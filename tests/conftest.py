"""Test-wide settings."""

from hypothesis import settings

# A shared 2-core CI machine can stall any one example for a moment; hangs are pytest-timeout's
# business, so Hypothesis's per-example deadline would only add flaky failures.
settings.register_profile("jigap", deadline=None)
settings.load_profile("jigap")
