"""Web pieces for relying parties, on top of the offline verifier (extra ``[web]``).

``verifier_web.online``: what a bank's web backend mounts to receive certificates "without
visiting" (OpenID4VP 1.0 cross-device flow, response mode ``direct_post``). The plain install
(``verifier``) stays free of any web framework; this package is where FastAPI comes in.
"""
