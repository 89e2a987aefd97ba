"""Image transfers, shared by both edges (an edge imports these, never the other edge):

- ``download``: an image's bytes answered (whole, one range, or a redirect to the object store);
- ``upload``: a request body streamed through the ingest pipeline into a queued image.

The per-process bound on transfers (``TransferSlots``) lives beside ``deps.py`` in ``http/transfer_slots.py``:
the services the handlers receive hold it, so it sits below them.
"""
