"""Bringing image bytes in: sources, the streaming hash/inspect/store pipeline, the job runner."""
