"""``Client()`` reads the settings the CLI reads, through the one function both use: explicit arguments
over the environment, the environment over ``~/.scpconf``; checked against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scp_images.client import AuthenticationError, Client, CredentialsError, NotFoundError
from tests.support.stack import Stack

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
VARIABLES = ("SCP_ENDPOINT", "SCP_ACCESS_KEY", "SCP_SECRET_KEY", "SCP_ACCOUNT_ID", "SCP_LANGUAGE")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    (path / ".scpconf").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(path))
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return path


def _write(home: Path, config: dict[str, str], credentials: dict[str, str]) -> None:
    (home / ".scpconf" / "config.json").write_text(json.dumps(config))
    (home / ".scpconf" / "credentials.json").write_text(json.dumps(credentials))


def test_client_without_arguments_reads_the_files_then_the_environment_then_arguments(
    stack: Stack, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = stack.new_account("owner")
    with pytest.raises(CredentialsError) as missing:
        Client()
    assert missing.value.missing == ("endpoint", "access_key", "secret_key")

    _write(
        home,
        {"endpoint": stack.base_url, "language": "ko-KR"},
        {"access-key": owner.access_key, "secret-key": owner.secret_key},
    )
    with Client() as client:  # the files alone
        assert client.images.list() == []
        with pytest.raises(NotFoundError) as korean:
            client.images.show("00000000-0000-4000-8000-000000000000")
    assert re.search(r"[\uac00-\ud7a3]", korean.value.detail)

    # the environment wins over the files, and an argument over the environment
    monkeypatch.setenv("SCP_SECRET_KEY", owner.secret_key + "x")
    monkeypatch.setenv("SCP_LANGUAGE", "en-US")
    with Client() as client, pytest.raises(AuthenticationError) as refused:
        client.images.list()
    assert "SCP_SECRET_KEY" in refused.value.detail  # in English, as SCP_LANGUAGE says
    with Client(secret_key=owner.secret_key) as client:
        assert client.images.list() == []
        assert client.language == "en-US" and client.endpoint == stack.base_url

    # a broken file matters only when a value it could hold is missing
    (home / ".scpconf" / "config.json").write_text("{not json")
    with Client(stack.base_url, owner.access_key, owner.secret_key) as client:
        assert client.images.list() == []
    with pytest.raises(CredentialsError) as broken:
        Client()
    assert broken.value.path == home / ".scpconf" / "config.json"


def test_the_cli_reads_the_same_files(stack: Stack, home: Path) -> None:
    owner = stack.new_account("owner")
    keys = {"access_key": owner.access_key, "secret_key": owner.secret_key}
    _write(home, {"endpoint": stack.base_url}, keys)
    with Client() as client:
        image = client.images.create("from-the-files", "ubuntu")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCP_")}  # HOME is the temp one

    listed = subprocess.run(
        [sys.executable, "-m", "scp_images.cli", "image", "list", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert [i["id"] for i in json.loads(listed.stdout)["images"]] == [image.id]
