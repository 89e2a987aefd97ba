"""The hostile corpus through the real server and the operator import: every unsafe file is refused
with its reason and leaves no blob (and, for the operator import, no row); every legal one becomes
active with the virtual size qemu-img reports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scp_images.config import Settings
from scp_images.domain.errors import DiskImageRejected
from scp_images.domain.image import Visibility
from scp_images.services.data.ingest import PublishRequest
from scp_images.store.sql.tables import images
from tests.formats.test_qcow2_corpus import LEGAL, REFUSED, Builder
from tests.support.stack import Key, Stack, start_stack

# Files cut short are refused the same way by both paths; a handful of them is enough here.
CASES = sorted(n for n in REFUSED if not n.startswith("truncated-") or n.endswith("-at-71"))
# Disks an upload now converts into qcow2 (issue 21; tests/services/test_conversion.py): the operator's
# file import still takes qcow2 alone. And what an upload refuses them for once their format is known.
CONVERTED_BY_UPLOAD = frozenset({"vmdk-monolithic-sparse", "vhd-dynamic", "vhd-fixed", "vhdx"})
UPLOAD_REASONS = {"vmdk-monolithic-flat-descriptor": "vmdk_descriptor_only"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Key]]:
    root = tmp_path_factory.mktemp("e2e")
    running = start_stack(
        Settings(data_dir=root, database_url=f"sqlite:///{root / 'meta.db'}", max_virtual_size=1 << 40)
    )
    yield running, running.new_account("corpus")
    running.stop()


def _blobs(stack: Stack) -> set[str]:
    return set(stack.components.blobs.keys())


def _upload(stack: Stack, key: Key, path: Path) -> tuple[str, int]:
    created = stack.request(
        "POST", "/v1/images", key, params={"source": "upload"}, json={"name": "corpus", "os_distro": "ubuntu"}
    ).json()
    response = stack.request("PUT", f"/v2/images/{created['id']}/file", key, content=path.read_bytes())
    return created["id"], response.status_code


@pytest.mark.parametrize("name", CASES)
def test_refused_by_upload_and_by_operator_import(
    name: str, server: tuple[Stack, Key], corpus: Callable[[Builder], Path]
) -> None:
    stack, key = server
    case = REFUSED[name]
    path = corpus(case.build)
    before = _blobs(stack)
    if name not in CONVERTED_BY_UPLOAD:
        image_id, status = _upload(stack, key, path)
        assert status == 400
        shown = stack.request("GET", f"/v1/images/{image_id}", key).json()
        assert shown["status"] == "killed"
        job = stack.request("GET", f"/v1/images/{image_id}/import", key).json()
        assert job["reason"].startswith(UPLOAD_REASONS.get(name, case.reason) + ":"), job["reason"]
        assert _blobs(stack) == before

    with stack.components.db.transaction() as conn:
        rows = conn.execute(select(func.count()).select_from(images)).scalar_one()
    request = PublishRequest(str(path), "corpus", "ubuntu", key.account_id, Visibility.PUBLIC)
    with pytest.raises(DiskImageRejected) as refused:
        stack.components.ingest.publish_file(request)
    assert refused.value.reason == case.reason
    with stack.components.db.transaction() as conn:
        assert conn.execute(select(func.count()).select_from(images)).scalar_one() == rows
    assert _blobs(stack) == before


@pytest.mark.parametrize("name", sorted(LEGAL))
def test_legal_variants_become_active(
    name: str, server: tuple[Stack, Key], corpus: Callable[[Builder], Path], qemu: object
) -> None:
    stack, key = server
    path = corpus(LEGAL[name].build)
    image_id, status = _upload(stack, key, path)
    assert status == 204
    shown = stack.request("GET", f"/v1/images/{image_id}", key).json()
    assert shown["status"] == "active"
    assert shown["virtual_size"] == qemu.virtual_size(path)  # type: ignore[attr-defined]
    assert shown["size"] == path.stat().st_size
