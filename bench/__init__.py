"""jigap's benchmarks: ``python -m bench`` from the repository root (``make bench``).

One run on one machine prints three tables:

1. verification throughput of one resident-register-extract presentation: our ``Verifier``
   on the plain SD-JWT and on the QR envelope, the IETF reference implementation
   (``sd-jwt`` 0.10.4), and the raw limit of the two signature checks with ``cryptography``;
2. issuance throughput: ours, the reference ``SDJWTIssuer``, and one raw ECDSA signature;
3. QR size per certificate type: plain SD-JWT against the compact envelope, at ECC level M.

On request, services over HTTP on loopback: ``--http``/``--http-only`` the issuer's credential
endpoint (``bench/issuer_http.py``), ``--wallet-http`` the wallet service listing and showing
credentials at fixed request rates (``bench/wallet_http.py``).

``--quick`` runs few iterations (a smoke test); ``--markdown`` prints Markdown tables, as in
docs/benchmarks.md. Benchmarks are not tests: nothing here asserts a target, the tables say
whether it was met.
"""
