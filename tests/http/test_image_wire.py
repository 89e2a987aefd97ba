"""The image body a JSON response encodes (times and enums left to orjson) is byte for byte the plain
body's text, for the store's naive UTC times and for the odd ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from scp_images.domain.image import Image, ImageStatus, Visibility
from scp_images.domain.versions import V1_0, V1_2
from scp_images.http.responses import json_response
from scp_images.http.schemas import image_body, image_fields, image_list_wire, image_wire

TIMES = [
    datetime(2026, 12, 7, 12, 0, 0),
    datetime(2026, 12, 7, 12, 0, 0, 999_999),
    datetime(999, 1, 2, 3, 4, 5),
    datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 7, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=9))),
]


def _image(created: datetime, updated: datetime) -> Image:
    return Image(
        id="7d0c3d9e-4a5e-4e2b-9d51-7a3c7e9f0a11",
        name="wire",
        owner="a" * 32,
        status=ImageStatus.ACTIVE,
        visibility=Visibility.SHARED,
        created_at=created,
        updated_at=updated,
        url="https://bucket.example/key?X-Amz-Signature=secret",
        tags=("a",),
        properties={"k": "v"},
    )


@pytest.mark.parametrize("created", TIMES)
@pytest.mark.parametrize("version", [V1_0, V1_2])
def test_the_wire_body_is_the_plain_bodys_text(created: datetime, version: object) -> None:
    image = _image(created, TIMES[0])
    plain = orjson.dumps(image_body(image, version))  # type: ignore[arg-type]
    assert json_response(image_wire(image, version)).body == plain  # type: ignore[arg-type]
    images = [image, _image(TIMES[0], created)]
    listed = {"images": [image_body(one, version) for one in images]}  # type: ignore[arg-type]
    assert json_response(image_list_wire(images, version)).body == orjson.dumps(listed)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [V1_0, V1_2])
def test_the_wire_body_holds_each_shown_field_in_the_documented_order(version: object) -> None:
    """The body is built by a function written out at import; it must hold exactly ``image_fields``, in
    that (alphabetical) order, each the image's attribute, the URL redacted."""
    image = _image(TIMES[0], TIMES[1])
    image.scp_gpu_driver, image.size, image.protected = "535", 7, True
    fields = image_fields(version)  # type: ignore[arg-type]
    expected = {name: getattr(image, name) for name in fields}
    expected["url"] = "https://bucket.example/key?X-Amz-Signature=REDACTED"
    for body in (image_wire(image, version), image_list_wire([image], version)["images"][0]):  # type: ignore[arg-type]
        assert list(body) == list(fields) == sorted(fields)
        assert body == expected
