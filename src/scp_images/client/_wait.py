"""``images.wait``: poll an image until it reaches a status, ends ``killed``, or time runs out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from scp_images.client._exceptions import ImageKilled, NotFoundError, WaitTimeout
from scp_images.client._models import Image, ImportStatus

if TYPE_CHECKING:
    from scp_images.client._images import Images

KILLED = "killed"


def _import_status(images: Images, image_id: str) -> ImportStatus | None:
    """The import record, or None when the image never had one."""
    try:
        return images.import_status(image_id)
    except NotFoundError:
        return None


def _killed(images: Images, image_id: str) -> ImageKilled:
    record = _import_status(images, image_id)
    return ImageKilled(image_id, record.reason if record else None)


def wait_for(
    images: Images,
    image_id: str,
    status: str,
    timeout: float,
    interval: float,
    on_progress: Callable[[ImportStatus], None] | None,
) -> Image:
    deadline = time.monotonic() + timeout
    while True:
        image = images.show(image_id)
        if image.status == KILLED and status != KILLED:
            raise _killed(images, image_id)
        if on_progress is not None and (record := _import_status(images, image_id)) is not None:
            on_progress(record)
        if image.status == status:
            return image
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(image_id, image.status, status, timeout)
        time.sleep(min(interval, remaining))
