"""Service infrastructure the issuer and the wallet service share, written once.

The database (engine, SQLite's pragmas and write queue, read-only transactions, retries,
Alembic run from a service's own migrations directory), the ASGI guards every request passes
(body limit, NUL guard, slow-client timeouts, telemetry), the one JSON error shape with its
503 for a database that cannot answer, and the log and metric plumbing. Each service keeps
its own app, settings, models, migrations and events; what is here knows neither of them
(tests/test_layering.py), so the two services stay separate rooms built the same way.
"""
