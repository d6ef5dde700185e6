"""Protocol code both services share: the specs' messages and rules, no web framework or database."""
