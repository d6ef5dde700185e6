"""The holder reference client: what a phone wallet app does, in Python, for the demo and tests.

It stands in for the phone: its device keys (``device_keys``) play the phone's secure hardware.
"""
