"""Stateful property test: random create / share / add member / accept / reject / change visibility /
remove / delete by three accounts through the HTTP API, checked after every step against a small model:
no account can see, list, download or change what it should not, and each can do all it should."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.api.helpers import publish
from tests.support.stack import Key, Stack


@dataclass
class ModelImage:
    owner: int
    visibility: str = "private"
    members: dict[int, str] = field(default_factory=dict)

    def visible_to(self, who: int) -> bool:
        return who == self.owner or (self.visibility == "shared" and who in self.members)

    def listed_for(self, who: int) -> bool:
        return who == self.owner or (self.visibility == "shared" and self.members.get(who) == "accepted")

    def pending_for(self, who: int) -> bool:
        return self.visibility == "shared" and self.members.get(who) == "pending"


def expect_owner_action(image: ModelImage, who: int) -> int | None:
    """404 when the caller cannot see the image, 403 when it sees but does not own it, None when allowed."""
    if not image.visible_to(who):
        return 404
    return None if who == image.owner else 403


# -1 stands for "the image's owner": random actors alone would rarely build the long owner-made
# sequences (share, add a member, make private again) behind the interesting states.
actors = st.one_of(st.just(-1), st.integers(0, 2))


class SharingMachine(RuleBasedStateMachine):
    images = Bundle("images")

    def __init__(self, stack: Stack, keys: list[Key], disk: Path) -> None:
        super().__init__()
        self.stack, self.keys, self.disk = stack, keys, disk
        self.model: dict[str, ModelImage] = {}

    def actor(self, image_id: str, who: int) -> int:
        image = self.model.get(image_id)
        return (image.owner if image else 0) if who == -1 else who

    def call(self, who: int, method: str, path: str, **kwargs: Any) -> Any:
        return self.stack.request(method, path, self.keys[who], **kwargs)

    @initialize(target=images, owner=st.integers(0, 2))
    def first_image(self, owner: int) -> str:
        return self.create(owner)

    @rule(target=images, owner=st.integers(0, 2))
    def create(self, owner: int) -> str:
        image = publish(self.stack, self.disk, self.keys[owner].account_id, "private")
        self.model[image["id"]] = ModelImage(owner)
        return str(image["id"])

    @rule(image_id=images, who=actors)
    def share(self, image_id: str, who: int) -> None:
        who = self.actor(image_id, who)
        image = self.model.get(image_id)
        response = self.call(who, "POST", f"/v1/images/{image_id}/share")
        expected = 404 if image is None else (expect_owner_action(image, who) or 202)
        assert response.status_code == expected, response.text
        if expected == 202 and image is not None:
            image.visibility = "shared"

    @rule(image_id=images, who=actors, visibility=st.sampled_from(["private", "shared"]))
    def set_visibility(self, image_id: str, who: int, visibility: str) -> None:
        who = self.actor(image_id, who)
        image = self.model.get(image_id)
        response = self.call(who, "PUT", f"/v1/images/{image_id}", json={"visibility": visibility})
        expected = 404 if image is None else (expect_owner_action(image, who) or 200)
        assert response.status_code == expected, response.text
        if expected == 200 and image is not None:
            image.visibility = visibility

    @rule(image_id=images, who=actors, member=st.integers(0, 2))
    def add_member(self, image_id: str, who: int, member: int) -> None:
        who = self.actor(image_id, who)
        image = self.model.get(image_id)
        body = {"member_id": self.keys[member].account_id}
        response = self.call(who, "POST", f"/v1/images/{image_id}/members", json=body)
        expected = 404 if image is None else expect_owner_action(image, who)
        if expected is None and image is not None:
            conflict = image.visibility != "shared" or member == image.owner or member in image.members
            expected = 409 if conflict else 200
        assert response.status_code == expected, response.text
        if expected == 200 and image is not None:
            image.members[member] = "pending"

    @rule(
        image_id=images,
        who=actors,
        member=st.integers(0, 2),
        status=st.sampled_from(["pending", "accepted", "rejected"]),
    )
    def answer(self, image_id: str, who: int, member: int, status: str) -> None:
        who = self.actor(image_id, who)
        image = self.model.get(image_id)
        path = f"/v1/images/{image_id}/members/{self.keys[member].account_id}"
        response = self.call(who, "PUT", path, json={"status": status})
        expected = 404
        if (
            image is not None
            and image.visible_to(who)
            and member in image.members
            and who in (image.owner, member)
        ):
            expected = 200 if who == member else 403
        assert response.status_code == expected, response.text
        if expected == 200 and image is not None:
            image.members[member] = status

    @rule(image_id=images)
    def owner_toggles_visibility(self, image_id: str) -> None:
        image = self.model.get(image_id)
        if image is not None:
            self.set_visibility(
                image_id, image.owner, "private" if image.visibility == "shared" else "shared"
            )

    @rule(image_id=images, offset=st.integers(1, 2))
    def owner_invites(self, image_id: str, offset: int) -> None:
        """The common path, made likely: the owner shares the image and adds another account."""
        image = self.model.get(image_id)
        if image is None:
            return
        if image.visibility != "shared":
            self.share(image_id, image.owner)
        self.add_member(image_id, image.owner, (image.owner + offset) % 3)

    @rule(
        image_id=images, status=st.sampled_from(["pending", "accepted", "rejected"]), pick=st.integers(0, 1)
    )
    def member_answers(self, image_id: str, status: str, pick: int) -> None:
        image = self.model.get(image_id)
        if image is None or not image.members:
            return
        member = sorted(image.members)[pick % len(image.members)]
        self.answer(image_id, member, member, status)

    @rule(image_id=images, who=actors, member=st.integers(0, 2))
    def remove_member(self, image_id: str, who: int, member: int) -> None:
        who = self.actor(image_id, who)
        image = self.model.get(image_id)
        response = self.call(who, "DELETE", f"/v1/images/{image_id}/members/{self.keys[member].account_id}")
        expected = 404 if image is None else expect_owner_action(image, who)
        if expected is None and image is not None:
            expected = 204 if member in image.members else 404
        assert response.status_code == expected, response.text
        if expected == 204 and image is not None:
            del image.members[member]

    @rule(image_id=images, who=actors)
    def delete(self, image_id: str, who: int) -> None:
        who = self.actor(image_id, who)
        image = self.model.get(image_id)
        response = self.call(who, "DELETE", f"/v1/images/{image_id}")
        expected = 404 if image is None else (expect_owner_action(image, who) or 204)
        assert response.status_code == expected, response.text
        if expected == 204:
            del self.model[image_id]

    @invariant()
    def every_account_sees_exactly_what_it_should(self) -> None:
        for who in range(3):
            self._check_lists(who)
            for image_id, image in self.model.items():
                self._check_image(who, image_id, image)

    def _check_lists(self, who: int) -> None:
        ours = set(self.model)
        listed = {
            i["id"] for i in self.call(who, "GET", "/v1/images", params={"limit": "1000"}).json()["images"]
        }
        assert listed & ours == {i for i, m in self.model.items() if m.listed_for(who)}
        pending = {i["id"] for i in self.call(who, "GET", "/v1/pending-images").json()["images"]}
        assert pending & ours == {i for i, m in self.model.items() if m.pending_for(who)}

    def _check_image(self, who: int, image_id: str, image: ModelImage) -> None:
        visible = image.visible_to(who)
        assert self.call(who, "GET", f"/v1/images/{image_id}").status_code == (200 if visible else 404)
        download = self.call(who, "GET", f"/v2/images/{image_id}/file", headers={"Range": "bytes=0-15"})
        assert download.status_code == (206 if visible else 404)
        change = self.call(who, "PUT", f"/v1/images/{image_id}", json={"min_ram": 1})
        assert change.status_code == (expect_owner_action(image, who) or 200)


def test_sharing_matches_the_model(stack: Stack, make_qcow2: Any) -> None:
    keys = [stack.new_account(f"acct{i}") for i in range(3)]
    disk = make_qcow2("tiny.qcow2", "1M", data=False)

    class Machine(SharingMachine):
        def __init__(self) -> None:
            super().__init__(stack, keys, disk)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=int(os.environ.get("SCP_IMAGES_STATEFUL_EXAMPLES", "25")),
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
