"""Persistence: SQL metadata (``store.sql``) and image bytes (``store.blob``)."""
