"""SCP signing as an httpx auth flow: every request (and every retry) is signed afresh."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from scp_images.signing import sign_request


class ScpAuth(httpx.Auth):
    def __init__(self, access_key: str, secret_key: str, account_id: str | None = None) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._account_id = account_id

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # The wire URL is what gets signed, as the Go SDK does; the server accepts that form.
        signed = sign_request(
            request.method, str(request.url), self._access_key, self._secret_key, self._account_id
        )
        request.headers.update(signed.as_dict())
        yield request
