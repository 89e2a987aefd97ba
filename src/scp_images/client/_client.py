"""The SDK's entry point: ``Client(endpoint, access_key, secret_key).images.show(id)``."""

from __future__ import annotations

from typing import Any

import httpx

from scp_images.client._auth import ScpAuth
from scp_images.client._exceptions import TransportError, api_error
from scp_images.client._images import Images
from scp_images.client.credentials import resolve_config

DEFAULT_API_VERSION = "1.3"


class Client:
    """A signed connection to an SCP-compatible image endpoint.

    ``endpoint`` is the base URL the server is reached at (e.g. ``http://127.0.0.1:8080``); it is
    also the URL requests are signed with, so it must be what the server knows itself as.

    Anything not given is read as the CLI reads it (``resolve_config``): ``SCP_ENDPOINT``,
    ``SCP_ACCESS_KEY``, ``SCP_SECRET_KEY``, ``SCP_ACCOUNT_ID``, ``SCP_LANGUAGE``, then
    ``~/.scpconf/credentials.json`` and ``~/.scpconf/config.json``; ``Client()`` alone works wherever
    ``scp-images image list`` does. A missing setting raises ``CredentialsError``.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        *,
        account_id: str | None = None,
        language: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        config = resolve_config(endpoint, access_key, secret_key, account_id, language)
        self.config = config
        self.language = config.language
        self.endpoint = config.endpoint.rstrip("/")
        self.api_version = api_version
        self._timeout = timeout
        self._transport = transport
        self._plain: httpx.Client | None = None
        self._http = httpx.Client(
            base_url=self.endpoint,
            auth=ScpAuth(config.access_key, config.secret_key, config.account_id),
            headers={
                "Accept-Language": config.language,
                "Scp-Api-Version": f"virtualserver {api_version}",
                "Accept": "application/json",
            },
            timeout=timeout,
            transport=transport,
        )
        self.images = Images(self)

    def close(self) -> None:
        self._http.close()
        if self._plain is not None:
            self._plain.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a signed request; an error envelope becomes a typed ``ApiError``."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {self.endpoint}{path}: {exc}", self.endpoint) from exc
        if response.status_code >= 400:
            raise self._error(response)
        return response

    def stream(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._http.stream(method, path, **kwargs)

    def unsigned_stream(self, method: str, url: httpx.URL) -> Any:
        """A request to a URL the server handed out (an object store's presigned URL), carrying none of
        this client's headers: no SCP signature, no Authorization. The URL is its own credential."""
        if self._plain is None:
            # identity: the bytes are hashed as stored; nothing may re-encode them on the way.
            headers = {"Accept-Encoding": "identity"}
            self._plain = httpx.Client(headers=headers, timeout=self._timeout, transport=self._transport)
        return self._plain.stream(method, url)

    def _error(self, response: httpx.Response) -> Exception:
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text[:500]}
        error = api_error(response.status_code, body, response.headers.get("x-request-id"))
        error.endpoint = self.endpoint
        return error
