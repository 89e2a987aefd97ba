"""Opening an image's bytes for a download, with the blob store's failures turned into domain errors."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from scp_images.domain.errors import (
    DomainError,
    ImageDataMissing,
    ImageDeactivated,
    ImageNotFound,
    Unavailable,
)
from scp_images.domain.image import Image, ImageStatus
from scp_images.services.observer import DownloadObserver, NoDownloadObserver
from scp_images.store.blob.base import BlobNotFound, BlobStore, BlobStoreUnavailable
from scp_images.store.sql import images as image_store
from scp_images.store.sql.database import Database

log = logging.getLogger("scp_images.downloads")

Reader = Callable[[int, int | None], Iterator[bytes]]  # (offset, length) -> chunks


class ImageData:
    def __init__(self, db: Database, blobs: BlobStore, observer: DownloadObserver | None = None) -> None:
        self._db = db
        self._blobs = blobs
        self._observer = observer or NoDownloadObserver()

    @staticmethod
    def check_downloadable(image: Image) -> None:
        """A deactivated image's bytes are withheld on every download path (both APIs, links)."""
        if image.status is ImageStatus.DEACTIVATED:
            raise ImageDeactivated(image_id=image.id)

    def reader(self, image: Image) -> Reader:
        """Opens the blob when called (before any byte is sent), so its errors still get a status."""
        self.check_downloadable(image)
        key = image.blob_key
        assert key is not None
        return lambda offset, length: self._open(image.id, key, offset, length)

    def _open(self, image_id: str, key: str, offset: int, length: int | None) -> Iterator[bytes]:
        try:
            return self._blobs.read(key, offset=offset, length=length)
        except BlobStoreUnavailable as exc:
            log.warning("image store unavailable for image %s: %s", image_id, exc)
            raise Unavailable(reason="the image store cannot be reached") from exc
        except BlobNotFound:
            raise self._missing(image_id, key) from None

    def _missing(self, image_id: str, key: str) -> DomainError:
        """No blob under the key. Tells apart three causes: the store itself is gone (a vanished mount
        point looks like a missing file: 503), the image was deleted meanwhile (404), or an active
        image really lost its bytes (409, an ERROR line and a counter: someone must restore them)."""
        try:
            self._blobs.check()
        except BlobStoreUnavailable as exc:
            log.warning("image store unavailable for image %s: %s", image_id, exc)
            return Unavailable(reason="the image store cannot be reached")
        with self._db.transaction() as conn:
            current = image_store.get_image(conn, image_id)
        if current is None or current.blob_key != key:
            return ImageNotFound(image_id=image_id)
        self._observer.image_data_missing()
        log.error(
            "active image %s has no data in the image store under key %s",
            image_id,
            key,
            extra={"image_id": image_id, "blob_key": key},
        )
        return ImageDataMissing(image_id=image_id)
