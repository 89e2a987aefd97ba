"""qcow2 header inspection: decide from the bytes alone whether an image is a qcow2 we can store.

Every refusal is a ``DiskImageRejected`` whose ``reason`` is one of ``REASONS``. The rules, and why
each feature bit is accepted or refused, are in ``_qcow2_rules``.

A header is judged step by step, each step needing a known number of leading bytes; a step
decides only from bytes it already has. So the streaming inspector reaches the same verdict, with
the same words, however the stream is cut into chunks, and ``parse_qcow2_header(prefix)`` is what
the inspector says about a stream that ends after ``prefix``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from scp_images.domain.errors import DiskImageRejected

from . import _qcow2_rules as rules
from ._signatures import ISO_REGION_END, TAIL_LEN, check_iso_descriptor, check_vhd_footer

REASONS = (
    "not_qcow2",
    "truncated",
    "backing_file",
    "external_data_file",
    "unknown_incompatible_features",
    "corrupt",
    "encrypted",
    "bad_geometry",
    "virtual_size_too_large",
    "polyglot",
)


@dataclass(frozen=True)
class QcowHeader:
    version: int
    cluster_bits: int
    virtual_size: int
    crypt_method: int
    l1_size: int
    l1_table_offset: int
    refcount_table_offset: int
    refcount_table_clusters: int
    nb_snapshots: int
    snapshots_offset: int
    incompatible_features: int
    compatible_features: int
    autoclear_features: int
    header_length: int
    backing_file_offset: int
    backing_file_size: int
    refcount_order: int
    compression_type: int
    extensions: tuple[int, ...] = ()

    @property
    def cluster_size(self) -> int:
        return 1 << self.cluster_bits

    @property
    def dirty(self) -> bool:
        return bool(self.incompatible_features & rules.INCOMPAT_DIRTY)

    @property
    def extended_l2(self) -> bool:
        return bool(self.incompatible_features & rules.INCOMPAT_EXTENDED_L2)


def parse_qcow2_header(data: bytes | bytearray, *, max_virtual_size: int) -> QcowHeader:
    """Judge the header and extensions in ``data``, the leading bytes of an image.

    ``data`` must reach the end of the header extensions (at most one cluster); a shorter prefix is
    refused as ``truncated``. Checks that need the whole file are ``Qcow2Inspector``'s.
    """
    return _parse(data, max_virtual_size, final=True)


def _parse(data: bytes | bytearray, max_virtual_size: int, *, final: bool) -> QcowHeader:
    reader = rules.Reader(data, final)
    version = rules.read_version(reader)
    header = QcowHeader(**rules.read_fields(reader, version), extensions=())
    rules.check_encryption(header)
    rules.check_backing_file(reader, header)
    rules.check_features(reader, header)
    rules.check_virtual_size(header, max_virtual_size)
    rules.check_l1_table(header)
    rules.check_refcount_table(header)
    rules.check_snapshot_table(header)
    return dataclasses.replace(header, extensions=rules.read_extensions(reader, header))


class Qcow2Inspector:
    """Judge an image while it streams past, keeping only bounded regions of it.

    Memory: the leading bytes until the header, its extensions and the ISO descriptor area are
    judged (at most one cluster, 2 MiB), then only the last 512 bytes. A bad header is refused by
    the ``feed`` call that completes it.
    """

    def __init__(self, *, max_virtual_size: int) -> None:
        self._max_virtual_size = max_virtual_size
        self._prefix = bytearray()
        self._prefix_done = False
        self._need = 1
        self._header: QcowHeader | None = None
        self._tail = b""
        self._size = 0
        self._error: DiskImageRejected | None = None

    @property
    def header(self) -> QcowHeader | None:
        return self._header

    def feed(self, chunk: bytes) -> None:
        self._raise_if_failed()
        self._size += len(chunk)
        self._keep_tail(chunk)
        if self._prefix_done:
            return
        room = rules.MAX_CLUSTER_SIZE - len(self._prefix)
        self._prefix += memoryview(chunk)[:room]
        if len(self._prefix) >= self._need:
            self._judge(self._advance, False)

    def finish(self) -> QcowHeader:
        """Call once the stream has ended; returns the header or raises ``DiskImageRejected``."""
        self._raise_if_failed()
        if not self._prefix_done:
            self._judge(self._advance, True)
        self._judge(self._check_whole_file)
        assert self._header is not None  # _advance(final) either parses the header or raises
        return self._header

    def _keep_tail(self, chunk: bytes) -> None:
        if len(chunk) >= TAIL_LEN:
            self._tail = bytes(chunk[-TAIL_LEN:])
        else:
            self._tail = (self._tail + chunk)[-TAIL_LEN:]

    def _advance(self, final: bool) -> None:
        if self._header is None:
            try:
                self._header = _parse(self._prefix, self._max_virtual_size, final=final)
            except rules.NeedMore as more:
                self._need = more.length
                return
        if not final and len(self._prefix) < ISO_REGION_END:
            self._need = ISO_REGION_END
            return
        # Only after the header passed, so the verdict does not depend on how the stream was cut.
        check_iso_descriptor(self._prefix)
        self._prefix_done = True
        self._prefix = bytearray()

    def _check_whole_file(self) -> None:
        assert self._header is not None
        rules.check_within_file(self._header, self._size)
        check_vhd_footer(self._tail)

    def _judge(self, step: Callable[..., None], *args: object) -> None:
        try:
            step(*args)
        except DiskImageRejected as refusal:
            self._error = refusal
            raise

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
