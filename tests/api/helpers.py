"""Helpers for API tests: the admin CLI as a real subprocess and the expected figures of a file."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from scp_images.config import Settings
from tests.support.tools import wait_until

SCP_IMAGES = [sys.executable, "-m", "scp_images.cli"]


def cli_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["SCP_IMAGES_DATA_DIR"] = str(settings.data_dir)
    env["SCP_IMAGES_DATABASE_URL"] = settings.resolved_database_url()
    if settings.blob_url:
        env["SCP_IMAGES_BLOB_URL"] = settings.blob_url
    s3 = {
        "SCP_IMAGES_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "SCP_IMAGES_S3_ACCESS_KEY_ID": settings.s3_access_key_id,
        "SCP_IMAGES_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key,
        "SCP_IMAGES_S3_REGION": settings.s3_region,
    }
    env.update({name: value for name, value in s3.items() if value})
    return env


def admin(settings: Settings, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*SCP_IMAGES, "admin", *args], env=cli_env(settings), capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"admin {' '.join(args)} failed ({result.returncode}): {result.stderr}{result.stdout}"
        )
    return result


def admin_json(settings: Settings, *args: str) -> dict[str, Any]:
    return json.loads(admin(settings, *args, "--json").stdout)  # type: ignore[no-any-return]


def import_image(
    settings: Settings, path: Path, owner: str, *extra: str, name: str = "test-image"
) -> dict[str, Any]:
    return admin_json(
        settings,
        "image",
        "import",
        "--file",
        str(path),
        "--name",
        name,
        "--os-distro",
        "ubuntu",
        "--owner",
        owner,
        *extra,
    )


def file_digests(path: Path) -> tuple[str, str, int]:
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    data = path.read_bytes()
    md5.update(data)
    sha512.update(data)
    return md5.hexdigest(), sha512.hexdigest(), len(data)


def publish(stack: Any, path: Path, owner: str, visibility: str = "private", **extra: Any) -> dict[str, Any]:
    """The operator import in-process (fast); tests of the CLI itself use ``import_image``."""
    from scp_images.domain.image import Visibility
    from scp_images.domain.versions import V1_3
    from scp_images.http.schemas import image_body
    from scp_images.services.data.ingest import PublishRequest

    request = PublishRequest(
        str(path), extra.pop("name", "test-image"), "ubuntu", owner, Visibility(visibility), **extra
    )
    return image_body(stack.components.ingest.publish_file(request), V1_3)


def wait_status(stack: Any, key: Any, image_id: str, *status: str, timeout: float = 60) -> dict[str, Any]:
    """The image as SCP's Show answers once its status is one of ``status``."""

    def shown() -> dict[str, Any]:
        return stack.request("GET", f"/v1/images/{image_id}", key).json()  # type: ignore[no-any-return]

    what = f"image {image_id} to become {' or '.join(status)}"
    return wait_until(shown, accept=lambda body: body["status"] in status, what=what, timeout=timeout)
