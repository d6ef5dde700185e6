"""Route modules: the wallet protocol, the agency admin API, and public documents."""
