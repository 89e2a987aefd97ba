"""Use cases called on the services in-process: two accounts on a fresh database and blob store."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from scp_images.domain.image import Image, ImageSpec, Visibility
from scp_images.domain.principal import Principal
from tests.support.services import Services, services_stack

DISK = b"\x00" * 4096 + b"not a disk image header, just raw bytes\n" * 100


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose database is migrated already: copying it saves most of a fresh one's set-up."""
    data_dir = tmp_path_factory.mktemp("migrated")
    with services_stack(data_dir):
        pass
    return data_dir


@pytest.fixture
def make_services(tmp_path: Path, migrated: Path) -> Iterator[Callable[..., Services]]:
    """Services on their own data dir, with the Settings fields given (quota defaults, limits)."""
    with ExitStack() as stack:
        count = itertools.count()

        def make(**settings: Any) -> Services:
            data_dir = tmp_path / f"data{next(count)}"
            shutil.copytree(migrated, data_dir)
            return stack.enter_context(services_stack(data_dir, **settings))

        yield make


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services()


@pytest.fixture
def owner(services: Services) -> Principal:
    return services.account("owner")


@pytest.fixture
def other(services: Services) -> Principal:
    return services.account("other")


def create(services: Services, caller: Principal, name: str = "disk", **fields: Any) -> Image:
    return services.parts.images.create(caller, ImageSpec(name=name, os_distro="ubuntu", **fields))


def active(services: Services, caller: Principal, data: bytes = DISK, **fields: Any) -> Image:
    """An image of ``caller``'s with ``data`` uploaded (raw, so any bytes are a disk)."""
    image = create(services, caller, disk_format="raw", **fields)
    services.upload(caller, image.id, [data])
    return services.parts.images.show(caller, image.id)


def shared_with(services: Services, caller: Principal, member: Principal) -> Image:
    """An active image of ``caller``'s shared with ``member`` (whose answer is pending)."""
    image = active(services, caller, visibility=Visibility.SHARED)
    services.members.add(caller, image.id, member.account_id)
    return image
