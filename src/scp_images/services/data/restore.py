"""``scp-images admin image restore``: put an image's bytes back from a file, but only the very bytes the row
was hashed from. The file is streamed into a writer for the image's own key while it is hashed; the writer
commits only when size, md5 and sha512 all match, so a wrong file changes nothing in the store. The data
flag stays: the next clean scrub of the image (reading back from the store) clears it."""

from __future__ import annotations

import hashlib
import logging

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import ImageNotFound, InvalidImageStatus, RestoreMismatch
from scp_images.domain.image import Image, ImageStatus, parse_image_id
from scp_images.imports.pipeline import read_file_chunks
from scp_images.services import audit
from scp_images.services.clock import Clock, system_clock
from scp_images.store.blob.base import BlobStore
from scp_images.store.sql import images as image_store
from scp_images.store.sql.database import Database

log = logging.getLogger("scp_images.scrub")


class RestoreService:
    def __init__(self, db: Database, blobs: BlobStore, clock: Clock = system_clock) -> None:
        self._db = db
        self._blobs = blobs
        self._clock = clock

    def restore(self, image_id: str, path: str) -> Image:
        image = self._active(parse_image_id(image_id))
        key = image.blob_key
        assert key is not None
        md5, sha512, size = hashlib.md5(usedforsecurity=False), hashlib.sha512(), 0
        with self._blobs.writer(key) as writer:  # the key is owned by the row throughout: no orphan window
            for chunk in read_file_chunks(path):
                md5.update(chunk)
                sha512.update(chunk)
                size += len(chunk)
                writer.write(chunk)
            problem = _mismatch(image, size, md5.hexdigest(), sha512.hexdigest())
            if problem:
                writer.cancel()
                raise RestoreMismatch(image_id=image.id, detail=problem)
            writer.commit()
        with self._db.transaction() as conn:
            current = image_store.get_image(conn, image.id)
            if current is not None and current.blob_key == key:
                # The bytes put back are the very bytes hashed at import, so a failed record (503) leaves
                # the store as it was meant to be; the operator sees the error and the log says why.
                audit.record(
                    conn,
                    audit.entry(
                        audit.operator(),
                        self._clock(),
                        action=AuditAction.IMAGE_RESTORE,
                        account_id=current.owner,
                        image_id=current.id,
                        detail=f"from {path}",
                    ),
                )
        if current is None or current.blob_key != key:  # deleted meanwhile: take the bytes away again
            self._blobs.delete(key)
            raise ImageNotFound(image_id=image.id)
        log.warning(
            "image %s: its data was restored from %s; a clean scrub clears its flag",
            image.id,
            path,
            extra={"image_id": image.id, "blob_key": key},
        )
        return current

    def _active(self, image_id: str) -> Image:
        with self._db.read() as conn:
            image = image_store.get_image(conn, image_id)
        if image is None:
            raise ImageNotFound(image_id=image_id)
        if image.status is not ImageStatus.ACTIVE or image.blob_key is None or image.checksum is None:
            raise InvalidImageStatus(image_id=image_id, status=image.status.value, expected="active")
        return image


def _mismatch(image: Image, size: int, md5: str, sha512: str) -> str | None:
    if size != image.size:
        return f"{size} bytes, the image has {image.size}"
    if md5 != image.checksum:
        return "its md5 differs from the image's checksum"
    if image.os_hash_value is None or sha512 != image.os_hash_value:
        return "its sha512 differs from the image's os_hash_value"
    return None
