"""The request pipeline's table of hot reads: every hot path reaches its handler, everything else the
FastAPI application, and the answers (status, headers, body, metrics) are the ones the FastAPI routes
give for the same request. In-process (ASGI), no socket."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_images.app import Components, build_components, create_app, server_metrics
from scp_images.config import Settings
from scp_images.domain.image import ImageSpec, Visibility
from scp_images.http.pipeline import HotRoute, Pipeline, RouteTable
from scp_images.signing import sign_request
from scp_images.store.sql import images as image_store

BASE = "http://testserver"
_REQUEST_ID = re.compile(r"req-[0-9a-f]{32}")
_NOT_COMPARED = {"x-request-id", "x-openstack-request-id", "content-length"}


# One thread of its own for the app's event loops: a worker that ran the console's tests before holds
# Playwright's loop running in the main thread, where asyncio.run() refuses to start another.
_LOOP_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-test")


def _run(coroutine: Any) -> Any:
    return _LOOP_THREAD.submit(asyncio.run, coroutine).result()


class Service:
    """The app and the two ways to reach it: through the pipeline's table, and with the table empty."""

    def __init__(self, tmp: Path) -> None:
        settings = Settings(data_dir=tmp / "data", database_url=None, blob_url=None, run_import_jobs=False)
        self.parts: Components = build_components(settings, metrics=server_metrics())
        self.app = create_app(settings, components=self.parts)
        account = self.parts.accounts.create_account("hot")
        self.key = self.parts.accounts.create_key(account.id, "hot@example.com")
        principal = self.key.principal()
        new = ImageSpec(name="hot-image", os_distro="ubuntu", visibility=Visibility.PRIVATE)
        self.image_id = self.parts.images.create(principal, new).id
        self.token = self._token()
        self.with_data = self.parts.images.create(principal, replace(new, disk_format="raw")).id
        upload = _run(
            _send(
                self.app,
                "PUT",
                f"/image/v2/images/{self.with_data}/file",
                {"X-Auth-Token": self.token, "Content-Type": "application/octet-stream"},
                content=b"0123456789" * 1000,
            )
        )
        assert upload.status_code == 204, upload.text

    def pipeline(self) -> Pipeline:
        return self.app.pipeline  # type: ignore[no-any-return,attr-defined]

    def through(self, hot: bool) -> Any:
        pipeline = self.pipeline() if hot else self.pipeline().without_hot_routes()
        app = self.app

        async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scope["app"] = app  # what the application's entry sets before the pipeline
            await pipeline(scope, receive, send)

        return asgi

    def _token(self) -> str:
        body = {
            "auth": {
                "identity": {
                    "methods": ["application_credential"],
                    "application_credential": {"id": self.key.access_key, "secret": self.key.secret_key},
                }
            }
        }
        answer = _run(_send(self.app, "POST", "/identity/v3/auth/tokens", {}, body))
        assert answer.status_code == 201, answer.text
        return answer.headers["X-Subject-Token"]

    def signed(self, method: str, path: str) -> dict[str, str]:
        headers = sign_request(method, BASE + path, self.key.access_key, self.key.secret_key).as_dict()
        return {**headers, "Scp-Api-Version": "virtualserver 1.0"}


async def _send(
    app: Any, method: str, path: str, headers: Any, json: Any = None, content: bytes | None = None
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        return await client.request(method, path, headers=headers, json=json, content=content)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    made = Service(tmp_path_factory.mktemp("hot"))
    yield made
    made.parts.close()


def _answer(response: httpx.Response) -> tuple[int, list[tuple[str, str]], str]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in _NOT_COMPARED)
    return response.status_code, headers, _REQUEST_ID.sub("req-X", response.text)


def _requests(service: Service) -> Iterator[tuple[str, str, Any]]:
    """(method, path, headers): the hot paths, their errors, and the odd shapes around them."""
    image = service.image_id
    token = {"X-Auth-Token": service.token}
    for path in (
        f"/v1/images/{image}",
        "/v1/images/00000000-0000-4000-8000-000000000000",
        "/v1/images/not-an-id",
        "/v1/images/%2e%2e",
        f"/v1/images/{image[:8]}%2D{image[9:]}",
        "/v1/images",
        "/v1/images?limit=1",
        "/v1/images?limit=nope",
        "/v1/images/",
        "/v1/images/a/b",
        "//v1/images/x",
        f"/v1/images/{image}/",
        "/v1/imagesx",
        f"/v2/images/{image}/file",
        f"/v2/images/{service.with_data}/file",
        "/v2/images/not-an-id/file",
        "/v2/images//file",
        f"/v2/images/{image}/files",
        "/v2/images/file",
    ):
        yield "GET", path, service.signed("GET", path)
    path = f"/v2/images/{service.with_data}/file"
    yield "GET", path, {**service.signed("GET", path), "Range": "bytes=10-19"}
    yield "GET", path, {**service.signed("GET", path), "Range": "bytes=99999-"}
    path = f"/v1/images/{image}"
    yield "GET", path, {}
    yield "GET", path, {**service.signed("GET", path), "Accept-Language": "ko-KR"}
    repeated = [*service.signed("GET", path).items(), ("Scp-Signature", "again")]
    yield "GET", path, repeated
    yield "POST", path, service.signed("POST", path)
    yield "HEAD", path, service.signed("HEAD", path)
    for path in (
        f"/image/v2/images/{image}",
        "/image/v2/images/00000000-0000-4000-8000-000000000000",
        "/image/v2/images/not-an-id",
        "/image/v2/images",
        "/image/v2/images?limit=1&sort_key=name",
        "/image/v2/images?limit=nope",
        "/image/v2/images/",
        "/image/v2/images/a/b",
        f"/image/v2/images/{image}/file",
        f"/image/v2/images/{service.with_data}/file",
        "/image/v2/images/not-an-id/file",
        "/image/v2/images//file",
    ):
        yield "GET", path, token
    yield "GET", f"/image/v2/images/{service.with_data}/file", {**token, "Range": "bytes=0-4"}
    path = f"/image/v2/images/{image}"
    yield "GET", path, {}
    yield "GET", path, [("X-Auth-Token", service.token), ("X-Auth-Token", service.token)]
    yield "GET", path, {"X-Auth-Token": "made-up", "Accept-Language": "ko"}
    yield "DELETE", "/image/v2/images", token


def _request_counts(service: Service) -> dict[tuple[str, ...], float]:
    registry = service.app.state.metrics_registry
    counts = {}
    for metric in registry.collect():
        if metric.name == "scp_images_http_requests":
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    counts[tuple(sorted(sample.labels.items()))] = sample.value
    return counts  # type: ignore[return-value]


def _counted(service: Service, app: Any, method: str, path: str, headers: Any) -> tuple[Any, Any]:
    before = _request_counts(service)
    answer = _run(_send(app, method, path, headers))
    after = _request_counts(service)
    grown = {labels for labels, value in after.items() if value != before.get(labels, 0)}
    return _answer(answer), grown


def test_the_hot_paths_answer_as_the_fastapi_routes_do(service: Service) -> None:
    hot, fallback = service.through(hot=True), service.through(hot=False)
    statuses = set()
    for method, path, headers in _requests(service):
        # Signed anew for each side: the same signature twice is what the replay guard may refuse.
        again = headers
        if isinstance(headers, dict) and "Scp-Signature" in headers:
            again = {**headers, **service.signed(method, path)}
        expected = _counted(service, fallback, method, path, again)
        assert _counted(service, hot, method, path, headers) == expected, (method, path)
        statuses.add(expected[0][0])
    assert statuses == {200, 204, 206, 400, 401, 404, 405, 409, 416}


def test_the_show_is_one_answer_with_the_request_id_in_header_and_body(service: Service) -> None:
    answer = _run(_send(service.app, "GET", "/v1/images/not-an-id", service.signed("GET", "/v1/images/x")))
    request_id = answer.headers["x-request-id"]
    assert _REQUEST_ID.fullmatch(request_id)
    assert answer.json()["errors"][0]["request_id"] == request_id
    v2 = _run(_send(service.app, "GET", f"/image/v2/images/{service.image_id}", {}))
    assert v2.headers["x-openstack-request-id"] == v2.headers["x-request-id"]


def test_the_table_resolves_one_segment_below_a_prefix_only() -> None:
    async def handler(request: Any, parameter: str) -> Any:
        raise AssertionError("not called")

    item, collection = HotRoute(handler, "/v1/images/{image_id}"), HotRoute(handler, "/v1/images")
    file = HotRoute(handler, "/v1/images/{image_id}/file")
    table = RouteTable()
    table.add_collection("/v1/images", collection)
    table.add_item("/v1/images/", item)
    table.add_item("/v1/images/", file, last="file")
    assert table.resolve("GET", "/v1/images/abc/file") == (file, "abc")
    assert table.resolve("GET", "/v1/images/file") == (item, "file")
    for path in ("/v1/images//file", "/v1/images/a/b/file", "/v1/images/abc/files", "/v1/file", "/file"):
        assert table.resolve("GET", path) is None, path
    assert table.resolve("GET", "/v1/images") == (collection, "")
    assert table.resolve("GET", "/v1/images/abc") == (item, "abc")
    assert table.resolve("GET", "/v1/images/a b%") == (item, "a b%")
    for path in ("/v1/images/", "/v1/images/a/b", "//v1/images/x", "/v1/imagesx", "/v1/images/x/", "/v1"):
        assert table.resolve("GET", path) is None, path
    for method in ("HEAD", "POST", "get"):
        assert table.resolve(method, "/v1/images/abc") is None


def test_a_crash_in_a_hot_read_is_the_500_envelope_with_the_request_id(service: Service) -> None:
    async def crash(request: Any, parameter: str) -> Any:
        raise RuntimeError("boom")

    pipeline = service.pipeline()
    pipeline.routes.add_item("/v1/crash/", HotRoute(crash, "/v1/crash/{id}"))

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["app"] = service.app
        await pipeline(scope, receive, send)

    answer = _run(_send(asgi, "GET", "/v1/crash/x", {"Accept-Language": "ko-KR"}))
    assert answer.status_code == 500
    error = answer.json()["errors"][0]
    assert (error["code"], error["request_id"]) == (
        "virtualserver.InternalError",
        answer.headers["x-request-id"],
    )
    assert error["detail"] == "내부 오류가 발생했습니다."


def test_the_shows_row_read_reads_what_the_sqlalchemy_read_does(service: Service) -> None:
    """The show's image row comes from the DBAPI cursor on SQLite: the same Image (times, enums, JSON
    tags and properties) and membership as the SQLAlchemy query in a transaction."""
    db, owner = service.parts.db, service.key.account_id
    with db.transaction() as conn:
        image_store.update_image(conn, service.image_id, {"tags": ("a", "b"), "properties": {"k": "v"}})
    for account in (owner, "someone-else"):
        with db.read() as conn:
            expected = image_store.get_image_for(conn, service.image_id, account)
        assert image_store.read_image_for(db, service.image_id, account) == expected
    assert expected[0] is not None and expected[0].tags == ("a", "b")
    assert image_store.read_image_for(db, "00000000-0000-4000-8000-000000000000", owner) == (None, None)


def test_the_apps_table_holds_the_hot_reads_of_both_edges(service: Service) -> None:
    routes = service.pipeline().routes
    expected = {
        "/v1/images": "/v1/images",
        "/v1/images/x": "/v1/images/{image_id}",
        "/v2/images/x/file": "/v2/images/{image_id}/file",
        "/image/v2/images": "/v2/images",
        "/image/v2/images/x": "/v2/images/{image_id}",
        "/image/v2/images/x/file": "/v2/images/{image}/file",
    }
    for path, template in expected.items():
        found = routes.resolve("GET", path)
        assert found is not None and found[0].template == template, path
    for path in ("/", "/v1/images/x/import", "/v1/pending-images", "/image/v2/schemas/image", "/identity/v3"):
        assert routes.resolve("GET", path) is None, path
