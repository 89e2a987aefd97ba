"""gophercloud (Go: Terraform's OpenStack provider, Packer's openstack builder) cannot run here, so these
tests send its requests and parse our answers by its rules, over HTTP: the auth URL handling of
``openstack.NewClient``/``utils.ChooseVersion``, the token and catalog of ``identity/v3/tokens``, the
endpoint version check of ``endpointSupportsVersion``, the ``images``/``imagedata``/``members`` request
shapes and status codes, and ``images.nextPageURL``. Each test's docstring names the behaviour."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests.openstack.conftest import REGION, md5
from tests.support.stack import Key, Stack

# Go's time.Time.UnmarshalJSON: RFC 3339, fractional seconds optional, Z or a numeric offset.
_GO_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# utils.ParseVersion and utils.ParseStatus (discovery.go).
_GO_VERSION = re.compile(r"^v?([0-9]+)(\.([0-9]+))?$")
_GO_STATUSES = {"CURRENT", "STABLE", "SUPPORTED", "DEPRECATED", ""}
# utils.BaseEndpoint: the path is cut at the first "v<digits>".
_GO_VERSION_IN_PATH = re.compile(r"v[0-9.]+/?")
_PATCH = "application/openstack-images-v2.1-json-patch"


def _normalize(url: str) -> str:
    """gophercloud.NormalizeURL: a trailing slash."""
    return url if url.endswith("/") else url + "/"


def _base_endpoint(url: str) -> str:
    parts = urlsplit(url)
    found = _GO_VERSION_IN_PATH.search(parts.path)
    path = parts.path[: found.start()] if found else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _ok(response: httpx.Response, *codes: int) -> httpx.Response:
    assert response.status_code in codes, (response.request.method, response.request.url, response.text)
    return response


def _go_time(value: Any) -> None:
    assert value is None or (isinstance(value, str) and _GO_RFC3339.match(value)), value


def _check_go_image(image: dict[str, Any]) -> None:
    """images.Image.UnmarshalJSON: typed fields must decode (null is a no-op in Go), size is null or a
    number, the rest go to Properties as any JSON."""
    for name in ("id", "name", "status", "container_format", "disk_format", "owner", "visibility"):
        assert image.get(name) is None or isinstance(image[name], str), name
    for name in ("checksum", "file", "schema"):
        assert image.get(name) is None or isinstance(image[name], str), name
    for name in ("min_disk", "min_ram", "virtual_size"):
        assert image.get(name) is None or type(image[name]) is int, name
    for name in ("protected", "os_hidden"):
        assert image.get(name) is None or isinstance(image[name], bool), name
    assert image.get("size") is None or type(image["size"]) in (int, float)
    assert image.get("tags") is None or all(isinstance(t, str) for t in image["tags"])
    assert image.get("metadata") is None or all(isinstance(v, str) for v in image["metadata"].values())
    assert image.get("properties") is None or isinstance(image["properties"], str)
    _go_time(image.get("created_at"))
    _go_time(image.get("updated_at"))


class GoClient:
    """The requests a gophercloud ProviderClient sends after ``openstack.AuthenticatedClient``."""

    def __init__(self, http: httpx.Client, token: str, image_endpoint: str) -> None:
        self.http, self.token = http, token
        self.resource_base = image_endpoint + "v2/"  # NewImageV2

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Auth-Token": self.token, "User-Agent": "gophercloud/v2", **kwargs.pop("headers", {})}
        return self.http.request(method, self.resource_base + path, headers=headers, **kwargs)

    def json(self, method: str, path: str, body: Any, *codes: int) -> Any:
        headers = {"Accept": "application/json"}
        response = self.request(method, path, json=body, headers=headers)
        return _ok(response, *codes).json()


def authenticate(stack: Stack, key: Key, auth_url: str) -> tuple[str, dict[str, Any], str]:
    """openstack.Authenticate with an application credential: (token, token body, image endpoint)."""
    http = stack.http
    identity_endpoint = _normalize(auth_url)
    if identity_endpoint.endswith("/v3/"):  # ChooseVersion: a recognised suffix needs no discovery
        v3 = identity_endpoint
    else:
        base = _normalize(_base_endpoint(auth_url))
        values = _ok(http.get(base, headers={"Accept": "application/json"}), 200, 300).json()
        chosen = [
            _normalize(link["href"])
            for value in values["versions"]["values"]
            if "v3" in value["id"] and value["status"].lower() in ("current", "supported", "stable")
            for link in value["links"]
            if link["rel"] == "self"
        ]
        v3 = chosen[0]
    body = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": key.access_key, "secret": key.secret_key},
            }
        }
    }
    created = _ok(http.post(v3 + "auth/tokens", json=body), 201)
    token = created.headers["X-Subject-Token"]
    issued = created.json()["token"]
    _go_time(issued["expires_at"])
    return token, issued, _image_endpoint(stack, token, issued)


def _image_endpoint(stack: Stack, token: str, issued: dict[str, Any]) -> str:
    """V3Endpoint for type image, interface public, our region; then endpointSupportsVersion(2): the
    unversioned endpoint's discovery document must list a parseable major version 2."""
    urls = [
        _normalize(endpoint["url"])
        for entry in issued["catalog"]
        if entry["type"] == "image"
        for endpoint in entry["endpoints"]
        if endpoint["interface"] == "public" and REGION in (endpoint["region"], endpoint["region_id"])
    ]
    assert urls, issued["catalog"]
    found = _ok(stack.http.get(urls[0], headers={"X-Auth-Token": token}), 200, 300).json()
    versions = found["versions"] if isinstance(found["versions"], list) else found["versions"]["values"]
    majors = set()
    for version in versions:
        match = _GO_VERSION.match(version["id"])
        assert match, version["id"]  # any unparseable id fails the whole lookup
        assert version["status"].upper() in _GO_STATUSES, version["status"]
        majors.add(int(match.group(1)))
    assert 2 in majors
    return urls[0]


def test_gophercloud_auth_with_and_without_a_version_in_the_auth_url(stack: Stack) -> None:
    """NewClient + ChooseVersion: ``…/identity/v3`` is used as is; ``…/identity`` is discovered at
    ``…/identity/`` (gophercloud adds the slash) and the v3 ``self`` link is taken."""
    key = stack.new_account("alpha")
    for auth_url in (f"{stack.base_url}/identity/v3", f"{stack.base_url}/identity"):
        _, issued, image_endpoint = authenticate(stack, key, auth_url)
        assert image_endpoint == f"{stack.base_url}/image/"
        assert issued["project"]["id"] == key.account_id
        assert issued["application_credential"]["id"] == key.access_key


def test_gophercloud_passthrough_token_and_validate(stack: Stack) -> None:
    """v3auth with a TokenID and no scope calls tokens.Get (GET /v3/auth/tokens, X-Auth-Token and
    X-Subject-Token both the token, OkCodes 200/203) and reads the catalog from it; tokens.Validate is a
    HEAD whose 200 or 204 means valid and 404 invalid."""
    key = stack.new_account("alpha")
    token, issued, _ = authenticate(stack, key, f"{stack.base_url}/identity/v3")
    url = f"{stack.base_url}/identity/v3/auth/tokens"
    headers = {"X-Auth-Token": token, "X-Subject-Token": token, "Accept": "application/json"}
    got = _ok(stack.http.get(url, headers=headers), 200, 203)
    assert got.headers["X-Subject-Token"] == token
    assert got.json()["token"] == issued
    assert _image_endpoint(stack, token, got.json()["token"]) == f"{stack.base_url}/image/"
    assert stack.http.head(url, headers=headers).status_code in (200, 204)
    invalid = stack.http.head(url, headers={**headers, "X-Subject-Token": token[:-3] + "AAA"})
    assert invalid.status_code == 404


def test_gophercloud_identity_client_from_the_catalog(stack: Stack) -> None:
    """NewIdentityV3 with endpoint options (Terraform's IdentityV3Client, used by the
    openstack_identity_auth_scope_v3 data source) takes the public ``identity`` endpoint of the region
    from the catalog, cuts it with BaseEndpoint and appends ``v3/``; tokens.Get there reads the project."""
    key = stack.new_account("alpha")
    token, issued, _ = authenticate(stack, key, f"{stack.base_url}/identity/v3")
    urls = [
        _normalize(endpoint["url"])
        for entry in issued["catalog"]
        if entry["type"] == "identity"
        for endpoint in entry["endpoints"]
        if endpoint["interface"] == "public" and REGION in (endpoint["region"], endpoint["region_id"])
    ]
    assert urls, "no identity endpoint: gophercloud answers ErrEndpointNotFound"
    v3 = _normalize(_base_endpoint(urls[0])) + "v3/"
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    scope = _ok(stack.http.get(v3 + "auth/tokens", headers=headers), 200, 203).json()["token"]
    assert (scope["project"]["id"], scope["user"]["name"]) == (key.account_id, key.user_name)


def _chunks(data: bytes) -> Iterator[bytes]:
    """An io.Reader body: Go's net/http sends it chunked, without Content-Length."""
    for start in range(0, len(data), 1 << 20):
        yield data[start : start + (1 << 20)]


def test_gophercloud_image_lifecycle(stack: Stack, qcow2_bytes: bytes) -> None:
    """images.Create (201, Terraform's default visibility private, properties as top-level strings),
    imagedata.Upload (PUT octet-stream, chunked, 204), images.Update (PATCH json-patch with replace/add/
    remove, 200), imagedata.Download, images.Delete (202/204); every answer decodes as images.Image."""
    key = stack.new_account("alpha")
    token, _, endpoint = authenticate(stack, key, f"{stack.base_url}/identity/v3")
    go = GoClient(stack.http, token, endpoint)
    create = {
        "name": "tf-image",
        "container_format": "bare",
        "disk_format": "qcow2",
        "visibility": "private",
        "tags": ["tf"],
        "min_disk": 1,
        "os_distro": "ubuntu",
        "x_team": "infra",
    }
    image = go.json("POST", "images", create, 201)
    _check_go_image(image)
    assert (image["status"], image["visibility"], image["x_team"]) == ("queued", "private", "infra")
    headers = {"Content-Type": "application/octet-stream"}
    upload = go.request("PUT", f"images/{image['id']}/file", content=_chunks(qcow2_bytes), headers=headers)
    _ok(upload, 204)
    shown = _ok(go.request("GET", f"images/{image['id']}"), 200).json()
    _check_go_image(shown)
    assert (shown["status"], shown["checksum"]) == ("active", md5(qcow2_bytes))
    ops = [
        {"op": "replace", "path": "/name", "value": "tf-renamed"},
        {"op": "replace", "path": "/tags", "value": ["tf", "blue"]},
        {"op": "replace", "path": "/min_disk", "value": 2},
        {"op": "replace", "path": "/os_hidden", "value": True},
        {"op": "add", "path": "/x_owner", "value": "ops"},
        {"op": "add", "path": "/x_team", "value": "platform"},  # add over an existing member replaces
        {"op": "remove", "path": "/os_distro"},
    ]
    patched = go.request("PATCH", f"images/{image['id']}", json=ops, headers={"Content-Type": _PATCH})
    updated = _ok(patched, 200).json()
    _check_go_image(updated)
    assert (updated["name"], updated["tags"], updated["min_disk"], updated["os_hidden"]) == (
        "tf-renamed",
        ["tf", "blue"],
        2,
        True,
    )
    assert (updated["x_owner"], updated["x_team"], "os_distro" in updated) == ("ops", "platform", False)
    assert _ok(go.request("GET", f"images/{image['id']}/file"), 200).content == qcow2_bytes
    _ok(go.request("DELETE", f"images/{image['id']}"), 202, 204)
    assert go.request("GET", f"images/{image['id']}").status_code == 404


def test_gophercloud_members(stack: Stack) -> None:
    """members.Create (POST {"member"}, 200), members.Update (PUT {"status"}, 200), members.List (a single
    page {"members": […]}), members.Get, members.Delete (204); times decode as Go's time.Time."""
    owner, other = stack.new_account("owner"), stack.new_account("other")
    mine = GoClient(stack.http, *_token_and_endpoint(stack, owner))
    theirs = GoClient(stack.http, *_token_and_endpoint(stack, other))
    image = mine.json("POST", "images", {"name": "shared", "visibility": "shared"}, 201)
    path = f"images/{image['id']}/members"
    member = mine.json("POST", path, {"member": other.account_id}, 200)
    assert (member["member_id"], member["image_id"], member["status"]) == (
        other.account_id,
        image["id"],
        "pending",
    )
    accepted = theirs.json("PUT", f"{path}/{other.account_id}", {"status": "accepted"}, 200)
    assert accepted["status"] == "accepted"
    listed = _ok(mine.request("GET", path), 200).json()["members"]
    assert [(m["member_id"], m["status"]) for m in listed] == [(other.account_id, "accepted")]
    for value in (*listed, accepted):
        _go_time(value["created_at"])
        _go_time(value["updated_at"])
    assert _ok(theirs.request("GET", f"{path}/{other.account_id}"), 200).json()["status"] == "accepted"
    _ok(mine.request("DELETE", f"{path}/{other.account_id}"), 204)
    assert _ok(mine.request("GET", path), 200).json()["members"] == []


def _token_and_endpoint(stack: Stack, key: Key) -> tuple[str, str]:
    token, _, endpoint = authenticate(stack, key, f"{stack.base_url}/identity/v3")
    return token, endpoint


def test_gophercloud_follows_next_links(stack: Stack) -> None:
    """ImagePage.NextPageURL + images.nextPageURL: the page URL is cut at its ``v2`` and the relative
    ``next`` path (with its query) appended; paging stops at an empty page or one without ``next``."""
    key = stack.new_account("alpha")
    go = GoClient(stack.http, *_token_and_endpoint(stack, key))
    made = [go.json("POST", "images", {"name": f"page-{i}"}, 201)["id"] for i in range(5)]
    url = go.resource_base + "images?limit=2&sort=name:asc"
    seen: list[str] = []
    for _ in range(10):
        page = _ok(stack.http.get(url, headers={"X-Auth-Token": go.token}), 200).json()
        for image in page["images"]:
            _check_go_image(image)
        seen += [image["id"] for image in page["images"]]
        if not page["images"] or not page.get("next"):
            break
        nxt = urlsplit(page["next"])
        url = _normalize(_base_endpoint(url)) + nxt.path.lstrip("/") + (f"?{nxt.query}" if nxt.query else "")
    assert seen == made
