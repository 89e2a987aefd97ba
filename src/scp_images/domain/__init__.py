"""The domain: plain Python, no I/O, no framework, no settings."""
