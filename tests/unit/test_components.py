"""The wiring: ``build_components`` makes each service once, and the container is never changed after."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from scp_images.app import Components, build_components, create_app, server_metrics
from scp_images.config import ConfigError, Settings


@pytest.fixture
def embedded(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=None, blob_url=None, run_import_jobs=False)


@pytest.fixture
def parts(embedded: Settings) -> Iterator[Components]:
    built = build_components(embedded)
    yield built
    built.close()


SERVICES = [field.name for field in dataclasses.fields(Components)]


def test_the_container_is_frozen(parts: Components) -> None:
    for name in SERVICES:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(parts, name, None)


def test_a_part_read_twice_is_the_same_object(parts: Components) -> None:
    first = {name: getattr(parts, name) for name in SERVICES}
    assert all(getattr(parts, name) is part for name, part in first.items())
    assert not [name for name in vars(type(parts)) if isinstance(getattr(type(parts), name), property)]


def test_the_background_work_drives_the_containers_own_runner(parts: Components) -> None:
    assert parts.background.runner is parts.runner


def test_two_builds_from_one_settings_share_nothing_but_the_settings(embedded: Settings) -> None:
    first, second = build_components(embedded), build_components(embedded)
    try:
        values = [name for name in SERVICES if not isinstance(getattr(first, name), (frozenset, type(None)))]
        shared = {name for name in values if getattr(first, name) is getattr(second, name)}
        # The settings are the caller's; the clock is the one system clock (a function, no state).
        assert shared == {"settings", "clock"}
    finally:
        first.close()
        second.close()


def test_a_server_needs_components_that_carry_its_metrics(parts: Components, embedded: Settings) -> None:
    with pytest.raises(ValueError, match="server_metrics"):
        create_app(embedded, components=parts)


def test_a_server_exports_the_figures_its_services_report_to(embedded: Settings) -> None:
    metrics = server_metrics()
    built = build_components(embedded, metrics=metrics)
    try:
        assert built.metrics is metrics
        assert built.scrubber.observer is metrics.observers.scrubs
        create_app(embedded, components=built)  # builds; the container is unchanged
        assert built.metrics is metrics
    finally:
        built.close()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            {"s3_public_endpoint_url": "http://127.0.0.1:9"},
            "SCP_IMAGES_S3_PUBLIC_ENDPOINT_URL is set but the blob store is not S3",
        ),
        (
            {"blob_url": "s3://bucket/images", "s3_public_endpoint_url": "ftp://store.example"},
            "SCP_IMAGES_S3_PUBLIC_ENDPOINT_URL must be an http(s)://host[:port] URL, not 'ftp://store.example'",
        ),
        ({"download_redirect_seconds": 0}, "SCP_IMAGES_DOWNLOAD_REDIRECT_SECONDS must be 1 to 3600, not 0"),
    ],
)
def test_nonsense_settings_fail_when_the_settings_are_made(
    tmp_path: Path, setting: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings(data_dir=tmp_path / "data", **setting)  # type: ignore[arg-type]
    assert str(refused.value).startswith(message)
    assert not (tmp_path / "data").exists()  # refused before anything was opened or made
