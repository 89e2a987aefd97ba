"""Reading an allowlisted http(s) URL: redirects followed by hand, every hop re-checked, bytes streamed.

The connection goes to an address this module resolved and checked, not to whatever a second DNS lookup
inside httpx would return: the request URL carries the IP, while the Host header and the TLS server name
(``sni_hostname``, also used for certificate verification) carry the host name. A name cannot pass the
check with one address and then be fetched from another.

There is no separate HEAD request: the GET's status and headers are read before any of the body, so a
refusal (status, size) still happens before the bytes are read, with one round trip fewer and without
relying on servers answering HEAD the way they answer GET.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urljoin

import httpx

from scp_images.domain.errors import ImportSourceRejected
from scp_images.domain.sources import redact_url
from scp_images.imports._source_addresses import Resolver, checked_addresses
from scp_images.imports._source_limits import Limits, too_large
from scp_images.imports._source_urls import HttpTarget, UrlRules

MAX_REDIRECTS = 3
_TIMEOUT = httpx.Timeout(60.0, connect=10.0, pool=10.0)
# identity: the size limit and the declared total then count the bytes that are stored.
_HEADERS = {"Accept-Encoding": "identity", "User-Agent": "scp-images-import"}


class RedactUrls(logging.Filter):
    """httpx logs every request's full URL at INFO ("HTTP Request: GET https://…?X-Amz-Signature=…"); an
    import URL's query may be a presigned signature, so its values are redacted before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, httpx.URL) for arg in record.args):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


_REDACT_URLS = RedactUrls()


def redact_httpx_logs() -> None:
    """Install the filter on httpx's logger once per process (idempotent)."""
    logger = logging.getLogger("httpx")
    if _REDACT_URLS not in logger.filters:
        logger.addFilter(_REDACT_URLS)


class HttpSource:
    """An open GET response; ``close`` releases the response and its client."""

    def __init__(self, shown: str, response: httpx.Response, resources: ExitStack, limits: Limits) -> None:
        self._shown = shown
        self.total = _declared_total(response)
        self._response = response
        self._resources = resources
        self._limits = limits

    def chunks(self) -> Iterator[bytes]:
        received = 0
        try:
            for chunk in self._response.iter_bytes(self._limits.chunk_size):
                received += len(chunk)
                if received > self._limits.max_bytes:
                    raise too_large(self._shown, self._limits.max_bytes)
                yield chunk
        except httpx.HTTPError as exc:
            reason = f"reading {self._shown} failed after {received} bytes ({type(exc).__name__}: {exc})"
            raise ImportSourceRejected(reason=reason) from exc

    def close(self) -> None:
        self._resources.close()


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None


def _declared_total(response: httpx.Response) -> int | None:
    """The size known before reading; unknown when the body is content-encoded (Content-Length is encoded)."""
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return None
    return _content_length(response)


class HttpOpener:
    def __init__(self, rules: UrlRules, resolve: Resolver, limits: Limits, tls: ssl.SSLContext) -> None:
        self._rules = rules
        self._resolve = resolve
        self._limits = limits
        self._tls = tls

    def open(self, first: HttpTarget) -> HttpSource:
        with ExitStack() as resources:
            client = resources.enter_context(self._client())
            target, response = self._follow(client, first, resources)
            self._accept(target, response)
            return HttpSource(target.shown, response, resources.pop_all(), self._limits)
        raise AssertionError("unreachable")  # pragma: no cover - the with block returns or raises

    def _client(self) -> httpx.Client:
        # trust_env=False: proxies and .netrc from the environment must not reroute or authenticate imports.
        return httpx.Client(
            follow_redirects=False, timeout=_TIMEOUT, trust_env=False, verify=self._tls, headers=_HEADERS
        )

    def _follow(
        self, client: httpx.Client, first: HttpTarget, resources: ExitStack
    ) -> tuple[HttpTarget, httpx.Response]:
        target = first
        for _ in range(MAX_REDIRECTS + 1):
            with ExitStack() as hop:
                response = self._get(client, target, hop)
                if not response.is_redirect:
                    resources.enter_context(hop.pop_all())
                    return target, response
                target = self._next_hop(target, response.headers["location"])
        raise ImportSourceRejected(reason=f"{first.shown} redirects more than {MAX_REDIRECTS} times")

    def _next_hop(self, current: HttpTarget, location: str) -> HttpTarget:
        try:
            following = urljoin(current.url, location)
        except ValueError:
            following = location
        try:
            return self._rules.classify_http(following)
        except ImportSourceRejected as exc:
            why = exc.params["reason"]
            reason = f"{current.shown} redirects to {_without_query(following)}, which is refused: {why}"
            raise ImportSourceRejected(reason=reason) from None

    def _get(self, client: httpx.Client, target: HttpTarget, hop: ExitStack) -> httpx.Response:
        """Connect to each checked address in turn; the first that accepts the connection is used."""
        failure: httpx.HTTPError | None = None
        for address in checked_addresses(target.host, self._resolve):
            try:
                request = client.stream(
                    "GET",
                    _pinned_url(target, address),
                    headers={"Host": target.host_header},
                    extensions=_tls_name(target),
                )
                return hop.enter_context(request)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc
            except httpx.HTTPError as exc:
                raise ImportSourceRejected(reason=f"requesting {target.shown} failed ({exc})") from exc
        raise ImportSourceRejected(reason=f"could not connect to {target.host_header} ({failure})")

    def _accept(self, target: HttpTarget, response: httpx.Response) -> None:
        if not response.is_success:
            status = f"{response.status_code} {response.reason_phrase}".strip()
            raise ImportSourceRejected(reason=f"the server answered {status} for {target.shown}")
        size = _content_length(response)
        if size is not None and size > self._limits.max_bytes:
            raise too_large(target.shown, self._limits.max_bytes, size)


def _without_query(url: str) -> str:
    head, query_mark, _ = url[:300].partition("?")
    return head + ("?..." if query_mark else "")


def _pinned_url(target: HttpTarget, address: str) -> httpx.URL:
    return httpx.URL(
        scheme=target.scheme, host=address, port=target.port, raw_path=target.target.encode("ascii")
    )


def _tls_name(target: HttpTarget) -> dict[str, object]:
    """The name TLS sends and verifies the certificate against: the host's, not the pinned address's."""
    return {} if target.is_ip_literal else {"sni_hostname": target.host}
