"""``X-Auth-Token`` to a principal, then the SCP action's permission: the key's deny-list applies to the
OpenStack edge through the mapping of each v2 operation to an SCP action (docs/decisions.md)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from scp_images.domain.errors import Unauthenticated
from scp_images.domain.principal import Action, Principal
from scp_images.http.deps import Services, services
from scp_images.http.state import note_caller, request_headers
from scp_images.services.access.tokens import TokenService


@dataclass(frozen=True, slots=True)
class TokenCall:
    svc: Services
    principal: Principal
    request_id: str


def tokens(svc: Services) -> TokenService:
    assert svc.tokens is not None, "the OpenStack edge is mounted only with a token service"
    return svc.tokens


def authorize(request: Request, action: Action | None) -> TokenCall:
    """401 for a missing, bad, expired or orphaned token; 403 when the key may not do ``action``."""
    svc = services(request)
    values = request_headers(request.scope).get(b"x-auth-token", ())
    if len(values) != 1 or not values[0]:
        raise Unauthenticated(reason="send one X-Auth-Token header")
    principal = tokens(svc).principal(values[0].strip())
    state = request.scope["state"]
    # The record of a refusal from here on (429, 403, …) names the verified key, never the token's text.
    note_caller(state, principal)
    svc.guard.take_rate(principal.access_key)
    if action is not None:
        principal.require(action)
    return TokenCall(svc, principal, state.get("request_id", ""))
