"""Query and body building: ``None`` means "not sent", booleans are spelt the way the API reads them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote


def image_path(image_id: str, *rest: str, api: str = "v1") -> str:
    """``/{api}/images/{id}[/rest…]`` with every segment escaped."""
    return "/".join([f"/{api}/images", *(quote(part, safe="") for part in (image_id, *rest))])


def query(**values: Any) -> dict[str, str]:
    return {key: _text(value) for key, value in values.items() if value is not None}


def body(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def tags_body(tags: Mapping[str, str | None] | None) -> list[dict[str, str | None]] | None:
    if tags is None:
        return None
    return [{"key": key, "value": value} for key, value in tags.items()]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
