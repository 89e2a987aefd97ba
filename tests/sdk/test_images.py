"""The image resource through the SDK against the live server: paging, filters, changes, waits."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from scp_images.client import (
    BadRequestError,
    Client,
    ConflictError,
    ImageKilled,
    ImportStatus,
    NotFoundError,
    WaitTimeout,
)


def _count_requests(client: Client) -> list[str]:
    """Observe the real requests the client sends (an httpx event hook, nothing replaced)."""
    sent: list[str] = []

    def record(request: httpx.Request) -> None:
        sent.append(f"{request.method} {request.url.path}?{request.url.query.decode()}")

    client._http.event_hooks["request"].append(record)
    return sent


def test_list_and_iter_follow_the_marker_across_pages(client: Client, small_qcow2: Path) -> None:
    ids = [client.images.create_from_file(small_qcow2, f"img-{i}", "ubuntu").id for i in range(5)]

    first = client.images.list(limit=2, sort="name:asc")
    second = client.images.list(limit=2, sort="name:asc", marker=first[-1].id)
    assert [i.name for i in first] == ["img-0", "img-1"]
    assert [i.name for i in second] == ["img-2", "img-3"]

    sent = _count_requests(client)
    every = client.images.iter(page_size=2, sort="name:asc")
    assert sent == []  # lazy until iterated
    assert next(every).name == "img-0"
    assert len(sent) == 1
    assert [i.name for i in every] == ["img-1", "img-2", "img-3", "img-4"]
    assert len(sent) == 3  # 2 + 2 + 1: the short page is the last
    assert "marker=" in sent[1] and "limit=2" in sent[1]

    newest_first = list(client.images.iter(page_size=2))
    assert sorted(i.id for i in newest_first) == sorted(ids)
    assert len({i.id for i in newest_first}) == 5
    assert len(list(client.images.iter(page_size=5))) == 5
    assert [i.name for i in client.images.iter(page_size=2, sort="name:asc", marker=ids[2])] == [
        "img-3",
        "img-4",
    ]


def test_list_filters(client: Client, small_qcow2: Path) -> None:
    active = client.images.create_from_file(small_qcow2, "alpha", "ubuntu")
    queued = client.images.create("beta", "rocky", visibility="shared")

    assert [i.id for i in client.images.list(name="alpha")] == [active.id]
    assert [i.id for i in client.images.list(status="queued")] == [queued.id]
    assert [i.id for i in client.images.list(os_distro="rocky")] == [queued.id]
    assert [i.id for i in client.images.list(visibility="shared")] == [queued.id]
    assert {i.id for i in client.images.list(image_type="custom")} == {active.id, queued.id}
    assert client.images.list(original_image_type="standard") == []
    assert client.images.list(hidden=True) == []
    assert len(client.images.list(hidden=False)) == 2


def test_bad_list_parameters_are_bad_requests(client: Client) -> None:
    with pytest.raises(BadRequestError) as bad:
        client.images.list(sort="colour:asc")
    assert bad.value.status == 400 and "colour" in bad.value.detail and bad.value.request_id
    with pytest.raises(BadRequestError):
        client.images.list(limit=1001)
    with pytest.raises(ValueError):
        next(client.images.iter(page_size=0))


def test_update_and_delete(client: Client) -> None:
    image = client.images.create("to-change", "ubuntu")
    assert image.status == "queued"

    updated = client.images.update(image.id, min_disk=10, min_ram=4, protected=True, visibility="shared")
    assert (updated.min_disk, updated.min_ram, updated.protected, updated.visibility) == (
        10,
        4,
        True,
        "shared",
    )
    assert client.images.show(image.id).min_disk == 10

    with pytest.raises(BadRequestError) as unknown:
        client.images.update(image.id, name="renamed")
    assert "name" in unknown.value.detail
    with pytest.raises(ConflictError) as protected:
        client.images.delete(image.id)
    assert protected.value.code == "virtualserver.image.Protected"

    client.images.update(image.id, protected=False)
    client.images.delete(image.id)
    with pytest.raises(NotFoundError):
        client.images.show(image.id)
    with pytest.raises(NotFoundError):
        client.images.delete(image.id)


def test_create_refuses_bad_fields(client: Client) -> None:
    with pytest.raises(BadRequestError):
        client.images.create("bad/name", "ubuntu")
    with pytest.raises(BadRequestError):
        client.images.create("ok", "beos")
    with pytest.raises(BadRequestError):
        client.images.create("ok", "ubuntu", visibility="public")


def test_a_refused_upload_kills_the_image_and_wait_says_why(client: Client, tmp_path: Path) -> None:
    not_qcow2 = tmp_path / "disk.qcow2"
    not_qcow2.write_bytes(b"this is not a disk image\n" * 4096)
    image = client.images.create("bad-upload", "ubuntu")

    with pytest.raises(BadRequestError) as refused:
        client.images.upload(image.id, not_qcow2)
    with pytest.raises(ImageKilled) as killed:
        client.images.wait(image.id, timeout=10, interval=0.1)

    assert killed.value.image_id == image.id
    assert refused.value.code == "virtualserver.image.DiskImageRejected"
    assert killed.value.reason and killed.value.reason.startswith("not_qcow2: ")
    assert killed.value.reason.removeprefix("not_qcow2: ") in refused.value.detail
    assert client.images.show(image.id).status == "killed"
    assert client.images.import_status(image.id).status == "failed"


def test_create_from_file_refusal_removes_the_image_unless_kept(client: Client, tmp_path: Path) -> None:
    not_qcow2 = tmp_path / "disk.qcow2"
    not_qcow2.write_bytes(b"\0" * 65536)
    with pytest.raises(BadRequestError) as refused:
        client.images.create_from_file(not_qcow2, "refused", "ubuntu", protected=True)
    assert refused.value.created_image_removed and refused.value.cleanup_error is None
    assert client.images.list() == []
    assert any(f"image {refused.value.created_image_id} was" in note for note in refused.value.__notes__)

    with pytest.raises(BadRequestError) as kept:
        client.images.create_from_file(not_qcow2, "kept", "ubuntu", keep_failed=True)
    (killed,) = client.images.list(status="killed")
    assert killed.id == kept.value.created_image_id and not kept.value.created_image_removed


def test_wait_returns_at_once_or_times_out(client: Client, small_qcow2: Path) -> None:
    active = client.images.create_from_file(small_qcow2, "ready", "ubuntu")
    assert client.images.wait(active.id, timeout=0).id == active.id

    queued = client.images.create("never-uploaded", "ubuntu")
    seen: list[ImportStatus] = []
    with pytest.raises(WaitTimeout, match="queued"):
        client.images.wait(queued.id, timeout=0.3, interval=0.05, on_progress=seen.append)
    assert seen == []  # no import record exists for it
    assert client.images.wait(queued.id, status="queued").status == "queued"


def test_upload_twice_is_a_conflict(client: Client, small_qcow2: Path) -> None:
    image = client.images.create_from_file(small_qcow2, "once", "ubuntu")
    with pytest.raises(ConflictError):
        client.images.upload(image.id, small_qcow2)


def test_import_needs_a_qcow2_url_and_a_queued_image(client: Client, small_qcow2: Path) -> None:
    queued = client.images.create("to-import", "ubuntu")
    with pytest.raises(NotFoundError):
        client.images.import_status(queued.id)
    with pytest.raises(BadRequestError):
        client.images.import_(queued.id, "https://example.com/disk.raw")
    active = client.images.create_from_file(small_qcow2, "already-active", "ubuntu")
    with pytest.raises((ConflictError, BadRequestError)):
        client.images.import_(active.id, "https://example.com/disk.qcow2")


def test_share_makes_an_active_image_shared(client: Client, small_qcow2: Path) -> None:
    image = client.images.create_from_file(small_qcow2, "to-share", "ubuntu")
    assert image.visibility == "private"
    client.images.share(image.id)
    assert client.images.show(image.id).visibility == "shared"
    queued = client.images.create("not-yet", "ubuntu")
    with pytest.raises(ConflictError):
        client.images.share(queued.id)
