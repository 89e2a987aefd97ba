"""The SCP API's request models: JSON bodies validated exactly as the official schemas say (reference
§6.3-6.4). Reading the body (size cap, timeout) is ``request_body``'s; this module says what it must hold."""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from scp_images.domain.errors import InvalidField, InvalidImageName, InvalidRequest
from scp_images.domain.image import (
    MAX_MIN_DISK,
    MAX_MIN_RAM,
    MAX_NAME_LENGTH,
    OsDistro,
    Visibility,
    require_user_settable,
)
from scp_images.http.request_body import RawBody, json_document, media_type

M = TypeVar("M", bound=BaseModel)

# Both come from the domain, the one place that defines them.
SettableVisibility = Annotated[Visibility, AfterValidator(require_user_settable)]


# Bounds like OpenStack's (Glance: 128 characters a tag) and SCP's resource tags (50 a resource, value
# up to 256). Tags are kept as the image's string tags (``key=value``), shown by the OpenStack API; no
# SCP response shows them. SCP_MAX_TAGS bounds one SCP request; every image, through either API, holds at
# most the domain's GLANCE_MAX_TAGS.
SCP_MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


class Tag(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: Annotated[StrictStr, Field(min_length=1, max_length=MAX_TAG_KEY)]
    value: Annotated[StrictStr, Field(max_length=MAX_TAG_VALUE)] | None = None


class ImageCreateRequest(BaseModel):
    # The official schema does not forbid extra properties here.
    model_config = ConfigDict(extra="ignore")
    name: Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"^[a-zA-Z0-9\-_ ]*$")]
    os_distro: OsDistro
    url: Annotated[StrictStr, Field(max_length=255)]
    container_format: Literal["bare"] = "bare"
    disk_format: Literal["qcow2"] = "qcow2"
    min_disk: Annotated[StrictInt, Field(ge=0, le=MAX_MIN_DISK)] = 0
    min_ram: Annotated[StrictInt, Field(ge=0, le=MAX_MIN_RAM)] = 0
    protected: StrictBool = False
    visibility: SettableVisibility = Visibility.PRIVATE
    tags: Annotated[list[Tag], Field(max_length=SCP_MAX_TAGS)] | None = None


class ImageUploadCreateRequest(ImageCreateRequest):
    """Extension: ``url`` may be omitted when the bytes come through ``PUT /v2/images/{id}/file``."""

    url: Annotated[StrictStr, Field(max_length=255)] | None = None  # type: ignore[assignment]


class ImageSetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_disk: Annotated[StrictInt, Field(ge=0, le=MAX_MIN_DISK)] | None = None
    min_ram: Annotated[StrictInt, Field(ge=0, le=MAX_MIN_RAM)] | None = None
    protected: StrictBool | None = None
    visibility: SettableVisibility | None = None


# The extensions an import URL may end in: qcow2 as SCP's pattern, and (our departure from it, issue 21)
# the formats converted into qcow2. The format itself is decided from the bytes, never from this name.
IMPORT_URL_PATTERN = r".*\.(qcow2|raw|vmdk|ova|vhdx|vhd|vdi)$"


class ImageImportRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: Annotated[StrictStr, Field(max_length=255, pattern=IMPORT_URL_PATTERN)]
    # Our extension: the disk format the URL's bytes are in (None: detected); raw must be declared.
    input_format: Literal["qcow2", "raw", "vmdk", "ova", "vhdx", "vhd", "vdi"] | None = None


class ImageMemberCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_id: Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]*$")]


class ImageMemberSetRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: Literal["pending", "accepted", "rejected"]


class ServerCreateImageRequestBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    image_name: StrictStr


# Fields checked by a pattern, their rule in words (en-US, ko-KR): a refusal never shows the regular
# expression (a terminal's markup would eat its brackets, and people do not read them).
_RULES = {
    "url": (
        "an import URL ends in .qcow2, .raw, .vmdk, .ova, .vhdx, .vhd or .vdi",
        "가져오기 URL은 .qcow2, .raw, .vmdk, .ova, .vhdx, .vhd 또는 .vdi로 끝나야 합니다",
    ),
    "member_id": (
        "a member id is an account id: letters, digits and '-', 1 to 64 characters",
        "멤버 ID는 계정 ID입니다: 영문자, 숫자, '-'로 된 1~64자",
    ),
}
_NAME_ERRORS = frozenset({"string_pattern_mismatch", "string_too_short", "string_too_long"})


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        pattern = item["type"] == "string_pattern_mismatch"
        message = "does not have the allowed form" if pattern else item["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _refusal(error: ValidationError) -> InvalidRequest:
    """The first refused field with a rule in words gets its own message; others are listed."""
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"])
        if field == "name" and item["type"] in _NAME_ERRORS:
            return InvalidImageName(name=str(item.get("input", ""))[:80], max_length=MAX_NAME_LENGTH)
        if field in _RULES and item["type"] == "string_pattern_mismatch":
            rule, rule_ko = _RULES[field]
            return InvalidField(field=field, rule=rule, rule_ko=rule_ko)
    return InvalidRequest(reason=_describe(error))


def _require_json(content_type: str | None) -> None:
    """The SCP edge takes any ``…json`` media type and refuses others as a bad request."""
    if content_type is not None and not media_type(content_type).endswith("json"):
        raise InvalidRequest(reason=f"Content-Type must be application/json, not {content_type[:60]!r}")


def parse_body(model: type[M], raw: RawBody, *, limit: int) -> M:
    data = json_document(raw, limit, _require_json)
    if not isinstance(data, dict):
        raise InvalidRequest(reason="the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _refusal(exc) from None
