"""The counter app: a local web page a clerk opens to check a citizen's certificate offline.

`jigap counter serve --trust DIR` runs it on loopback. The clerk picks one of the counter's
registered purposes; the page shows the signed request as a QR code for the citizen's phone
(or goes straight to scanning for a one-way preset), streams webcam frames to the app, and
shows the verdict in large type. The app decodes each frame with the QR reader the verifier
uses (``verifier.qr_image``) and judges it with ``Verifier.verify_answer`` / ``verify_preset``
against the trust store ``jigap verify sync`` keeps.

- ``wording``: what the clerk is told for each of the verifier's codes, in Korean and English;
- ``frames``: a camera frame or a photo, bounded, to the text of its one QR code;
- ``desk``: the counter's state: its registration, the request out, the trust store's age;
- ``counter_log``: verdict codes and times, never a claim;
- ``app``: the HTTP routes and the page (``static/``), served with no asset off the machine.

No claim value is kept: a verdict goes to the page in the response to the frame that made it
and nowhere else (no server state, no log, no browser storage).
"""
