"""The audit record of every state-changing call. A call that changes something is recorded by its use
case, in the transaction of the change (``context``); a call that is refused or fails changes nothing and
is recorded here, in a transaction of its own, with the status and code it is answered with. A record of
the same request written by the change wins (one record per request id)."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from starlette.requests import Request

from scp_images.domain.audit import MAX_ACCESS_KEY, ActorKind, AuditAction, as_text
from scp_images.domain.errors import DomainError
from scp_images.domain.principal import Principal
from scp_images.http.deps import services
from scp_images.http.errors import spec_for
from scp_images.http.guard import Call
from scp_images.services.audit import AuditContext, entry, for_principal
from scp_images.signing import HEADER_ACCESS_KEY

_IMAGE_ID_WIDTH = 36


class TokenCaller(Protocol):
    """A call authorized on either edge (an SCP signature or an OpenStack token)."""

    @property
    def principal(self) -> Principal: ...

    @property
    def request_id(self) -> str: ...


_MEMBER_ID_WIDTH = 64


def answered_status(error: BaseException) -> int:
    """The status the edge answers ``error`` with (the one error table)."""
    return spec_for(error).status if isinstance(error, DomainError) else 500


class AuditedCall:
    """``with audited(...) as audit:`` around a state-changing handler; ``audit.context(call)`` goes to the
    use case. Path values are the caller's text: kept as text, cut to their columns."""

    def __init__(
        self,
        request: Request,
        action: AuditAction,
        ok_status: int,
        image_id: str | None,
        member_id: str | None,
        status_of: Callable[[BaseException], int],
    ) -> None:
        self._request = request
        self.action = action
        self.ok_status = ok_status
        self.image_id = as_text(image_id, _IMAGE_ID_WIDTH)
        self.member_id = as_text(member_id, _MEMBER_ID_WIDTH)
        self.status_of = status_of
        self._presented: str | None = None

    def context(self, call: Call | TokenCaller) -> AuditContext:
        return for_principal(call.principal, self.action, call.request_id, self.ok_status, self.status_of)

    def presented(self, access_key: str) -> None:
        """The access key a call names before it is authenticated (a sign-in's credential id): the record
        of its refusal keeps it, as bounded text."""
        self._presented = as_text(access_key, MAX_ACCESS_KEY)

    def __enter__(self) -> AuditedCall:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(error, Exception):
            self.failed(error)

    def failed(self, error: Exception) -> None:
        """Record a refused or failed call (blocking: call it on a thread from async code)."""
        state = self._request.scope.get("state", {})
        # Before authentication there is no principal: the key that was presented, as bounded text.
        access_key = (
            state.get("access_key")
            or self._presented
            or as_text(self._request.headers.get(HEADER_ACCESS_KEY), MAX_ACCESS_KEY)
        )
        context = AuditContext(
            ActorKind.API,
            account_id=state.get("account_id"),
            access_key=access_key,
            request_id=state.get("request_id"),
            action=self.action,
            status_of=self.status_of,
            role=state.get("role"),
        )
        trail = services(self._request).audit
        record = entry(
            context,
            trail.now(),
            action=self.action,
            image_id=self.image_id,
            member_id=self.member_id,
            error=error,
            detail=str(error) if isinstance(error, DomainError) else type(error).__name__,
        )
        trail.record_alone(record)


def audited(
    request: Request,
    action: AuditAction,
    ok_status: int,
    *,
    image_id: str | None = None,
    member_id: str | None = None,
    status_of: Callable[[BaseException], int] = answered_status,
) -> AuditedCall:
    """``status_of``: how this edge answers an error (the OpenStack edge answers a few differently)."""
    return AuditedCall(request, action, ok_status, image_id, member_id, status_of)
