"""Blobs as objects in an S3 (or S3-compatible) bucket under an optional prefix.

A writer is a multipart upload: parts are sent on a two-thread pool while the caller keeps writing, and the
object becomes visible only on ``CompleteMultipartUpload``, which S3 applies atomically. Parts grow as the
upload goes (``s3_parts``), so one blob may reach terabytes while small blobs use small buffers. Blobs
smaller than one part skip multipart and use a single ``PutObject``. Abandoned uploads are listed by
``staged`` and aborted by the orphan sweep.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from scp_images.store.blob.base import (
    BlobNotFound,
    BlobStoreUnavailable,
    StagedUpload,
    StoredBlob,
    WriterBase,
    is_valid_key,
    validate_key,
    validate_range,
)
from scp_images.store.blob.s3_parts import (
    DEFAULT_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    SPOOL_ABOVE,
    Part,
    PartSchedule,
)

__all__ = ["DEFAULT_PART_SIZE", "MIN_PART_SIZE", "S3BlobStore"]

# Two uploads in flight plus the part being filled: a writer holds at most three parts, and a part held in
# memory is at most SPOOL_ABOVE bytes (larger ones wait in a temporary file).
_UPLOAD_THREADS = 2
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_CompletedPart = dict[str, Any]


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _unavailable_on_s3_error(what: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise BlobStoreUnavailable(f"s3 blob store: {what} failed: {exc}") from exc


def _client_config(endpoint_url: str | None) -> Config:
    return Config(
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=32,
        # S3-compatible servers (MinIO, Ceph, moto) are usually addressed by IP or a single host name.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        # botocore >= 1.36 adds CRC trailers with aws-chunked encoding by default, which several
        # S3-compatible servers reject; integrity in transit then rests on TLS and Content-Length.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


_session_lock = threading.Lock()


@functools.cache
def _shared_session() -> boto3.session.Session:
    return boto3.session.Session()


def _new_client(**kwargs: Any) -> Any:
    # A session caches the parsed service model (~0.3 s to build), so stores share one; creating clients
    # from a session is not thread-safe, hence the lock. Credentials are passed per client, never shared.
    with _session_lock:
        return _shared_session().client("s3", **kwargs)


def _normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return validate_key(prefix) + "/" if prefix else ""


def _range_header(offset: int, length: int | None) -> str | None:
    if length is None:
        return f"bytes={offset}-" if offset else None
    return f"bytes={offset}-{offset + length - 1}"


def _body_chunks(body: Any, chunk_size: int) -> Iterator[bytes]:
    try:
        with _unavailable_on_s3_error("reading an object body"):
            yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


class _S3Writer(WriterBase):
    def __init__(
        self, client: Any, bucket: str, key: str, object_key: str, schedule: PartSchedule, spool_above: int
    ) -> None:
        super().__init__(key)
        self._client = client
        self._target = {"Bucket": bucket, "Key": object_key}
        self._schedule = schedule
        self._spool_above = spool_above
        self._part: Part | None = None  # made on the first byte that needs it
        self._upload_id: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._parts: list[Future[_CompletedPart]] = []
        self._slots = threading.BoundedSemaphore(_UPLOAD_THREADS)
        self._part_error: BaseException | None = None

    def _write(self, data: memoryview) -> None:
        while data:
            part = self._part or self._next_part()
            taken = data[: part.room]
            part.write(taken)
            data = data[len(taken) :]
            if not part.room:
                self._send_part()

    def _next_part(self) -> Part:
        number = len(self._parts) + 1
        if number > self._schedule.max_parts:
            ceiling = self._schedule.capacity()
            raise ValueError(f"{self.key!r} is larger than this store's ceiling of {ceiling} bytes per blob")
        size = self._schedule.size(number)
        self._part = Part(number, size, spool=size > self._spool_above)
        return self._part

    def _commit(self) -> None:
        if self._upload_id is None:
            self._put_whole()
            return
        if self._part is not None:
            self._send_part()  # the last part may be smaller than the minimum
        parts = [future.result() for future in self._parts]
        with _unavailable_on_s3_error(f"completing the upload of {self.key!r}"):
            self._client.complete_multipart_upload(
                **self._target, UploadId=self._upload_id, MultipartUpload={"Parts": parts}
            )
        self._stop_pool()

    def _put_whole(self) -> None:
        part, self._part = self._part, None
        try:
            with _unavailable_on_s3_error(f"putting {self.key!r}"):
                self._client.put_object(**self._target, Body=part.body() if part else b"")
        finally:
            if part is not None:
                part.close()

    def _cancel(self) -> None:
        if self._part is not None:
            self._part.close()
            self._part = None
        # Wait for parts in flight so that none lands after the abort and keeps storage allocated.
        self._stop_pool()
        if self._upload_id is None:
            return
        try:
            with _unavailable_on_s3_error(f"aborting the upload of {self.key!r}"):
                self._client.abort_multipart_upload(**self._target, UploadId=self._upload_id)
        except BlobStoreUnavailable as exc:
            if not isinstance(exc.__cause__, ClientError) or _error_code(exc.__cause__) != "NoSuchUpload":
                raise

    def _send_part(self) -> None:
        if self._part_error is not None:
            raise BlobStoreUnavailable(f"uploading a part of {self.key!r} failed") from self._part_error
        pool = self._pool or self._start_upload()
        part, self._part = self._part, None
        assert part is not None
        self._slots.acquire()  # blocks the caller while both threads are busy: bounded memory and disk
        future = pool.submit(self._upload_part, part)
        # Runs on completion and on cancellation alike, so a part's buffer or file is always freed.
        future.add_done_callback(functools.partial(self._part_done, part))
        self._parts.append(future)

    def _start_upload(self) -> ThreadPoolExecutor:
        with _unavailable_on_s3_error(f"starting the upload of {self.key!r}"):
            response = self._client.create_multipart_upload(**self._target)
        self._upload_id = response["UploadId"]
        self._pool = ThreadPoolExecutor(_UPLOAD_THREADS, thread_name_prefix="s3-part")
        return self._pool

    def _upload_part(self, part: Part) -> _CompletedPart:
        with _unavailable_on_s3_error(f"uploading part {part.number} of {self.key!r}"):
            response = self._client.upload_part(
                **self._target,
                UploadId=self._upload_id,
                PartNumber=part.number,
                Body=part.body(),
                ContentLength=part.size,
            )
        return {"PartNumber": part.number, "ETag": response["ETag"]}

    def _part_done(self, part: Part, future: Future[_CompletedPart]) -> None:
        part.close()
        self._slots.release()
        if not future.cancelled() and future.exception() is not None:
            self._part_error = future.exception()

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class S3BlobStore:
    name = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        max_parts: int = MAX_PARTS,
        spool_above: int = SPOOL_ABOVE,
        public_endpoint_url: str | None = None,
    ) -> None:
        """``part_size`` is the first part's size; ``max_parts`` and ``spool_above`` exist for tests, which
        scale the part budget down to see parts grow, and the spooling threshold down to see files.
        ``public_endpoint_url`` is the store's address as clients reach it (presigned URLs name it)."""
        self.schedule = PartSchedule(part_size, max_parts)
        if spool_above < 0:
            raise ValueError("spool_above must be >= 0")
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        self.bucket = bucket
        self.prefix = _normalise_prefix(prefix)
        self.part_size = part_size
        self.spool_above = spool_above
        self.max_blob_size = self.schedule.capacity()
        # One client per store: clients are thread-safe and own the connection pool.
        self._client = _new_client(
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
            config=_client_config(endpoint_url),
        )
        # Presigning is local arithmetic, but SigV4 signs the host: URLs for clients are made by a client
        # that names the address they use. Same credentials; it never sends a request.
        public = public_endpoint_url or endpoint_url
        self._presigner = _new_client(
            endpoint_url=public,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
            config=_client_config(public).merge(Config(signature_version="s3v4")),
        )

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _object_key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def writer(self, key: str) -> _S3Writer:
        object_key = self._object_key(key)
        return _S3Writer(self._client, self.bucket, key, object_key, self.schedule, self.spool_above)

    def read(
        self, key: str, *, offset: int = 0, length: int | None = None, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        object_key = self._object_key(key)
        validate_range(offset, length, chunk_size)
        if length == 0:
            if self.size(key) is None:
                raise BlobNotFound(key)
            return iter(())
        byte_range = _range_header(offset, length)
        extra = {"Range": byte_range} if byte_range else {}
        try:
            with _unavailable_on_s3_error(f"reading {key!r}"):
                response = self._client.get_object(Bucket=self.bucket, Key=object_key, **extra)
        except BlobStoreUnavailable as exc:
            return self._empty_or_raise(key, exc)
        return _body_chunks(response["Body"], chunk_size)

    @staticmethod
    def _empty_or_raise(key: str, exc: BlobStoreUnavailable) -> Iterator[bytes]:
        code = _error_code(exc.__cause__) if isinstance(exc.__cause__, ClientError) else ""
        if code in _NOT_FOUND:
            raise BlobNotFound(key) from None
        if code == "InvalidRange":  # the object exists; the range starts at or past its end
            return iter(())
        raise exc

    def presigned_read_url(self, key: str, expires_in: int, *, content_disposition: str | None = None) -> str:
        """A URL that GETs the blob (Range included) with no other credential for ``expires_in`` seconds;
        ``content_disposition`` is what the store should answer in that header."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._object_key(key)}
        if content_disposition is not None:
            params["ResponseContentDisposition"] = content_disposition
        url: str = self._presigner.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        return url

    def size(self, key: str) -> int | None:
        object_key = self._object_key(key)
        try:
            with _unavailable_on_s3_error(f"stat of {key!r}"):
                response = self._client.head_object(Bucket=self.bucket, Key=object_key)
        except BlobStoreUnavailable as exc:
            if isinstance(exc.__cause__, ClientError) and _error_code(exc.__cause__) in _NOT_FOUND:
                return None
            raise
        return int(response["ContentLength"])

    def delete(self, key: str) -> None:
        object_key = self._object_key(key)
        with _unavailable_on_s3_error(f"deleting {key!r}"):
            self._client.delete_object(Bucket=self.bucket, Key=object_key)

    def keys(self) -> Iterator[str]:
        return (blob.key for blob in self.blobs())

    def blobs(self) -> Iterator[StoredBlob]:
        paginator = self._client.get_paginator("list_objects_v2")
        with _unavailable_on_s3_error("listing keys"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix) :]
                    # Foreign objects with keys this API cannot address are not ours to report.
                    if is_valid_key(key):
                        yield StoredBlob(key, item["LastModified"].timestamp())

    def staged(self) -> Iterator[StagedUpload]:
        paginator = self._client.get_paginator("list_multipart_uploads")
        with _unavailable_on_s3_error("listing incomplete uploads"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for upload in page.get("Uploads", []):
                    key = upload["Key"][len(self.prefix) :]
                    known = key if is_valid_key(key) else None
                    yield StagedUpload(known, upload["Initiated"].timestamp(), upload["UploadId"])

    def abort(self, upload: StagedUpload) -> None:
        if upload.key is None:
            return  # not under a key of ours: nothing this store wrote
        try:
            with _unavailable_on_s3_error(f"aborting the upload of {upload.key!r}"):
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self._object_key(upload.key), UploadId=upload.handle
                )
        except BlobStoreUnavailable as exc:
            cause = exc.__cause__
            if not isinstance(cause, ClientError) or _error_code(cause) != "NoSuchUpload":
                raise  # NoSuchUpload: a concurrent sweep, or the writer itself, got there first

    def check(self) -> None:
        with _unavailable_on_s3_error(f"reaching bucket {self.bucket!r}"):
            self._client.head_bucket(Bucket=self.bucket)
