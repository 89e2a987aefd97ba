"""OpenStack clients (openstacksdk, python-glanceclient, the ``glance`` CLI) against a live server."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from scp_images.config import Settings
from tests.support.stack import Key, Stack

REGION = "kr-west1"


def connect(stack: Stack, key: Key) -> Any:
    """openstacksdk exactly as a clouds.yaml entry would configure it: auth URL and key pair only."""
    import openstack

    return openstack.connect(
        auth_type="v3applicationcredential",
        auth_url=f"{stack.base_url}/identity/v3",
        application_credential_id=key.access_key,
        application_credential_secret=key.secret_key,
        region_name=REGION,
    )


def glance(stack: Stack, key: Key) -> Any:
    """python-glanceclient's library on a keystoneauth application-credential session."""
    from glanceclient import Client
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.ApplicationCredential(
        auth_url=f"{stack.base_url}/identity/v3",
        application_credential_id=key.access_key,
        application_credential_secret=key.secret_key,
    )
    return Client("2", session=session.Session(auth=auth))


def token(stack: Stack, key: Key) -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": key.access_key, "secret": key.secret_key},
            }
        }
    }
    response = stack.http.post(f"{stack.base_url}/identity/v3/auth/tokens", json=body)
    assert response.status_code == 201, response.text
    return str(response.headers["X-Subject-Token"])


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The server has a token secret of its own, as a deployment should (docs/security.md)."""
    return settings.model_copy(update={"token_secret": SecretStr("server-only-token-secret")})


@pytest.fixture
def qcow2_bytes(make_qcow2: Callable[..., Path]) -> bytes:
    return make_qcow2("os.qcow2", "32M").read_bytes()
