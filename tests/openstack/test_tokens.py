"""Keystone tokens: discovery, the token's shape, and every refusal (forged, expired, disabled or deleted
key, denied action), answered in the error form OpenStack's clients parse."""

from __future__ import annotations

import time

import pytest

from scp_images.domain.principal import Action
from scp_images.services.access.auth import Authenticator
from scp_images.services.access.tokens import TokenService
from tests.openstack.conftest import REGION, connect, glance, token
from tests.support.stack import Stack
from tests.support.tools import wait_until

SECRET = "server-only-token-secret"


def _images(stack: Stack, value: str) -> object:
    return stack.http.get(f"{stack.base_url}/image/v2/images", headers={"X-Auth-Token": value})


def _assert_openstack_401(response: object) -> None:
    assert response.status_code == 401, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/json"  # type: ignore[attr-defined]
    assert response.json()["error"]["code"] == 401  # type: ignore[attr-defined]
    assert response.headers["www-authenticate"].startswith('Keystone uri="')  # type: ignore[attr-defined]


def test_discovery_documents(stack: Stack) -> None:
    base = stack.base_url
    root = stack.http.get(f"{base}/identity")
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["links"][0]["href"] == f"{base}/identity/v3/"
    assert stack.http.get(f"{base}/identity/v3").json()["version"]["id"].startswith("v3")
    for path, status in (("/image", 300), ("/image/", 300), ("/image/versions", 200)):
        response = stack.http.get(base + path)
        assert response.status_code == status, path
        current = [v for v in response.json()["versions"] if v["status"] == "CURRENT"]
        assert current[0]["links"][0]["href"] == f"{base}/image/v2/"
    assert stack.http.get(f"{base}/").json() != root.json()  # the root keeps SCP's version document


def test_token_shape_and_catalog(stack: Stack) -> None:
    key = stack.new_account("alpha")
    body = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": key.access_key, "secret": key.secret_key},
            }
        }
    }
    response = stack.http.post(f"{stack.base_url}/identity/v3/auth/tokens", json=body)
    assert response.status_code == 201
    issued = response.json()["token"]
    assert response.headers["X-Subject-Token"]
    assert issued["project"]["id"] == key.account_id
    assert (issued["user"]["id"], issued["user"]["name"]) == (key.access_key, key.user_name)
    assert issued["expires_at"].endswith("Z")
    services = {service["type"]: service for service in issued["catalog"]}
    assert sorted(services) == ["identity", "image"]
    for kind, path in (("image", "/image"), ("identity", "/identity")):
        assert services[kind]["endpoints"] == [
            {
                "id": services[kind]["endpoints"][0]["id"],
                "interface": "public",
                "region_id": REGION,
                "region": REGION,
                "url": f"{stack.base_url}{path}",
            }
        ]


@pytest.mark.parametrize("secret", ["wrong-secret", ""])
def test_a_wrong_secret_gets_no_token(stack: Stack, secret: str) -> None:
    from keystoneauth1.exceptions.http import Unauthorized

    key = stack.new_account("alpha")
    key.secret_key = secret or "x"
    with pytest.raises(Unauthorized) as refused:
        list(connect(stack, key).image.images())
    assert refused.value.http_status == 401
    assert "credential is not valid" in str(refused.value)  # keystoneauth read error.message


def _garbled(mac: str) -> str:
    """The MAC with its last two characters changed: always another text (a fixed "AA" would be the
    same MAC once in 4,096 tokens)."""
    return mac[:-2] + ("BB" if mac.endswith("AA") else "AA")


def test_a_forged_or_garbled_token_is_refused(stack: Stack) -> None:
    key = stack.new_account("alpha")
    good = token(stack, key)
    prefix, payload, mac = good.split(".")
    for bad in (
        "nonsense",
        f"{prefix}.{payload}.{_garbled(mac)}",
        f"{prefix}.{payload[:-2]}.{mac}",
        "x" * 5000,
    ):
        _assert_openstack_401(_images(stack, bad))
    assert _images(stack, good).status_code == 200  # type: ignore[attr-defined]


def test_glanceclient_with_a_refused_token(stack: Stack) -> None:
    from glanceclient import Client
    from glanceclient import exc as glance_errors

    client = Client("2", endpoint=f"{stack.base_url}/image", token="scp1.bogus.token")
    with pytest.raises(glance_errors.HTTPUnauthorized):
        list(client.images.list())


def test_an_expired_token_is_refused(stack: Stack) -> None:
    key = stack.new_account("alpha")
    ttl = stack.settings.token_ttl_seconds
    authenticator = _authenticator(stack)
    # Another process's token service, sharing nothing with the server but the database: its tokens
    # are accepted...
    other = TokenService(authenticator, ttl_seconds=ttl, server_secret=SECRET)
    assert _images(stack, other.issue(key.access_key, key.secret_key, ("x",)).value).status_code == 200  # type: ignore[attr-defined]
    # ...but with a clock one lifetime in the past, a well-signed token that expired a second ago is not.
    past = TokenService(
        authenticator, ttl_seconds=ttl, server_secret=SECRET, now=lambda: time.time() - ttl - 1
    )
    expired = past.issue(key.access_key, key.secret_key, ("application_credential",))
    _assert_openstack_401(_images(stack, expired.value))
    # One minted with a longer life than the server gives is refused as well.
    greedy = TokenService(authenticator, ttl_seconds=ttl * 10, server_secret=SECRET)
    _assert_openstack_401(_images(stack, greedy.issue(key.access_key, key.secret_key, ("x",)).value))


def _authenticator(stack: Stack) -> Authenticator:
    return Authenticator(stack.components.db, window_seconds=300, secrets=stack.components.secrets)


def test_a_token_needs_the_servers_token_secret(stack: Stack) -> None:
    """With SCP_IMAGES_TOKEN_SECRET unknown to the key holder, a token minted from the key pair alone is
    refused."""
    key = stack.new_account("alpha")
    outsider = TokenService(_authenticator(stack), ttl_seconds=600, server_secret="guessed")
    _assert_openstack_401(_images(stack, outsider.issue(key.access_key, key.secret_key, ("x",)).value))


@pytest.mark.parametrize("how", ["disabled", "deleted"])
def test_a_token_dies_with_its_key(stack: Stack, how: str) -> None:
    key = stack.new_account("alpha")
    value = token(stack, key)
    assert _images(stack, value).status_code == 200  # type: ignore[attr-defined]
    if how == "disabled":
        stack.components.accounts.set_key_enabled(key.access_key, False)
    else:
        stack.components.accounts.delete_key(key.access_key)
    # The key cache keeps a key for key_cache_seconds: the refusal comes within that.
    wait_until(lambda: _images(stack, value).status_code == 401, what="the token refused", timeout=10)  # type: ignore[attr-defined]
    _assert_openstack_401(_images(stack, value))


def test_the_keys_deny_list_applies_through_the_action_mapping(stack: Stack) -> None:
    key = stack.new_account("alpha", deny=(Action.LIST_IMAGES, Action.DELETE_IMAGE))
    client = glance(stack, key)
    image = client.images.create(name="kept", disk_format="qcow2", container_format="bare")
    assert client.images.get(image["id"])["name"] == "kept"  # SHOW_IMAGE is allowed
    listed = _images(stack, token(stack, key))
    assert listed.status_code == 403  # type: ignore[attr-defined]
    assert "virtualserver:ListImages" in listed.json()["error"]["message"]  # type: ignore[attr-defined]
    from glanceclient import exc as glance_errors

    with pytest.raises(glance_errors.HTTPForbidden):
        client.images.delete(image["id"])


def _validate(stack: Stack, method: str, caller: str, subject: str | None, query: str = "") -> object:
    headers = {"X-Auth-Token": caller}
    if subject is not None:
        headers["X-Subject-Token"] = subject
    return stack.http.request(method, f"{stack.base_url}/identity/v3/auth/tokens{query}", headers=headers)


def test_a_token_validates_as_issued(stack: Stack) -> None:
    """Keystone's GET/HEAD /v3/auth/tokens: 200 with the token body as issued (HEAD: no body)."""
    key = stack.new_account("alpha")
    body = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": key.access_key, "secret": key.secret_key},
            }
        }
    }
    issued = stack.http.post(f"{stack.base_url}/identity/v3/auth/tokens", json=body)
    caller, subject = token(stack, key), issued.headers["X-Subject-Token"]
    got = _validate(stack, "GET", caller, subject)
    assert got.status_code == 200  # type: ignore[attr-defined]
    assert got.headers["X-Subject-Token"] == subject  # type: ignore[attr-defined]
    assert got.json() == issued.json()  # type: ignore[attr-defined]
    head = _validate(stack, "HEAD", caller, subject)
    assert (head.status_code, head.content, head.headers["X-Subject-Token"]) == (200, b"", subject)  # type: ignore[attr-defined]
    bare = _validate(stack, "GET", caller, subject, "?nocatalog").json()["token"]  # type: ignore[attr-defined]
    assert "catalog" not in bare
    assert bare["expires_at"] == issued.json()["token"]["expires_at"]


def test_token_validation_refusals(stack: Stack) -> None:
    """404 for a subject token that is bad or missing, 401 for a bad caller token (both HEAD and GET),
    403 for another user's token, as Keystone's token_subject policy answers a non-admin."""
    key, other = stack.new_account("alpha"), stack.new_account("beta")
    good = token(stack, key)
    prefix, payload, mac = good.split(".")
    for method in ("GET", "HEAD"):
        for bad in (f"{prefix}.{payload}.{_garbled(mac)}", "nonsense", "", None):
            assert _validate(stack, method, good, bad).status_code == 404, (method, bad)  # type: ignore[attr-defined]
        refused = _validate(stack, method, "scp1.bogus.token", good)
        assert refused.status_code == 401  # type: ignore[attr-defined]
        assert refused.headers["www-authenticate"].startswith('Keystone uri="')  # type: ignore[attr-defined]
    _assert_openstack_401(_validate(stack, "GET", "scp1.bogus.token", good))
    missing_subject = _validate(stack, "GET", good, None)
    assert missing_subject.json()["error"]["code"] == 404  # type: ignore[attr-defined]
    foreign = _validate(stack, "GET", good, token(stack, other))
    assert foreign.status_code == 403  # type: ignore[attr-defined]
    assert "identity:validate_token" in foreign.json()["error"]["message"]  # type: ignore[attr-defined]


def test_projects_as_a_member_sees_them(stack: Stack) -> None:
    """A member reads its own project; another project and the list are 403 (osc then uses the id as
    given); no token is 401."""
    key, other = stack.new_account("alpha"), stack.new_account("beta")
    headers = {"X-Auth-Token": token(stack, key)}
    base = f"{stack.base_url}/identity/v3/projects"
    own = stack.http.get(f"{base}/{key.account_id}", headers=headers)
    assert own.status_code == 200
    assert (own.json()["project"]["id"], own.json()["project"]["domain_id"]) == (key.account_id, "default")
    assert stack.http.get(f"{base}/{other.account_id}", headers=headers).status_code == 403
    assert stack.http.get(base, headers=headers, params={"name": other.account_id}).status_code == 403
    _assert_openstack_401(stack.http.get(f"{base}/{key.account_id}"))


@pytest.mark.parametrize(
    "scope",
    [
        {"domain": {"id": "default"}},
        {"system": {"all": True}},
        {"project": {"id": "0" * 32}},
        {"project": {"name": "someone-else", "domain": {"id": "default"}}},
    ],
)
def test_a_scope_other_than_the_keys_account_gets_no_token(stack: Stack, scope: dict[str, object]) -> None:
    """Keystone answers 401 for a scope the user holds no role on: a key holds one on its account only."""
    key = stack.new_account("scoped")
    credential = {"id": key.access_key, "secret": key.secret_key}
    auth = {"identity": {"methods": ["application_credential"], "application_credential": credential}}
    response = stack.http.post(
        f"{stack.base_url}/identity/v3/auth/tokens", json={"auth": {**auth, "scope": scope}}
    )
    _assert_openstack_401(response)
    own = {"project": {"id": key.account_id}}
    granted = stack.http.post(
        f"{stack.base_url}/identity/v3/auth/tokens", json={"auth": {**auth, "scope": own}}
    )
    assert granted.status_code == 201, granted.text
    assert granted.json()["token"]["project"]["id"] == key.account_id


def _password_auth(user: dict[str, str], project_id: str) -> dict[str, object]:
    identity = {"methods": ["password"], "password": {"user": user}}
    return {"auth": {"identity": identity, "scope": {"project": {"id": project_id}}}}


def _sign_in(stack: Stack, body: dict[str, object]) -> object:
    return stack.http.post(f"{stack.base_url}/identity/v3/auth/tokens", json=body)


def test_the_tokens_user_id_signs_in_again_as_the_same_key(stack: Stack) -> None:
    """Tempest's auth provider re-authenticates with ``password.user.id`` = the ``user.id`` the first token
    gave it (and the project id it gave): the same key and project come back. By name (the access key,
    as the glance CLI sends it) too; Keystone's order when both are sent: the id."""
    key = stack.new_account("again")
    first = stack.http.get(
        f"{stack.base_url}/identity/v3/auth/tokens",
        headers={"X-Auth-Token": token(stack, key), "X-Subject-Token": token(stack, key)},
    ).json()["token"]
    user_id, project_id = first["user"]["id"], first["project"]["id"]
    assert (user_id, project_id) == (key.access_key, key.account_id)
    secret = key.secret_key
    for user in (
        {"id": user_id, "password": secret},
        {"name": key.access_key, "domain": {"id": "default"}, "password": secret},  # type: ignore[dict-item]
        {"id": user_id, "name": "whoever", "password": secret},
    ):
        again = _sign_in(stack, _password_auth(user, project_id))
        assert again.status_code == 201, (user, again.text)  # type: ignore[attr-defined]
        body = again.json()["token"]  # type: ignore[attr-defined]
        assert (body["user"]["id"], body["project"]["id"], body["methods"]) == (
            user_id,
            project_id,
            ["password"],
        )
        assert _images(stack, again.headers["X-Subject-Token"]).status_code == 200  # type: ignore[attr-defined]
    # The key's user name is a label, not an id; the id wins over a right name.
    for user in (
        {"id": key.user_name, "password": secret},
        {"id": "x", "name": key.access_key, "password": secret},
    ):
        _assert_openstack_401(_sign_in(stack, _password_auth(user, project_id)))


def test_a_user_reads_itself_and_no_other(stack: Stack) -> None:
    """``GET /v3/users/{id}`` as Keystone answers a non-admin: its own user (the id its tokens carry),
    403 for another (``identity:get_user``), 401 without a token."""
    key, other = stack.new_account("self"), stack.new_account("other")
    headers = {"X-Auth-Token": token(stack, key)}
    base = f"{stack.base_url}/identity/v3/users"
    own = stack.http.get(f"{base}/{key.access_key}", headers=headers)
    assert own.status_code == 200, own.text
    user = own.json()["user"]
    assert (user["id"], user["name"], user["domain_id"]) == (key.access_key, key.user_name, "default")
    assert user["default_project_id"] == key.account_id
    for foreign in (other.access_key, key.user_name):
        refused = stack.http.get(f"{base}/{foreign}", headers=headers)
        assert refused.status_code == 403
        assert "identity:get_user" in refused.json()["error"]["message"]
    _assert_openstack_401(stack.http.get(f"{base}/{key.access_key}"))


def test_openstacksdk_signs_in_again_by_the_user_id_it_was_given(stack: Stack) -> None:
    """openstacksdk with a password by name (the access key), then, as Tempest does, by the user id and
    project id the first token named: both list images as the same key and read that user."""
    import openstack

    key = stack.new_account("sdk")
    common = {
        "auth_url": f"{stack.base_url}/identity/v3",
        "password": key.secret_key,
        "project_id": key.account_id,
        "region_name": REGION,
    }
    by_name = openstack.connect(
        auth_type="password", username=key.access_key, user_domain_id="default", **common
    )
    list(by_name.image.images())
    assert by_name.current_user_id == key.access_key
    assert by_name.current_project_id == key.account_id
    by_id = openstack.connect(auth_type="password", user_id=by_name.current_user_id, **common)
    image = by_id.image.create_image(
        name="again", disk_format="raw", container_format="bare", allow_duplicates=True
    )
    assert image.owner == key.account_id
    assert [i.id for i in by_name.image.images()] == [image.id]
    assert by_id.identity.get_user(by_id.current_user_id).name == key.user_name


@pytest.mark.parametrize("disables", [1, 2])
def test_a_token_issued_before_a_disable_stays_dead_after_enable(stack: Stack, disables: int) -> None:
    """Keystone keeps revoked tokens revoked: enabling the key again brings back none issued before its
    disable (in any process: the count is the key's row), while new ones work."""
    key = stack.new_account("revoked")
    before = token(stack, key)
    assert _images(stack, before).status_code == 200  # type: ignore[attr-defined]
    accounts = stack.components.accounts
    for _ in range(disables):
        accounts.set_key_enabled(key.access_key, False)
    wait_until(lambda: _images(stack, before).status_code == 401, what="the token refused", timeout=10)  # type: ignore[attr-defined]
    accounts.set_key_enabled(key.access_key, True)

    def a_new_token_works() -> bool:
        response = _sign_in(
            stack, _password_auth({"id": key.access_key, "password": key.secret_key}, key.account_id)
        )
        return (
            response.status_code == 201
            and _images(stack, response.headers["X-Subject-Token"]).status_code == 200
        )  # type: ignore[attr-defined]

    wait_until(a_new_token_works, what="a new token accepted", timeout=10)
    _assert_openstack_401(_images(stack, before))
    validated = _validate(stack, "GET", token(stack, key), before)
    assert validated.status_code == 404  # type: ignore[attr-defined]
