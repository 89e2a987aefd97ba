"""The cluster test's load: tenants that create, import, upload, share, accept and delete at once through
nginx, each recording what the service acknowledged (the ledger), so that afterwards no acknowledged
write may be missing.

Every request carries a query parameter of its own (``n``, ignored by the service), so no two requests
ever share a signature and the replay guard refuses none of them; a 429 is waited out and sent again,
newly signed.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from scp_images.signing import sign_request
from tests.support.stack import Key

CHUNK = 256 << 10
MAX_IMPORTING = 2
PAUSE_SECONDS = 0.1  # between two actions of a tenant: a steady load two cores can carry
RATE_LIMIT_RETRIES = 20


@dataclass(frozen=True)
class Source:
    """A qcow2 made by qemu-img, stored in the granted source bucket under ``name`` and uploaded as is."""

    name: str
    data: bytes

    @property
    def md5(self) -> str:
        return hashlib.md5(self.data).hexdigest()

    @property
    def sha512(self) -> str:
        return hashlib.sha512(self.data).hexdigest()


def image_name(tenant: int, seq: int, source: Source) -> str:
    """Names say which source an image was made from, so every row can be checked, acknowledged or not."""
    return f"cl-{tenant}-{seq}-{source.name}"


def source_of(name: str, sources: dict[str, Source]) -> Source:
    return sources[name.split("-", 3)[3]]


@dataclass
class Ledger:
    """What the service answered with success, by all tenants. ``sent_delete`` holds deletes whose answer
    never came (the server died): the image may or may not be gone."""

    created: dict[str, str] = field(default_factory=dict)  # image id -> kind ("url" or "upload")
    uploaded: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    sent_delete: set[str] = field(default_factory=set)
    members: set[tuple[str, str]] = field(default_factory=set)
    accepted: set[tuple[str, str]] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str, apply: Callable[[], object] = lambda: None) -> None:
        with self._lock:
            self.counts[what] += 1
            apply()


class Tenant:
    """One account's client, talking to ``base_url`` (nginx) with fresh signatures."""

    def __init__(
        self,
        index: int,
        base_url: str,
        key: Key,
        peers: list[str],
        sources: list[Source],
        bucket: str,
        ledger: Ledger,
    ) -> None:
        self.index = index
        self.base_url = base_url
        self.key = key
        self.peers = peers
        self.sources = sources
        self.bucket = bucket
        self.ledger = ledger
        self.rng = random.Random(index)
        self.http = httpx.Client(timeout=httpx.Timeout(60.0, connect=5.0))
        self.mine: list[str] = []
        self.importing: list[str] = []
        self.shared: set[str] = set()
        self._seq = 0
        self.error: BaseException | None = None  # what ended the loop early, for the test to raise

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: Callable[[], Iterator[bytes]] | None = None,
        **kwargs: Any,
    ) -> httpx.Response | None:
        """Signed (the nginx URL, as a client signs it), with a fresh ``n``; None when the connection failed.
        ``body`` makes the upload body afresh for each attempt."""
        params = dict(params or {})
        for _ in range(RATE_LIMIT_RETRIES):
            params["n"] = uuid.uuid4().hex
            url = httpx.URL(self.base_url + path, params=params)
            signed = sign_request(method, str(url), self.key.access_key, self.key.secret_key)
            if body is not None:
                kwargs["content"] = body()
            try:
                response = self.http.request(
                    method, url, headers={**signed.as_dict(), **(headers or {})}, **kwargs
                )
            except httpx.TransportError as exc:
                self.ledger.note(f"transport:{type(exc).__name__}")
                return None
            self.ledger.note(f"status:{response.status_code}")
            if response.status_code != 429:
                return response
            time.sleep(min(2.0, float(response.headers.get("retry-after", "1"))) * self.rng.random())
        return None

    def _new(self, source: Source, *, upload: bool) -> dict[str, Any] | None:
        self._seq += 1
        body: dict[str, Any] = {"name": image_name(self.index, self._seq, source), "os_distro": "ubuntu"}
        if not upload:
            body["url"] = f"s3://{self.bucket}/{source.name}"
        params = {"source": "upload"} if upload else {}
        response = self.send("POST", "/v1/images", json=body, params=params)
        if response is None or response.status_code != 200:
            return None
        image: dict[str, Any] = response.json()
        self.mine.append(image["id"])
        return image

    def _still_importing(self) -> list[str]:
        busy = []
        for image_id in self.importing:
            shown = self.send("GET", f"/v1/images/{image_id}")
            waiting = shown is not None and shown.status_code == 200 and shown.json()["status"] != "active"
            if shown is None or (waiting and shown.json()["status"] != "killed"):
                busy.append(image_id)
        return busy

    def do_import(self) -> None:
        """At most MAX_IMPORTING of the tenant's imports waiting at once: the backlog stays one the workers
        clear in seconds, however slow the machine."""
        self.importing = self._still_importing()
        if len(self.importing) >= MAX_IMPORTING:
            return
        image = self._new(self.rng.choice(self.sources), upload=False)
        if image is not None:
            self.importing.append(image["id"])
            self.ledger.note("import", lambda: self.ledger.created.__setitem__(image["id"], "url"))

    def do_upload(self) -> None:
        source = self.rng.choice(self.sources)
        image = self._new(source, upload=True)
        if image is None:
            return
        image_id = image["id"]
        self.ledger.note("create-upload", lambda: self.ledger.created.__setitem__(image_id, "upload"))
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(source.data))}
        response = self.send(
            "PUT", f"/v2/images/{image_id}/file", body=lambda: _paced(source.data), headers=headers
        )
        if response is not None and response.status_code == 204:
            self.ledger.note("upload", lambda: self.ledger.uploaded.add(image_id))

    def do_share(self) -> None:
        candidates = [i for i in self.mine if i not in self.shared]
        if not candidates:
            return
        image_id = self.rng.choice(candidates)
        shown = self.send("GET", f"/v1/images/{image_id}")
        if shown is None or shown.status_code != 200 or shown.json()["status"] != "active":
            return
        shared = self.send("POST", f"/v1/images/{image_id}/share")
        if shared is None or shared.status_code != 202:
            return
        self.shared.add(image_id)
        peer = self.rng.choice(self.peers)
        added = self.send("POST", f"/v1/images/{image_id}/members", json={"member_id": peer})
        if added is not None and added.status_code == 200:
            self.ledger.note("share", lambda: self.ledger.members.add((image_id, peer)))

    def do_accept(self) -> None:
        pending = self.send("GET", "/v1/pending-images")
        if pending is None or pending.status_code != 200:
            return
        me = self.key.account_id
        for image in pending.json()["images"]:
            path = f"/v1/images/{image['id']}/members/{me}"
            done = self.send("PUT", path, json={"status": "accepted"})
            if done is not None and done.status_code == 200:
                self.ledger.note("accept", lambda i=image["id"]: self.ledger.accepted.add((i, me)))

    def do_delete(self) -> None:
        if len(self.mine) < 3:
            return
        image_id = self.mine.pop(self.rng.randrange(len(self.mine)))
        self.ledger.note("delete-sent", lambda: self.ledger.sent_delete.add(image_id))
        response = self.send("DELETE", f"/v1/images/{image_id}")
        if response is not None and response.status_code == 204:
            self.ledger.note("delete", lambda: self.ledger.deleted.add(image_id))

    def do_list(self) -> None:
        self.send("GET", "/v1/images", params={"limit": "20"})

    def run(self, stop: threading.Event) -> None:
        actions = [self.do_import, self.do_upload] * 2 + [self.do_share] * 2
        actions += [self.do_accept] * 2 + [self.do_delete, self.do_list]
        try:
            while not stop.is_set():
                self.rng.choice(actions)()
                stop.wait(PAUSE_SECONDS)
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.http.close()


def _paced(data: bytes) -> Iterator[bytes]:
    """The body in 256 KiB chunks with a short pause each, so uploads are in flight when a server dies."""
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]
        time.sleep(0.02)


# --- the rate limit across servers --------------------------------------------------------------------


@dataclass
class Hammered:
    passed: int = 0  # answers past the rate limiter (any status but 429)
    limited: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int) -> None:
        with self._lock:
            if status == 429:
                self.limited += 1
            else:
                self.passed += 1


def hammer(servers: list[str], key: Key, seconds: float, threads: int) -> Hammered:
    """As many signed requests of one key as ``threads`` can send, spread over ``servers`` directly."""
    result = Hammered()
    deadline = time.monotonic() + seconds

    def send(number: int) -> None:
        with httpx.Client(timeout=10) as http:
            turn = number
            while time.monotonic() < deadline:
                turn += 1
                # Show of an image that does not exist: the cheapest signed request (404 past the limiter).
                path = f"/v1/images/{uuid.UUID(int=0)}"
                url = httpx.URL(servers[turn % len(servers)] + path, params={"n": uuid.uuid4().hex})
                signed = sign_request("GET", str(url), key.access_key, key.secret_key)
                result.add(http.get(url, headers=signed.as_dict()).status_code)

    began = time.monotonic()
    workers = [threading.Thread(target=send, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    result.seconds = time.monotonic() - began
    return result
