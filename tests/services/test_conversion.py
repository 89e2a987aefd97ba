"""Disk conversion through the real services (SQLite, filesystem blob store, real qemu-img behind a wrapper
that logs every call): each accepted format ends active with the same disk as its source, the hostile
corpus is refused before qemu-img runs, and nothing temporary is left behind."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scp_images.domain.errors import DiskImageRejected
from scp_images.domain.image import Image, ImageStatus
from scp_images.domain.jobs import ImportPhase, JobStatus
from scp_images.domain.principal import Principal
from tests.services.conftest import create
from tests.support import corpus_hyperv, corpus_vmdk
from tests.support.qemu_wrapper import read_calls, write_wrapper
from tests.support.services import Services
from tests.support.tools import require_qemu, run_tool, wait_until

MiB = 1 << 20

# name -> (qemu-img's -O, its -o options, the original_disk_format shown)
CONVERTED = {
    "vmdk-monolithicSparse": ("vmdk", "subformat=monolithicSparse", "vmdk"),
    "vmdk-streamOptimized": ("vmdk", "subformat=streamOptimized", "vmdk"),
    "vhdx-dynamic": ("vhdx", "subformat=dynamic", "vhdx"),
    "vhdx-fixed": ("vhdx", "subformat=fixed", "vhdx"),
    "vhd-dynamic": ("vpc", "subformat=dynamic", "vhd"),
    "vhd-fixed": ("vpc", "subformat=fixed", "vhd"),
    "vdi-normal": ("vdi", "static=off", "vdi"),
    "vdi-fixed": ("vdi", "static=on", "vdi"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_qemu()
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture
def qemu_log(tmp_path: Path) -> Path:
    return tmp_path / "qemu-calls.jsonl"


@pytest.fixture
def converting(make_services: Callable[..., Services], tmp_path: Path, qemu_log: Path) -> Services:
    """Services whose qemu-img is the logging wrapper (no background thread: the test runs the jobs)."""
    wrapper = write_wrapper(tmp_path / "bin", qemu_log)
    return make_services(qemu_img=str(wrapper))


def made(corpus: Path, name: str) -> Path:
    driver, options, _ = CONVERTED[name]
    target = corpus / f"{name}.img"
    if not target.exists():
        raw = corpus_vmdk.known_raw(corpus)
        run_tool("qemu-img", "convert", "-q", "-f", "raw", "-O", driver, "-o", options, str(raw), str(target))
    return target


def chunks_of(path: Path, size: int = 256 << 10) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def upload(services: Services, caller: Principal, path: Path, **fields: object) -> Image:
    image = create(services, caller, **fields)
    services.upload(caller, image.id, chunks_of(path))
    return services.parts.images.show(caller, image.id)


def convert_all(services: Services) -> int:
    """Run the queued jobs as a runner does; how many ran."""
    ran = 0
    while services.parts.runner.run_once():
        ran += 1
    return ran


def stored_copy(services: Services, image: Image, path: Path) -> Path:
    assert image.blob_key is not None
    with path.open("wb") as out:
        for chunk in services.parts.blobs.read(image.blob_key):
            out.write(chunk)
    return path


def leftovers(services: Services) -> list[Path]:
    """What conversions left in their directory (the host's lock files are kept by design)."""
    root = services.parts.conversions.host.temp_dir
    return sorted(p for p in root.iterdir() if not p.name.endswith(".lock")) if root.exists() else []


def virtual_size(path: Path, driver: str) -> int:
    info = json.loads(run_tool("qemu-img", "info", "--output=json", "-f", driver, str(path)))
    return int(info["virtual-size"])


def check_identical(stored: Path, source: Path) -> None:
    """``qemu-img compare`` says the two disks are identical (it exits 1 when they differ: ToolFailed)."""
    run_tool("qemu-img", "compare", "-q", "-f", "qcow2", "-F", "raw", str(stored), str(source))


@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_each_format_is_converted_into_the_same_disk_as_qcow2(
    converting: Services, owner: Principal, corpus: Path, tmp_path: Path, qemu_log: Path, name: str
) -> None:
    source = made(corpus, name)
    data = source.read_bytes()
    staged = upload(converting, owner, source)
    # The upload answers once the original is staged: the image imports until the conversion ends.
    assert staged.status is ImageStatus.IMPORTING
    job = converting.parts.images.import_status(owner, staged.id)
    assert (job.status, job.phase, job.original_key is not None) == (
        JobStatus.PENDING,
        ImportPhase.CONVERTING,
        True,
    )
    # Its format and size are known; its sha512 is computed by the conversion, not while it uploaded.
    assert job.original is not None and (job.original.size, job.original.sha512) == (len(data), None)
    assert read_calls(qemu_log) == []

    assert convert_all(converting) == 1
    image = converting.parts.images.show(owner, staged.id)
    assert (image.status, image.disk_format, image.container_format) == (ImageStatus.ACTIVE, "qcow2", "bare")
    original = image.original
    assert original is not None
    assert (original.disk_format, original.size) == (CONVERTED[name][2], len(data))
    assert original.sha512 == hashlib.sha512(data).hexdigest()
    stored = stored_copy(converting, image, tmp_path / "stored.qcow2")
    body = stored.read_bytes()
    assert (image.size, image.checksum) == (len(body), hashlib.md5(body).hexdigest())
    assert image.os_hash_value == hashlib.sha512(body).hexdigest()
    assert image.virtual_size == virtual_size(source, CONVERTED[name][0])  # a VHD's rounds up to its CHS
    check_identical(stored, corpus_vmdk.known_raw(corpus))
    # qemu-img ran once, converting with the input format named; nothing temporary is left.
    calls = read_calls(qemu_log)
    assert [c.subcommand for c in calls] == ["convert"]
    assert calls[0].argv[calls[0].argv.index("-f") + 1] == {"vhd": "vpc"}.get(
        original.disk_format, original.disk_format
    )
    assert leftovers(converting) == []
    assert set(converting.parts.blobs.keys()) == {image.blob_key}
    done = converting.parts.images.import_status(owner, image.id)
    assert (done.status, done.original_key, done.original) == (JobStatus.SUCCEEDED, None, original)
    # What the job received, not what was stored: the import status reads bytes_read of bytes_total.
    assert done.bytes_read == len(data)
    assert (done.phase, done.percent) == (None, None)  # finished: in no phase any more


def test_an_ova_is_converted_from_its_one_disk(
    converting: Services, owner: Principal, corpus: Path, tmp_path: Path, qemu_log: Path
) -> None:
    source = corpus_vmdk.ova(corpus)
    staged = upload(converting, owner, source)
    assert convert_all(converting) == 1
    image = converting.parts.images.show(owner, staged.id)
    assert image.status is ImageStatus.ACTIVE
    assert image.original is not None and (image.original.disk_format, image.original.size) == (
        "ova",
        source.stat().st_size,
    )
    assert image.original.sha512 == hashlib.sha512(source.read_bytes()).hexdigest()  # the whole .ova
    check_identical(stored_copy(converting, image, tmp_path / "stored.qcow2"), corpus_vmdk.known_raw(corpus))
    assert [c.subcommand for c in read_calls(qemu_log)] == ["convert"]
    assert leftovers(converting) == []


HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "second-extent-host-file": (corpus_vmdk.second_extent_host_file, "vmdk_extent"),
    "json-extent-name": (corpus_vmdk.json_extent_name, "vmdk_protocol"),
    "monolithic-flat": (corpus_vmdk.monolithic_flat, "vmdk_descriptor_only"),
    "flat-create-type": (corpus_vmdk.flat_create_type, "vmdk_create_type"),
    "stream-grain-past-end": (corpus_vmdk.stream_grain_past_end, "vmdk_outside_file"),
    "delta-with-parent": (corpus_vmdk.delta_with_parent, "vmdk_parent"),
    "claiming-over-ceiling": (corpus_vmdk.claiming, "virtual_size_too_large"),
    "ova-parent-dir-member": (corpus_vmdk.ova_parent_dir_member, "ova_member"),
    "ova-symlink-member": (corpus_vmdk.ova_symlink_member, "ova_member"),
    "ova-two-disks": (corpus_vmdk.ova_two_disks, "ova_disks"),
    "ova-missing-disk": (corpus_vmdk.ova_missing_disk, "ova_disks"),
    "ova-xml-entity": (corpus_vmdk.ova_xml_entity, "ova_descriptor"),
    "vhd-differencing": (corpus_hyperv.vhd_differencing, "vhd_disk_type"),
    "vhd-fixed-differencing": (corpus_hyperv.vhd_fixed_differencing, "vhd_disk_type"),
    "vhdx-differencing": (corpus_hyperv.vhdx_differencing, "vhdx_parent"),
    "vdi-differencing": (corpus_hyperv.vdi_differencing, "vdi_image_type"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_disk_is_refused_before_qemu_img_sees_it(
    make_services: Callable[..., Services], tmp_path: Path, corpus: Path, qemu_log: Path, name: str
) -> None:
    make, reason = HOSTILE[name]
    wrapper = write_wrapper(tmp_path / "bin", qemu_log)
    services = make_services(qemu_img=str(wrapper), max_virtual_size=16 << 30)
    owner = services.account("owner")
    image = create(services, owner)
    with pytest.raises(DiskImageRejected) as refused:
        services.upload(owner, image.id, chunks_of(make(corpus)))
    assert refused.value.reason == reason
    assert convert_all(services) == 0
    killed = services.parts.images.show(owner, image.id)
    assert killed.status is ImageStatus.KILLED and killed.original is None
    job = services.parts.images.import_status(owner, image.id)
    assert job.reason is not None and job.reason.startswith(f"{reason}: ")
    assert read_calls(qemu_log) == []
    assert list(services.parts.blobs.keys()) == [] and leftovers(services) == []


def test_bytes_of_another_format_than_declared_are_refused(
    converting: Services, owner: Principal, corpus: Path, qemu_log: Path
) -> None:
    """VMDK bytes declared as VHDX, and a VHD declared as VDI (the OpenStack edge declares the image's
    ``disk_format`` the same way: ``format_from_image``)."""
    for declared, name, found in (
        ("vhdx", "vmdk-streamOptimized", "a VMDK disk"),
        ("vdi", "vhd-dynamic", "a VHD disk"),
    ):
        image = create(converting, owner)
        fence = converting.parts.images.begin_upload(owner, image.id, "tests:upload", input_format=declared)
        with pytest.raises(DiskImageRejected) as refused:
            converting.parts.ingest.ingest_or_kill(fence, chunks_of(made(corpus, name)), reraise=True)
        assert refused.value.reason == "format_mismatch"
        assert f"disk_format is {declared} but the data is {found}" in str(refused.value.params["detail"])
        assert converting.parts.images.show(owner, image.id).status is ImageStatus.KILLED
    assert read_calls(qemu_log) == []


def test_a_format_the_operator_does_not_accept_is_refused(
    make_services: Callable[..., Services], corpus: Path
) -> None:
    services = make_services(accepted_formats="qcow2,raw,vmdk")
    owner = services.account("owner")
    image = create(services, owner)
    with pytest.raises(DiskImageRejected) as refused:
        services.upload(owner, image.id, chunks_of(made(corpus, "vhdx-dynamic")))
    assert refused.value.reason == "format_not_accepted"
    assert services.parts.images.show(owner, image.id).status is ImageStatus.KILLED


def test_a_qemu_img_failure_kills_the_image_and_removes_everything(
    make_services: Callable[..., Services], tmp_path: Path, corpus: Path
) -> None:
    failing = tmp_path / "bin" / "qemu-img"
    failing.parent.mkdir()
    failing.write_text("#!/bin/sh\necho 'qemu-img: something went wrong' >&2\nexit 1\n")
    failing.chmod(0o755)
    services = make_services(qemu_img=str(failing))
    owner = services.account("owner")
    staged = upload(services, owner, made(corpus, "vdi-normal"))
    assert staged.status is ImageStatus.IMPORTING
    assert convert_all(services) == 1
    image = services.parts.images.show(owner, staged.id)
    job = services.parts.images.import_status(owner, staged.id)
    assert image.status is ImageStatus.KILLED and image.original is None
    assert job.reason is not None and job.reason.startswith("conversion_failed: ")
    assert (job.status, job.original_key) == (JobStatus.FAILED, None)
    assert list(services.parts.blobs.keys()) == [] and leftovers(services) == []


def test_the_quota_holds_the_original_while_it_converts_and_the_stored_size_after(
    make_services: Callable[..., Services], corpus: Path, qemu_log: Path, tmp_path: Path
) -> None:
    wrapper = write_wrapper(tmp_path / "bin", qemu_log)
    source = made(corpus, "vhd-fixed")  # larger than its qcow2 output
    services = make_services(qemu_img=str(wrapper), quota_image_size_total=64 * MiB, quota_step_bytes=MiB)
    owner = services.account("owner")
    staged = upload(services, owner, source)
    quotas = services.parts.quotas
    assert quotas.show(owner.account_id).usage.bytes == source.stat().st_size
    assert convert_all(services) == 1
    image = services.parts.images.show(owner, staged.id)
    assert image.status is ImageStatus.ACTIVE and image.size is not None
    assert quotas.show(owner.account_id).usage.bytes == image.size < source.stat().st_size


def test_an_output_that_would_cross_the_quota_stops_the_job(
    make_services: Callable[..., Services], corpus: Path, qemu_log: Path, tmp_path: Path
) -> None:
    """A streamOptimized VMDK is smaller than its qcow2 output: the original fits, the output does not."""
    wrapper = write_wrapper(tmp_path / "bin", qemu_log)
    source = made(corpus, "vmdk-streamOptimized")
    limit = source.stat().st_size + 4096
    services = make_services(qemu_img=str(wrapper), quota_image_size_total=limit, quota_step_bytes=4096)
    owner = services.account("owner")
    staged = upload(services, owner, source)
    assert staged.status is ImageStatus.IMPORTING
    assert convert_all(services) == 1
    job = services.parts.images.import_status(owner, staged.id)
    assert services.parts.images.show(owner, staged.id).status is ImageStatus.KILLED
    assert job.reason is not None and job.reason.startswith("quota_exceeded: ")
    assert services.parts.quotas.show(owner.account_id).usage.bytes == 0
    assert list(services.parts.blobs.keys()) == [] and leftovers(services) == []


def test_glance_direct_stages_the_original_and_its_import_call_converts_it(
    converting: Services, owner: Principal, corpus: Path, tmp_path: Path
) -> None:
    image = create(converting, owner)
    fence = converting.parts.images.begin_upload(owner, image.id, "tests:stage", staging=True)
    converting.parts.ingest.ingest_or_kill(
        fence, chunks_of(made(corpus, "vmdk-monolithicSparse")), reraise=True, target=ImageStatus.UPLOADING
    )
    assert converting.parts.images.show(owner, image.id).status is ImageStatus.UPLOADING
    assert convert_all(converting) == 0  # nothing runs before the import call
    converting.parts.images.finish_staged(owner, image.id)
    assert converting.parts.images.show(owner, image.id).status is ImageStatus.IMPORTING
    assert convert_all(converting) == 1
    done = converting.parts.images.show(owner, image.id)
    assert (done.status, done.disk_format) == (ImageStatus.ACTIVE, "qcow2")
    check_identical(stored_copy(converting, done, tmp_path / "stored.qcow2"), corpus_vmdk.known_raw(corpus))


def test_deleting_an_image_waiting_for_its_conversion_removes_the_original(
    converting: Services, owner: Principal, corpus: Path
) -> None:
    staged = upload(converting, owner, made(corpus, "vhdx-dynamic"))
    assert list(converting.parts.blobs.keys()) != []
    converting.parts.images.delete(owner, staged.id)
    assert list(converting.parts.blobs.keys()) == []
    assert convert_all(converting) == 0


def test_raw_declared_on_an_image_storing_qcow2_is_converted(
    converting: Services, owner: Principal, corpus: Path, tmp_path: Path, qemu_log: Path
) -> None:
    """The SCP edge's input format ``raw``: the bytes are a raw disk, the image stores qcow2."""
    raw = corpus_vmdk.known_raw(corpus)
    image = create(converting, owner)
    fence = converting.parts.images.begin_upload(owner, image.id, "tests:upload", input_format="raw")
    result = converting.parts.ingest.ingest_or_kill(fence, chunks_of(raw), reraise=True)
    assert result is not None and result.staged
    assert convert_all(converting) == 1
    done = converting.parts.images.show(owner, image.id)
    assert (done.status, done.disk_format, done.original_disk_format) == (ImageStatus.ACTIVE, "qcow2", "raw")
    check_identical(stored_copy(converting, done, tmp_path / "stored.qcow2"), raw)
    assert [c.argv[c.argv.index("-f") + 1] for c in read_calls(qemu_log)] == ["raw"]


def test_raw_bytes_not_declared_are_refused_as_not_a_disk(
    converting: Services, owner: Principal, corpus: Path, qemu_log: Path
) -> None:
    image = create(converting, owner)
    with pytest.raises(DiskImageRejected) as refused:
        converting.upload(owner, image.id, chunks_of(corpus_vmdk.known_raw(corpus)))
    assert refused.value.reason == "not_qcow2"
    assert read_calls(qemu_log) == []


def test_a_conversion_without_temporary_space_kills_the_image_before_qemu_img_runs(
    make_services: Callable[..., Services], tmp_path: Path, corpus: Path, qemu_log: Path
) -> None:
    wrapper = write_wrapper(tmp_path / "bin", qemu_log)
    services = make_services(
        qemu_img=str(wrapper), conversion_space_bytes=1 << 20
    )  # less than any disk needs
    owner = services.account("owner")
    staged = upload(services, owner, made(corpus, "vmdk-monolithicSparse"))
    assert convert_all(services) == 1
    job = services.parts.images.import_status(owner, staged.id)
    assert services.parts.images.show(owner, staged.id).status is ImageStatus.KILLED
    assert job.reason is not None and job.reason.startswith("no_temp_space: ")
    assert read_calls(qemu_log) == []
    assert list(services.parts.blobs.keys()) == [] and leftovers(services) == []


def test_a_conversion_runner_without_a_free_slot_claims_nothing(
    converting: Services, owner: Principal, corpus: Path
) -> None:
    """Another process of the host holds the only slot: the job stays pending, unclaimed, until it lets go."""
    staged = upload(converting, owner, made(corpus, "vdi-fixed"))
    held = converting.parts.conversions.host.try_slot()
    assert held is not None
    with held:
        assert converting.parts.runner.run_once() is False
        job = converting.parts.images.import_status(owner, staged.id)
        assert (job.status, job.claimed_by, job.attempts) == (JobStatus.PENDING, None, 0)
    assert convert_all(converting) == 1
    assert converting.parts.images.show(owner, staged.id).status is ImageStatus.ACTIVE


def test_deleting_the_image_during_its_conversion_stops_qemu_img_and_leaves_nothing(
    make_services: Callable[..., Services], tmp_path: Path, corpus: Path
) -> None:
    """The heartbeat finds the job gone and cancels qemu-img (its process group is killed)."""
    marks = tmp_path / "marks"
    slow = tmp_path / "bin" / "qemu-img"
    slow.parent.mkdir()
    real = run_tool("sh", "-c", "command -v qemu-img").strip()
    slow.write_text(
        f'#!/bin/sh\necho started >> {marks}\nsleep 30\necho ended >> {marks}\nexec {real} "$@"\n'
    )
    slow.chmod(0o755)
    services = make_services(qemu_img=str(slow), import_heartbeat_seconds=0.2)
    owner = services.account("owner")
    staged = upload(services, owner, made(corpus, "vhdx-fixed"))
    runner = threading.Thread(target=convert_all, args=(services,))
    runner.start()
    wait_until(lambda: marks.exists(), what="qemu-img started", timeout=30)
    services.parts.images.delete(owner, staged.id)
    runner.join(timeout=60)
    assert not runner.is_alive()
    assert marks.read_text() == "started\n"  # killed inside its pause: it never went on
    assert list(services.parts.blobs.keys()) == [] and leftovers(services) == []
