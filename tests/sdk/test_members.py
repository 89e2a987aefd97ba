"""Sharing between two accounts through the SDK: add, pending, accept, list, remove."""

from __future__ import annotations

from pathlib import Path

import pytest

from scp_images.client import Client, ConflictError, NotFoundError, PermissionDeniedError
from tests.support.stack import Key, Stack


def test_members_flow_between_two_accounts(
    stack: Stack, client: Client, small_qcow2: Path, tmp_path: Path
) -> None:
    other = stack.new_account("other")
    image = client.images.create_from_file(small_qcow2, "to-share", "ubuntu")
    with stack.client(other) as theirs:
        with pytest.raises(ConflictError) as private:
            client.images.members.add(image.id, other.account_id)
        assert private.value.code == "virtualserver.image.NotShared"
        with pytest.raises(NotFoundError):
            theirs.images.show(image.id)

        client.images.update(image.id, visibility="shared")
        member = client.images.members.add(image.id, other.account_id)
        assert (member.image_id, member.member_id, member.status) == (image.id, other.account_id, "pending")
        with pytest.raises(ConflictError):
            client.images.members.add(image.id, other.account_id)

        assert [i.id for i in theirs.images.pending()] == [image.id]
        assert [i.id for i in theirs.images.pending(image_type="custom")] == [image.id]
        assert theirs.images.pending(image_type="standard") == []
        assert image.id not in {i.id for i in theirs.images.list()}
        with pytest.raises(PermissionDeniedError):
            client.images.members.set_status(image.id, other.account_id, "accepted")

        accepted = theirs.images.members.set_status(image.id, other.account_id, "accepted")
        assert accepted.status == "accepted" and accepted.updated_at >= member.updated_at
        assert theirs.images.pending() == []
        assert image.id in {i.id for i in theirs.images.list()}
        assert [m.member_id for m in client.images.members.list(image.id)] == [other.account_id]
        assert [m.status for m in theirs.images.members.list(image.id)] == ["accepted"]
        assert theirs.images.members.get(image.id, other.account_id).status == "accepted"
        copy = theirs.images.download(image.id, tmp_path / "copy.qcow2")
        assert copy.read_bytes() == small_qcow2.read_bytes()
        with pytest.raises(PermissionDeniedError):
            theirs.images.delete(image.id)
        with pytest.raises(PermissionDeniedError):
            theirs.images.members.remove(image.id, other.account_id)

        client.images.members.remove(image.id, other.account_id)
        assert client.images.members.list(image.id) == []
        with pytest.raises(NotFoundError):
            theirs.images.show(image.id)
        with pytest.raises(NotFoundError):
            theirs.images.members.get(image.id, other.account_id)


def test_a_rejected_share_stays_out_of_the_list(stack: Stack, client: Client, owner: Key) -> None:
    other = stack.new_account("other")
    image = client.images.create("shared-queued", "ubuntu", visibility="shared")
    client.images.members.add(image.id, other.account_id)
    with stack.client(other) as theirs:
        assert theirs.images.members.set_status(image.id, other.account_id, "rejected").status == "rejected"
        assert theirs.images.pending() == []
        assert image.id not in {i.id for i in theirs.images.list()}
        with pytest.raises(NotFoundError):
            theirs.images.members.get(image.id, owner.account_id)


def test_unknown_member_account_is_not_found(client: Client) -> None:
    image = client.images.create("shared", "ubuntu", visibility="shared")
    with pytest.raises(NotFoundError):
        client.images.members.add(image.id, "0" * 32)
    with pytest.raises(NotFoundError):
        client.images.members.get(image.id, "0" * 32)
