"""The one JSON body reader both edges use: the size cap before anything, then the edge's media rule, then
the document; and the SCP edge's models on top of it."""

from __future__ import annotations

from datetime import datetime

import pytest

from scp_images.domain.errors import InvalidRequest, PayloadTooLarge
from scp_images.domain.image import ImageSpec, new_image
from scp_images.domain.properties import GLANCE_MAX_TAGS
from scp_images.http.request_body import RawBody, json_document
from scp_images.http.request_models import SCP_MAX_TAGS, ImageMemberSetRequest, parse_body


class _Refused(Exception):
    pass


def _refuse_all(content_type: str | None) -> None:
    raise _Refused(content_type)


def test_an_oversized_body_is_refused_before_its_media_type_is_looked_at() -> None:
    with pytest.raises(PayloadTooLarge):
        json_document(RawBody(b"x" * 11, "text/plain"), 10, _refuse_all)


def test_the_edge_rule_for_the_media_type_runs_before_the_document_is_read() -> None:
    with pytest.raises(_Refused):
        json_document(RawBody(b"not json", "text/plain"), 100, _refuse_all)


def test_an_empty_body_is_no_document_unless_the_edge_says_it_is_invalid_json() -> None:
    assert json_document(RawBody(b"", None), 100) is None
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        json_document(RawBody(b"", None), 100, empty_is_none=False)
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        json_document(RawBody(b"{", None), 100)


def test_the_scp_models_take_any_json_media_type_and_refuse_others_as_a_bad_request() -> None:
    body = b'{"status": "accepted"}'
    for content_type in (None, "application/json", "Application/Vnd.Api+JSON; charset=utf-8"):
        assert parse_body(ImageMemberSetRequest, RawBody(body, content_type), limit=100).status == "accepted"
    with pytest.raises(InvalidRequest, match="Content-Type must be application/json"):
        parse_body(ImageMemberSetRequest, RawBody(body, "text/plain"), limit=100)
    with pytest.raises(InvalidRequest, match="must be a JSON object"):
        parse_body(ImageMemberSetRequest, RawBody(b"[]", None), limit=100)


def test_the_two_tag_bounds_keep_their_values() -> None:
    assert (SCP_MAX_TAGS, GLANCE_MAX_TAGS) == (50, 128)


def test_a_spec_s_bounds_are_checked_where_the_image_is_made() -> None:
    with pytest.raises(InvalidRequest, match="disk_format"):
        new_image(ImageSpec("m", "a" * 32, "ubuntu", disk_format="iso"), datetime(2026, 1, 1))
    with pytest.raises(InvalidRequest, match="container_format ova holds a VMDK"):
        spec = ImageSpec("m", "a" * 32, "ubuntu", disk_format="vhdx", container_format="ova")
        new_image(spec, datetime(2026, 1, 1))
    with pytest.raises(InvalidRequest, match="tags"):
        tags = tuple(f"t{i}" for i in range(GLANCE_MAX_TAGS + 1))
        new_image(ImageSpec("m", "a" * 32, "ubuntu", tags=tags), datetime(2026, 1, 1))
    image = new_image(ImageSpec("m", "a" * 32, "ubuntu", tags=("b", "a", "b")), datetime(2026, 1, 1))
    assert image.tags == ("b", "a")
