"""Every error says what happened and the next step, in en-US and ko-KR: the one table checked whole,
then the cases a newcomer meets, over HTTP against a real server."""

from __future__ import annotations

import re
import string
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_images.domain import errors as e
from scp_images.domain import failures
from scp_images.formats.qcow2 import REASONS
from scp_images.http import errors as table
from scp_images.signing import sign_request
from tests.support.stack import Key, Stack

HANGUL = re.compile(r"[\uac00-\ud7a3]")
SRC = Path(__file__).resolve().parents[2] / "src" / "scp_images"


def _all_errors() -> Iterator[type[e.DomainError]]:
    pending: list[type[e.DomainError]] = [e.DomainError]
    while pending:
        cls = pending.pop()
        yield cls
        pending.extend(cls.__subclasses__())


def _fields(template: str) -> set[str]:
    return {name.split("!")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def _sample(cls: type[e.DomainError]) -> e.DomainError:
    names = _fields(cls.template) | _fields(cls.hint) | _fields(table.spec_for_class(cls).ko)
    params = {name: f"<{name}>" for name in names}
    if issubclass(cls, e.DiskImageRejected):
        return cls("not_qcow2", "<detail>")
    return cls(**params)


def test_every_error_has_its_own_row_with_a_next_step_in_both_languages() -> None:
    statuses: dict[str, int] = {}
    for cls in _all_errors():
        spec = table.spec_for_class(cls)
        if cls is e.DomainError or "template" in vars(cls):
            assert cls in table.TABLE, f"{cls.__name__} has its own template but no row of its own"
        assert cls.hint.strip(), f"{cls.__name__} says no next step"
        assert HANGUL.search(spec.ko) and HANGUL.search(spec.ko_hint), cls.__name__
        english = _fields(cls.template) | _fields(cls.hint)
        allowed = english | {f"{name}_ko" for name in english}
        assert _fields(spec.ko) | _fields(spec.ko_hint) <= allowed, cls.__name__
        # codes are what clients depend on: one code, one status
        assert statuses.setdefault(cls.code, spec.status) == spec.status, cls.code
        error = _sample(cls)
        for language in ("en-US", "ko-KR"):
            text = table.localised_detail(error, language)
            assert "{" not in text and "}" not in text, (cls.__name__, language, text)
        assert HANGUL.search(table.localised_detail(error, "ko-KR")), cls.__name__
        assert not HANGUL.search(table.localised_detail(error, "en-US")), cls.__name__


def test_fixed_reasons_are_korean_under_ko_kr() -> None:
    for english, korean in table.REASONS_PARAM_KO.items():
        text = table.localised_detail(e.Unavailable(reason=english), "ko-KR")
        assert korean in text and english not in text and HANGUL.search(korean)
    raised = set(re.findall(r'\(reason="([^"]+)"\)', "".join(p.read_text() for p in SRC.rglob("*.py"))))
    assert set(table.REASONS_PARAM_KO) <= raised  # no row for a text nothing raises


def test_no_tenant_text_names_an_operator_setting() -> None:
    for cls in _all_errors():
        spec = table.spec_for_class(cls)
        for text in (cls.template, cls.hint, spec.ko, spec.ko_hint):
            assert "SCP_IMAGES_" not in text, cls.__name__


def test_every_import_failure_code_has_a_korean_text_and_every_refusal_a_code() -> None:
    assert set(failures.NEXT_STEPS) == set(table.REASONS_KO)
    words = set(REASONS)
    for path in [*SRC.joinpath("formats").glob("*.py"), *SRC.joinpath("imports").glob("*.py")]:
        words |= set(re.findall(r'(?:DiskImageRejected|_reject)\(\s*"([a-z0-9_]+)"', path.read_text()))
    assert {"not_qcow2", "truncated", "too_large", "format_mismatch"} <= words
    assert words <= set(failures.NEXT_STEPS)
    for code in failures.NEXT_STEPS:
        stored = failures.stored(code, "what happened")
        english = table.localised_reason(stored, "en-US")
        korean = table.localised_reason(stored, "ko-KR")
        assert english == f"{code}: what happened. {failures.NEXT_STEPS[code]}"
        assert korean is not None and korean.startswith(f"{code}: ") and HANGUL.search(korean)
    assert failures.code_of(RuntimeError("boom")) == "internal"
    assert table.localised_reason("a reason written before codes", "ko-KR") == "a reason written before codes"


# --- over HTTP -----------------------------------------------------------------------------------

pytestmark_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    item: dict[str, Any] = response.json()["errors"][0]
    return item


def _both(stack: Stack, method: str, path: str, key: Key, status: int, **kwargs: Any) -> tuple[Any, Any]:
    en = _error(stack.request(method, path, key, **kwargs), status)
    ko = _error(stack.request(method, path, key, headers={"Accept-Language": "ko-KR"}, **kwargs), status)
    assert en["code"] == ko["code"]
    assert HANGUL.search(ko["detail"]) and not HANGUL.search(en["detail"])
    return en, ko


@pytestmark_sqlite
def test_newcomer_errors_say_the_next_step(stack: Stack, tmp_path: Path) -> None:
    owner = stack.new_account("owner")
    other = stack.new_account("other")

    en, ko = _both(stack, "GET", "/v1/images/ubuntu-22", owner, 400)
    assert en["code"] == "virtualserver.request.Invalid"
    assert "is not an image id" in en["detail"] and "UUID" in en["detail"]
    assert "scp-images image list" in en["detail"] and "scp-images image list" in ko["detail"]

    body = {"name": "ubuntu-22.04", "os_distro": "ubuntu"}
    en, ko = _both(stack, "POST", "/v1/images", owner, 400, params={"source": "upload"}, json=body)
    assert en["code"] == "virtualserver.request.Invalid"
    for words in ("letter", "digit", "hyphen '-'", "underscore '_'", "space", "1 to 255"):
        assert words in en["detail"]
    assert "pattern" not in en["detail"] and "^" not in en["detail"] and "[" not in en["detail"]

    created = stack.request("POST", "/v1/images", owner, params={"source": "upload"}, json={
        "name": "guarded", "os_distro": "ubuntu", "protected": True,
    })  # fmt: skip
    image_id = created.json()["id"]
    en, ko = _both(stack, "DELETE", f"/v1/images/{image_id}", owner, 409)
    assert en["code"] == "virtualserver.image.Protected"
    assert f"scp-images image update {image_id} --no-protected" in en["detail"]
    assert f"scp-images image update {image_id} --no-protected" in ko["detail"]

    member = {"member_id": other.account_id}
    en, ko = _both(stack, "POST", f"/v1/images/{image_id}/members", owner, 409, json=member)
    assert en["code"] == "virtualserver.image.NotShared"
    assert f"scp-images image share {image_id}" in en["detail"]

    url = {"name": "from-s3", "os_distro": "ubuntu", "url": "s3://bucket/disk.qcow2"}
    en, ko = _both(stack, "POST", "/v1/images", owner, 400, json=url)
    assert en["code"] == "virtualserver.image.ImportSourceRejected"
    assert "no object storage configured" in en["detail"] and "Upload the file instead" in en["detail"]
    assert "SCP_IMAGES_" not in en["detail"] + ko["detail"]


@pytestmark_sqlite
def test_authentication_errors_name_the_secret_and_the_clock(stack: Stack) -> None:
    owner = stack.new_account("owner")
    wrong = Key(owner.access_key, owner.secret_key + "x", owner.account_id, "x")
    en, ko = _both(stack, "GET", "/v1/images", wrong, 401)
    assert en["code"] == "virtualserver.auth.Unauthenticated"
    assert "SCP_SECRET_KEY" in en["detail"] and "SCP_SECRET_KEY" in ko["detail"]

    url = stack.base_url + "/v1/images"
    stale = int(time.time() * 1000) - 3_600_000
    for language in ("en-US", "ko-KR"):
        headers = sign_request("GET", url, owner.access_key, owner.secret_key, None, stale).as_dict()
        headers.update({"Scp-Api-Version": "virtualserver 1.3", "Accept-Language": language})
        item = _error(stack.http.get(url, headers=headers), 401)
        assert item["code"] == "virtualserver.auth.Unauthenticated"
        assert ("NTP" in item["detail"]) and ("clock" in item["detail"] or HANGUL.search(item["detail"]))


def test_a_refused_upload_records_what_it_read_and_why_in_both_languages(
    stack: Stack, tmp_path: Path
) -> None:
    owner = stack.new_account("owner")
    created = stack.request("POST", "/v1/images", owner, params={"source": "upload"}, json={
        "name": "not-a-disk", "os_distro": "ubuntu",
    })  # fmt: skip
    image_id = created.json()["id"]
    data = b"\x00not a disk" * 300_000  # about 3 MiB: refused at its first bytes
    url = f"{stack.base_url}/v2/images/{image_id}/file"
    headers = sign_request("PUT", url, owner.access_key, owner.secret_key).as_dict()
    headers.update({"Scp-Api-Version": "virtualserver 1.3", "Content-Type": "application/octet-stream"})
    assert stack.http.put(url, content=data, headers=headers).status_code == 400

    status = stack.request("GET", f"/v1/images/{image_id}/import", owner).json()
    assert status["status"] == "failed"
    assert status["bytes_total"] == len(data)
    assert 0 < status["bytes_read"] <= len(data)
    assert status["reason"].startswith("not_qcow2: the data is no disk image in a format this service takes")
    assert status["reason"].endswith(failures.NEXT_STEPS["not_qcow2"])
    korean = stack.request(
        "GET", f"/v1/images/{image_id}/import", owner, headers={"Accept-Language": "ko-KR"}
    ).json()
    assert korean["reason"].startswith("not_qcow2: ") and HANGUL.search(korean["reason"])
    assert korean["bytes_read"] == status["bytes_read"]


def test_an_upload_records_its_bytes_read_and_total(stack: Stack, make_qcow2: Any) -> None:
    owner = stack.new_account("owner")
    path = make_qcow2("disk.qcow2", "16M")
    with stack.client(owner) as client:
        image = client.images.create_from_file(path, "counted", "ubuntu")
        status = client.images.import_status(image.id)
    assert status.bytes_read == path.stat().st_size == status.bytes_total
