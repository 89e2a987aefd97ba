"""How an image's bytes are handed out: streamed from the blob store, or (``Redirects``) fetched by the client
from the object store itself with a presigned URL. The one place a download is decided; the blob store's
failures become domain errors here, before any byte or redirect is sent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from scp_images.domain.access import require_downloadable
from scp_images.domain.errors import (
    DomainError,
    ImageDataCorrupt,
    ImageDataMissing,
    ImageNotFound,
    Unavailable,
)
from scp_images.domain.image import DataFlag, Image
from scp_images.services.observer import DownloadObserver, NoDownloadObserver
from scp_images.store.blob.base import BlobNotFound, BlobStore, BlobStoreUnavailable, PresignsReads
from scp_images.store.sql import images as image_store
from scp_images.store.sql.database import Database

log = logging.getLogger("scp_images.downloads")

Reader = Callable[[int, int | None], Iterator[bytes]]  # (offset, length) -> chunks
Redirect = Callable[[str | None], str]  # (Content-Disposition for the store to answer) -> URL


@dataclass(frozen=True, slots=True)
class Redirects:
    """Downloads answered with a redirect to ``store``: a presigned GET valid ``seconds`` seconds."""

    store: PresignsReads
    seconds: int


@dataclass(frozen=True, slots=True)
class Download:
    """An image the caller may download now. ``redirect`` set: answer with the URL it makes (the client
    fetches the bytes, ranges included, from the object store); else stream ``read``. Both check the blob
    when called, so its errors (503, DataMissing) still get a status before anything is sent."""

    image: Image
    size: int
    read: Reader
    redirect: Redirect | None = None


class ImageData:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        observer: DownloadObserver | None = None,
        redirects: Redirects | None = None,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._observer = observer or NoDownloadObserver()
        self._redirects = redirects

    def download(self, image: Image, *, admin: bool = False) -> Download:
        key = image.blob_key
        assert key is not None
        redirect = None
        if self._redirects is not None:
            redirects = self._redirects
            redirect = lambda disposition: self._presign(redirects, image.id, key, disposition)  # noqa: E731
        return Download(image, image.size or 0, self.reader(image, admin=admin), redirect)

    def require_intact(self, image: Image) -> None:
        """Every way of handing out an image's bytes (the file route, download links, redirects to the
        store) asks this first: while the integrity scrub has flagged its data, the answer is a 409 with
        the flag's own code, a log line and a counter, until a clean scrub (after a restore) clears it."""
        flag = image.data_flag
        if flag is None:
            return
        self._observer.flagged_download_refused(flag.value)
        log.warning(
            "download of image %s refused: the integrity scrub flagged its data %s",
            image.id,
            flag.value,
            extra={"image_id": image.id, "blob_key": image.blob_key, "data_flag": flag.value},
        )
        if flag is DataFlag.CORRUPT:
            raise ImageDataCorrupt(image_id=image.id)
        raise ImageDataMissing(image_id=image.id)

    @staticmethod
    def check_downloadable(image: Image, *, admin: bool = False) -> None:
        """A deactivated image's bytes are withheld on every download path (both APIs, links), from all
        but an admin (domain/access.py)."""
        require_downloadable(image, admin=admin)

    def reader(self, image: Image, *, admin: bool = False) -> Reader:
        """Opens the blob when called (before any byte is sent), so its errors still get a status.
        A deactivated or flagged image is refused here, before any reader exists."""
        self.check_downloadable(image, admin=admin)
        self.require_intact(image)
        key = image.blob_key
        assert key is not None
        return lambda offset, length: self._open(image.id, key, offset, length)

    def _presign(self, redirects: Redirects, image_id: str, key: str, disposition: str | None) -> str:
        """The object is looked at first (one HEAD), so a missing blob or an outage is answered as for a
        streamed download, not left to the object store's own 404 or connection error."""
        try:
            size = self._blobs.size(key)
        except BlobStoreUnavailable as exc:
            log.warning("image store unavailable for image %s: %s", image_id, exc)
            raise Unavailable(reason="the image store cannot be reached") from exc
        if size is None:
            raise self._missing(image_id, key)
        return redirects.store.presigned_read_url(key, redirects.seconds, content_disposition=disposition)

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
