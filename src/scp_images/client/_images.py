"""``client.images``: the image resource (members hang off it as ``client.images.members``)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scp_images.client._exceptions import ScpImagesError
from scp_images.client._members import Members
from scp_images.client._models import Image, ImportSource, ImportStatus
from scp_images.client._paginate import paginate
from scp_images.client._params import body, image_path, query, tags_body
from scp_images.client._transfer import (
    CHUNK_SIZE,
    Expected,
    ProgressCallback,
    file_chunks,
    follow_download,
    open_stream,
    save_verified,
)
from scp_images.client._wait import wait_for

if TYPE_CHECKING:
    import httpx

    from scp_images.client._client import Client

Tags = Mapping[str, str | None]


class Images:
    def __init__(self, client: Client) -> None:
        self._client = client
        self.members = Members(client)

    # --- reading -------------------------------------------------------------------------------

    def show(self, image_id: str) -> Image:
        response = self._client.request("GET", image_path(image_id))
        return Image.from_dict(response.json())

    def list(
        self,
        limit: int | None = None,
        marker: str | None = None,
        sort: str | None = None,
        name: str | None = None,
        os_distro: str | None = None,
        status: str | None = None,
        visibility: str | None = None,
        image_type: str | None = None,
        original_image_type: str | None = None,
        hidden: bool | None = None,
    ) -> builtins.list[Image]:
        """One page (server default 20 items, at most 1000). ``marker`` is the last id of the previous
        page; ``sort`` is ``key[:asc|desc],…``; ``hidden=True`` lists only ``os_hidden`` images."""
        params = query(
            limit=limit, marker=marker, sort=sort, name=name, os_distro=os_distro, status=status,
            visibility=visibility, scp_image_type=image_type, scp_original_image_type=original_image_type,
            os_hidden=hidden,
        )  # fmt: skip
        return self._image_list("/v1/images", params)

    def iter(
        self,
        *,
        page_size: int = 100,
        marker: str | None = None,
        sort: str | None = None,
        name: str | None = None,
        os_distro: str | None = None,
        status: str | None = None,
        visibility: str | None = None,
        image_type: str | None = None,
        original_image_type: str | None = None,
        hidden: bool | None = None,
    ) -> Iterator[Image]:
        """Every matching image (same filters as ``list``), fetched lazily ``page_size`` at a time by
        following the marker from ``marker`` (default: the start)."""
        fetch = partial(
            self.list, sort=sort, name=name, os_distro=os_distro, status=status, visibility=visibility,
            image_type=image_type, original_image_type=original_image_type, hidden=hidden,
        )  # fmt: skip
        return paginate(lambda mark, size: fetch(limit=size, marker=mark), page_size, marker)

    def pending(
        self, image_type: str | None = None, original_image_type: str | None = None
    ) -> builtins.list[Image]:
        """Images shared with this account that it has not accepted or rejected yet."""
        params = query(scp_image_type=image_type, scp_original_image_type=original_image_type)
        return self._image_list("/v1/pending-images", params)

    def _image_list(self, path: str, params: dict[str, str]) -> builtins.list[Image]:
        response = self._client.request("GET", path, params=params)
        return [Image.from_dict(item) for item in response.json()["images"]]

    # --- creating and changing -----------------------------------------------------------------

    def create(
        self,
        name: str,
        os_distro: str,
        url: str | None = None,
        *,
        min_disk: int | None = None,
        min_ram: int | None = None,
        protected: bool | None = None,
        visibility: str | None = None,
        tags: Tags | None = None,
    ) -> Image:
        """A ``queued`` image. With ``url`` the server imports it in the background (``importing`` →
        ``active`` or ``killed``; see ``wait``); without, it waits for ``upload``."""
        payload = body(
            name=name, os_distro=os_distro, url=url, min_disk=min_disk, min_ram=min_ram, protected=protected,
            visibility=visibility, tags=tags_body(tags),
        )  # fmt: skip
        params = {"source": "upload"} if url is None else None
        response = self._client.request("POST", "/v1/images", params=params, json=payload)
        return Image.from_dict(response.json())

    def create_from_file(
        self,
        path: str | Path,
        name: str,
        os_distro: str,
        *,
        min_disk: int | None = None,
        min_ram: int | None = None,
        protected: bool | None = None,
        visibility: str | None = None,
        tags: Tags | None = None,
        progress: ProgressCallback | None = None,
        keep_failed: bool = False,
        input_format: str | None = None,
    ) -> Image:
        """Create an image and stream a local disk into it; returns the image as shown afterwards:
        ``active`` for a qcow2, ``importing`` for a disk the server converts into qcow2 (VMDK, OVA,
        VHDX, VHD, VDI, or raw declared with ``input_format="raw"``): follow that one with ``wait``
        (``ImageKilled`` carries the reason when the conversion refuses it). The server decides the
        format from the bytes, never from the file's name. When the upload fails (a refused file raises
        ``BadRequestError``, a quota ``QuotaExceededError``, a broken connection ``TransportError``) the
        image it created is deleted again, as ``openstack image create --file`` does, unless
        ``keep_failed`` (then it stays, ``killed`` or ``queued``, to be inspected). The exception's
        ``created_image_id`` names it and ``created_image_removed`` says whether it is gone
        (``cleanup_error`` says why not)."""
        image = self.create(
            name, os_distro, min_disk=min_disk, min_ram=min_ram, protected=protected, visibility=visibility,
            tags=tags,
        )  # fmt: skip
        try:
            self.upload(image.id, path, progress, input_format=input_format)
        except ScpImagesError as exc:
            exc.created_image_id = image.id
            if not keep_failed:
                self._remove_failed(image.id, bool(protected), exc)
            state = "was removed" if exc.created_image_removed else "is left"
            exc.add_note(f"image {image.id} was created; its upload failed and it {state}")
            raise
        return self.show(image.id)

    def _remove_failed(self, image_id: str, protected: bool, failure: ScpImagesError) -> None:
        try:
            if protected:
                self.update(image_id, protected=False)
            self.delete(image_id)
        except ScpImagesError as exc:
            failure.cleanup_error = exc
        else:
            failure.created_image_removed = True

    def upload(
        self,
        image_id: str,
        path: str | Path,
        progress: ProgressCallback | None = None,
        *,
        input_format: str | None = None,
    ) -> None:
        """Stream a file into a ``queued`` image, a chunk at a time; it is checked as it arrives.
        ``input_format`` (extension ``?input_format=``) declares the bytes' format: needed for ``raw``
        only, every other format is detected from the bytes."""
        path = Path(path)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(path.stat().st_size)}
        content = file_chunks(path, progress)
        params = query(input_format=input_format)
        self._client.request(
            "PUT", image_path(image_id, "file", api="v2"), params=params, content=content, headers=headers
        )

    def update(self, image_id: str, **changes: Any) -> Image:
        """Change any of ``min_disk``, ``min_ram``, ``protected``, ``visibility`` (others: 400)."""
        response = self._client.request("PUT", image_path(image_id), json=changes)
        return Image.from_dict(response.json())

    def delete(self, image_id: str) -> None:
        """Delete an image (409 ``ConflictError`` while it is protected)."""
        self._client.request("DELETE", image_path(image_id))

    def import_(self, image_id: str, url: str, *, input_format: str | None = None) -> None:
        """Start importing a URL into a ``queued`` (or ``killed``) image: a qcow2, or a disk the server
        converts (``.vmdk``, ``.ova``, ``.vhdx``, ``.vhd``, ``.vdi``; ``input_format="raw"`` for raw)."""
        payload = body(url=url, input_format=input_format)
        self._client.request("POST", image_path(image_id, "import"), json=payload)

    def import_status(self, image_id: str) -> ImportStatus:
        """Progress of the image's import or upload (``NotFoundError`` when it never had one)."""
        response = self._client.request("GET", image_path(image_id, "import"))
        return ImportStatus.from_dict(response.json())

    def import_sources(self) -> builtins.list[ImportSource]:
        """The buckets and key prefixes this account may import from (``s3://…`` and its own SCP Object
        Storage URLs), as granted by the operator. Extension: ``GET /v1/import-sources``. Allowlisted
        ``https`` URLs need no grant. A URL outside every grant is refused with ``PermissionDeniedError``
        (code ``virtualserver.image.ImportSourceForbidden``) by ``create`` and ``import_``."""
        response = self._client.request("GET", "/v1/import-sources")
        return [ImportSource.from_dict(item) for item in response.json()["import_sources"]]

    def share(self, image_id: str) -> None:
        """Create Sharing Image: make an ``active`` image of yours ``shared``."""
        self._client.request("POST", image_path(image_id, "share"))

    # --- bytes and waiting ---------------------------------------------------------------------

    def download(self, image_id: str, path: str | Path, progress: ProgressCallback | None = None) -> Path:
        """Save the image's bytes to ``path`` (a directory gets ``<id>.qcow2``). The bytes are staged
        next to it and checked against the image's md5 ``checksum``, sha512 ``os_hash_value`` and the
        ``Content-MD5`` header; a mismatch raises ``IntegrityError`` and leaves nothing behind."""
        image = self.show(image_id)
        target = Path(path)
        if target.is_dir():
            target = target / f"{image.id}.qcow2"
        with open_stream(self._client, "GET", image_path(image.id, "file", api="v2")) as response:
            if response.is_redirect:  # the bytes are in an object store the server points at
                with follow_download(self._client, response) as stored:
                    expected = _expected(image, stored.headers)
                    return save_verified(stored.iter_bytes(CHUNK_SIZE), target, expected, progress)
            expected = _expected(image, response.headers)
            return save_verified(response.iter_bytes(CHUNK_SIZE), target, expected, progress)

    def wait(
        self,
        image_id: str,
        status: str = "active",
        timeout: float = 600,
        interval: float = 1.0,
        on_progress: Callable[[ImportStatus], None] | None = None,
    ) -> Image:
        """Poll until the image is ``status``. Raises ``ImageKilled`` (with the import's reason) if it
        ends ``killed`` and ``WaitTimeout`` after ``timeout`` seconds. ``on_progress`` gets the image's
        ``ImportStatus`` at every poll, the last one included (none if it never had an import)."""
        return wait_for(self, image_id, status, timeout, interval, on_progress)


def _expected(image: Image, headers: httpx.Headers) -> Expected:
    sha512 = image.os_hash_value if (image.os_hash_algo or "").lower() == "sha512" else None
    return Expected(
        md5=image.checksum, sha512=sha512, content_md5=headers.get("content-md5"), size=image.size
    )
