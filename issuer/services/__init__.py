"""The issuer's service layer: protocol core + registry + keys + repositories, no HTTP."""
