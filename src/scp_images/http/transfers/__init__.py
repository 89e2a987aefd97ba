"""Image transfers, shared by both edges (an edge imports these, never the other edge):

- ``slots``: the per-process bound on transfers (``TransferSlots``) and the threads uploads run on;
- ``download``: an image's bytes answered (whole, one range, or a redirect to the object store);
- ``upload``: a request body streamed through the ingest pipeline into a queued image.
"""

from scp_images.http.transfers.slots import TransferSlots

__all__ = ["TransferSlots"]
