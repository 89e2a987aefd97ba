"""Who may call and read what: accounts and keys, request signatures and tokens, secrets at rest,
rate limits, and the import sources a tenant may read."""
