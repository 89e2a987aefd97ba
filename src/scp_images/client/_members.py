"""``client.images.members``: who an image is shared with, and each member's answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scp_images.client._models import Member
from scp_images.client._params import image_path

if TYPE_CHECKING:
    from scp_images.client._client import Client

MEMBER_STATUSES = ("pending", "accepted", "rejected")


class Members:
    """The owner adds and removes members (the image must be ``shared``); a member answers for itself
    with ``set_status(image_id, its_account_id, "accepted" | "rejected")``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def add(self, image_id: str, member_id: str) -> Member:
        """Share the image with account ``member_id``; the member starts ``pending``."""
        response = self._client.request(
            "POST", image_path(image_id, "members"), json={"member_id": member_id}
        )
        return Member.from_dict(response.json())

    def list(self, image_id: str) -> list[Member]:
        """The owner sees every member; a member sees only itself."""
        response = self._client.request("GET", image_path(image_id, "members"))
        return [Member.from_dict(item) for item in response.json()["members"]]

    def get(self, image_id: str, member_id: str) -> Member:
        response = self._client.request("GET", image_path(image_id, "members", member_id))
        return Member.from_dict(response.json())

    def set_status(self, image_id: str, member_id: str, status: str) -> Member:
        """``status`` is ``pending``, ``accepted`` or ``rejected``; only the member itself may set it."""
        response = self._client.request(
            "PUT", image_path(image_id, "members", member_id), json={"status": status}
        )
        return Member.from_dict(response.json())

    def remove(self, image_id: str, member_id: str) -> None:
        self._client.request("DELETE", image_path(image_id, "members", member_id))
