"""Protocol code both services share: the specs' messages and rules.

No web framework and no database: the issuer and the wallet import it; it imports neither.
"""
