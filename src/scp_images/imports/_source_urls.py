"""Which import URLs may be read, decided from the text alone (no network).

One parser (``urllib.parse.urlsplit``) decides everything about an http(s) URL, and the request is then
built from its parts, so the host that was checked is the host that is contacted: no second parser can
read the same text differently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, unquote, urlsplit

from scp_images.domain.errors import ImportSourceRejected
from scp_images.domain.sources import ObjectStorageLocation, is_valid_bucket
from scp_images.imports._source_addresses import ALLOWLIST_SETTING, address_refusal, parse_address

__all__ = ["MAX_URL_LENGTH", "HttpTarget", "ObjectStorageLocation", "UrlRules", "parse_s3_url"]

MAX_URL_LENGTH = 2048
_MAX_KEY_BYTES = 1024  # S3's limit on object key length
_DEFAULT_PORTS = {"https": 443, "http": 80}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_OBJECT_STORE_HOST = re.compile(r"object-store\.[a-z]{2}(?:-[a-z0-9]+)+\.[sge]\.samsungsdscloud\.com")
_OBJECT_STORE_SHAPE = (
    "https://object-store.{region}.{s|g|e}.samsungsdscloud.com/{account}/{bucket}/{key}, "
    "where {account} is 32 hexadecimal digits"
)
_ACCOUNT = re.compile(r"[0-9a-fA-F]{32}")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# Characters left as they are when the request target is sent: '%' keeps existing escapes intact.
_PATH_SAFE = "!$%&'()*+,/:;=?@~"
_SUPPORTED = "use https:// (a host the operator allowlisted), s3:// or an SCP Object Storage URL"


@dataclass(frozen=True)
class HttpTarget:
    """An allowlisted http(s) URL, split into what the request is built from."""

    url: str
    scheme: str
    host: str  # lower-case; IPv6 without brackets
    port: int
    host_header: str
    target: str  # path and query, percent-encoded, as sent on the request line

    @property
    def is_ip_literal(self) -> bool:
        return parse_address(self.host) is not None

    @property
    def shown(self) -> str:
        """The URL for messages: a query may hold a signature or token, so only its presence is shown."""
        path, query_mark, _ = self.target.partition("?")
        return f"{self.scheme}://{self.host_header}{path}{'?...' if query_mark else ''}"


def _refuse(reason: str) -> ImportSourceRejected:
    return ImportSourceRejected(reason=reason)


def _checked_text(url: object) -> str:
    if not isinstance(url, str):
        raise _refuse("the URL must be a string")
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(f"the URL is {len(url)} characters long; the limit is {MAX_URL_LENGTH}")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise _refuse("the URL contains spaces or control characters (percent-encode them)")
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        raise _refuse("the URL is not valid Unicode text") from None
    return url


def _scheme_of(text: str) -> str:
    match = _SCHEME.match(text)
    if match is None:
        raise _refuse(f"the URL has no scheme; {_SUPPORTED}")
    return match.group(1).lower()


def _scheme_refusal(scheme: str, text: str) -> ImportSourceRejected:
    """A plain http URL's refusal names its host (only the host: a path or query may hold a secret), so
    that the caller sees which URL was refused, as Glance's answer names the URL that did not pass."""
    if scheme == "http":
        return _refuse(f"plain http:// is not allowed because it is not encrypted; use https://{_host_of(text)}")
    return _refuse(f"the scheme {scheme}: is not supported; {_SUPPORTED}")


def _host_of(text: str) -> str:
    """The URL's host as shown in messages, or nothing when it has no valid one."""
    try:
        return _shown_host(_checked_host(_split(text)[0]))
    except ImportSourceRejected:
        return ""


def _check_key(key: str) -> str:
    if not key:
        raise _refuse("the URL names no object key")
    if any(part in (".", "..") for part in key.split("/")):
        raise _refuse("the object key may not contain '.' or '..' path segments")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise _refuse("the object key contains control characters")
    if len(key.encode("utf-8", "surrogatepass")) > _MAX_KEY_BYTES:
        raise _refuse(f"the object key is longer than {_MAX_KEY_BYTES} bytes")
    return key


def _check_bucket(bucket: str) -> str:
    if "@" in bucket:
        raise _refuse("credentials (user:password@) are not allowed in the URL")
    if not is_valid_bucket(bucket):
        raise _refuse(f"{bucket!r} is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')")
    return bucket


def parse_s3_url(text: str) -> ObjectStorageLocation:
    """``s3://bucket/key``; the key is taken literally, as the AWS CLI does (no percent-decoding)."""
    if text[3:5] != "//":
        raise _refuse("an s3 URL must look like s3://bucket/key")
    bucket, _, key = text[5:].partition("/")
    return ObjectStorageLocation(_check_bucket(bucket), _check_key(key))


def _split(text: str) -> tuple[SplitResult, int | None]:
    try:
        parts = urlsplit(text)
        return parts, parts.port
    except ValueError as exc:
        raise _refuse(f"the URL is malformed ({exc})") from None


def _checked_host(parts: SplitResult) -> str:
    if "@" in parts.netloc:
        raise _refuse("credentials (user:password@) are not allowed in the URL")
    if not parts.netloc.isascii():
        raise _refuse("the host name must be ASCII; write an internationalised name in its xn-- form")
    host = parts.hostname or ""
    if not host:
        raise _refuse("the URL has no host")
    if parse_address(host) is None and not _is_host_name(host):
        raise _refuse(f"{host!r} is not a valid host name")
    return host


def _is_host_name(host: str) -> bool:
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in host.split("."))


def _parse_object_store(text: str, parts: SplitResult, port: int | None) -> ObjectStorageLocation:
    """``/{account}/{bucket}/{key...}``: the key may contain '/', and is percent-decoded like any URL path."""
    if port not in (None, 443):
        raise _refuse("an SCP Object Storage URL cannot name a port")
    if "?" in text or "#" in text:
        raise _refuse("an SCP Object Storage URL cannot have a query or a fragment")
    segments = parts.path.split("/", 3)
    if len(segments) < 4 or not _ACCOUNT.fullmatch(segments[1]):
        raise _refuse(f"an SCP Object Storage URL must look like {_OBJECT_STORE_SHAPE}")
    bucket = _check_bucket(segments[2])
    try:
        key = unquote(segments[3], errors="strict")
    except UnicodeDecodeError:
        raise _refuse("the object key is not valid percent-encoded UTF-8") from None
    return ObjectStorageLocation(bucket, _check_key(key), segments[1].lower())


class UrlRules:
    """The syntax, scheme and allowlist rules, shared by ``check`` and each redirect hop of ``open``."""

    def __init__(self, allowed_hosts: Iterable[str], *, schemes: tuple[str, ...] = ("https",)) -> None:
        self._allowed = frozenset(entry.strip().lower() for entry in allowed_hosts if entry.strip())
        self._schemes = schemes

    def classify(self, url: object) -> ObjectStorageLocation | HttpTarget:
        text = _checked_text(url)
        scheme = _scheme_of(text)
        if scheme == "s3":
            return parse_s3_url(text)
        parts, port, host = self._split_web(text, scheme)
        if _OBJECT_STORE_HOST.fullmatch(host):
            return _parse_object_store(text, parts, port)
        if host.startswith("object-store.") and host.endswith(".samsungsdscloud.com"):
            raise _refuse(f"{host} is not an SCP Object Storage host; expected {_OBJECT_STORE_SHAPE}")
        return self._http_target(text, parts, port, host)

    def classify_http(self, url: str) -> HttpTarget:
        """A redirect target: only another allowlisted http(s) URL will do."""
        text = _checked_text(url)
        parts, port, host = self._split_web(text, _scheme_of(text))
        return self._http_target(text, parts, port, host)

    def _split_web(self, text: str, scheme: str) -> tuple[SplitResult, int | None, str]:
        if scheme not in self._schemes:
            raise _scheme_refusal(scheme, text)
        parts, port = _split(text)
        return parts, port, _checked_host(parts)

    def _http_target(self, text: str, parts: SplitResult, port: int | None, host: str) -> HttpTarget:
        effective_port = port if port is not None else _DEFAULT_PORTS[parts.scheme]
        allowlisted = self._is_allowlisted(host, effective_port, parts.scheme)
        ip = parse_address(host)
        refusal = None if ip is None else address_refusal(ip, allowlisted=allowlisted)
        if refusal is not None:
            raise _refuse(f"the host is {refusal}")
        host_header = _shown_host(host) + ("" if port is None else f":{port}")
        if not allowlisted:
            raise _refuse(
                f"the host {host_header} is not allowed; an operator must list it in {ALLOWLIST_SETTING}"
            )
        target = quote(parts.path or "/", safe=_PATH_SAFE)
        if parts.query:
            target += "?" + quote(parts.query, safe=_PATH_SAFE)
        return HttpTarget(text, parts.scheme, host, effective_port, host_header, target)

    def _is_allowlisted(self, host: str, effective_port: int, scheme: str) -> bool:
        """An entry ``host`` allows the scheme's default port only; ``host:port`` allows that port."""
        names = {host, _shown_host(host)}
        keys = {f"{name}:{effective_port}" for name in names}
        if effective_port == _DEFAULT_PORTS[scheme]:
            keys |= names
        return not keys.isdisjoint(self._allowed)


def _shown_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
