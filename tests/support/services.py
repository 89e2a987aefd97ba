"""The real services, built in this process by the composition root on a temporary SQLite database and
filesystem blob store: for tests of the use cases where HTTP adds nothing (no server, no socket).

The services come from ``build_components`` exactly as the server builds them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scp_images.app import Components, build_components
from scp_images.config import Settings
from scp_images.domain.principal import Principal, Role
from scp_images.services.members import MemberService


@dataclass(frozen=True)
class Services:
    parts: Components

    @property
    def members(self) -> MemberService:
        return self.parts.members

    def account(self, name: str, *, role: Role = Role.MEMBER, operator: bool = False) -> Principal:
        """A new account with one access key of ``role``, as its caller on the OpenStack edge (where an
        admin has its powers; ``role=Role.ADMIN`` needs ``operator=True``)."""
        account = self.parts.accounts.create_account(name, operator=operator)
        key = self.parts.accounts.create_key(account.id, f"{name}@example.com", role=role)
        return key.principal(admin_powers=True)

    def key(self, account_id: str, role: Role) -> Principal:
        """One more key of ``role`` in an existing account, as its caller on the OpenStack edge."""
        user = f"{role.value}-{account_id[:8]}@example.com"
        return self.parts.accounts.create_key(account_id, user, role=role).principal(admin_powers=True)

    def upload(self, caller: Principal, image_id: str, chunks: Iterable[bytes]) -> Any:
        """What a direct upload does once its body arrives: claim the queued image, then stream it in
        (the image ends active, killed, or queued again); a refusal is raised after the image is settled."""
        fence = self.parts.images.begin_upload(caller, image_id, "tests:upload")
        return self.parts.ingest.ingest_or_kill(fence, chunks, reraise=True)


@contextmanager
def services_stack(data_dir: Path, **settings: Any) -> Iterator[Services]:
    """``settings`` are Settings fields (quota defaults, limits) on top of the embedded defaults."""
    parts = build_components(Settings(data_dir=data_dir, **settings))
    try:
        yield Services(parts)
    finally:
        parts.close()
