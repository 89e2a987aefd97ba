"""Where imported image bytes may come from, and reading them.

Accepted sources:

- ``https://object-store.{region}.{s|g|e}.samsungsdscloud.com/{account}/{bucket}/{key...}`` (SCP Object
  Storage) and ``s3://{bucket}/{key...}``: both read through the configured S3-compatible endpoint with the
  service's own credentials, never by fetching the URL's host. That credential can read more than any
  tenant may, so callers first check the account's grants (``scp_images.services.access.sources``);
- ``https://`` on a host an operator allowlisted (``SourceConfig.allowed_hosts``), read with no credential.

Everything else is refused with ``ImportSourceRejected`` saying why. ``check`` applies the rules that need
no network (it runs inside API requests); ``open`` applies them again, then the network ones (resolved
addresses, redirects, status, size) before any of the body is read.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import httpx

from scp_images.domain.errors import ImportSourceRejected
from scp_images.imports._source_addresses import resolve_with_getaddrinfo
from scp_images.imports._source_http import HttpOpener, redact_httpx_logs
from scp_images.imports._source_limits import Limits
from scp_images.imports._source_s3 import S3Reader
from scp_images.imports._source_urls import MAX_URL_LENGTH, ObjectStorageLocation, UrlRules

__all__ = [
    "MAX_URL_LENGTH",
    "ObjectStorageLocation",
    "OpenedSource",
    "SourceConfig",
    "SourceResolver",
    "parse_object_storage_url",
]


@dataclass(frozen=True)
class SourceConfig:
    s3_endpoint_url: str | None
    s3_access_key_id: str | None
    s3_secret_access_key: str | None
    s3_region: str | None
    allowed_hosts: tuple[str, ...]  # "host" (default port only) or "host:port"; IPv6 as "[::1]:8443"
    max_bytes: int
    chunk_size: int = 1 << 20


class OpenedSource(Protocol):
    total: int | None  # the size when known before reading

    def chunks(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


def parse_object_storage_url(url: str) -> ObjectStorageLocation | None:
    """The bucket, key and account of an SCP Object Storage or ``s3://`` URL; None for anything else."""
    try:
        location = UrlRules(()).classify(url)
    except ImportSourceRejected:
        return None
    return location if isinstance(location, ObjectStorageLocation) else None


class SourceResolver:
    """Decides whether an import URL may be read, and opens it. Safe to share between threads.

    ``resolve_host`` maps a host name to its IP addresses (default: ``socket.getaddrinfo``); the download
    connects to exactly those addresses. ``allow_plain_http_for_tests`` treats ``http://`` like
    ``https://`` so that tests can use a local server without TLS; never set it in production.
    """

    def __init__(
        self,
        config: SourceConfig,
        *,
        resolve_host: Callable[[str], list[str]] | None = None,
        allow_plain_http_for_tests: bool = False,
    ) -> None:
        schemes = ("https", "http") if allow_plain_http_for_tests else ("https",)
        self._rules = UrlRules(config.allowed_hosts, schemes=schemes)
        self._limits = Limits(config.max_bytes, config.chunk_size)
        self._resolve = resolve_host or resolve_with_getaddrinfo
        self._s3 = S3Reader(
            config.s3_endpoint_url, config.s3_access_key_id, config.s3_secret_access_key, config.s3_region
        )
        self._tls: ssl.SSLContext | None = None
        self._tls_lock = threading.Lock()
        redact_httpx_logs()

    def check(self, url: str) -> None:
        """Raise ``ImportSourceRejected`` unless ``url`` passes the rules that need no network."""
        location = self._rules.classify(url)
        if isinstance(location, ObjectStorageLocation):
            self._s3.require_configured(location)

    def open(self, url: str) -> OpenedSource:
        """Check ``url`` fully and start reading it; the caller must ``close`` the result."""
        source = self._rules.classify(url)
        if isinstance(source, ObjectStorageLocation):
            return self._s3.open(source, self._limits)
        return HttpOpener(self._rules, self._resolve, self._limits, self._tls_context()).open(source)

    def _tls_context(self) -> ssl.SSLContext:
        # Built once: loading the CA bundle is slow. It honours SSL_CERT_FILE / SSL_CERT_DIR so that
        # operators can trust the CA of an internal mirror.
        with self._tls_lock:
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            return self._tls
