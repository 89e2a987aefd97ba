"""Use cases. Each public method owns its transaction; none raises HTTP errors."""
