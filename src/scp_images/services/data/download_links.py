"""Short-lived download links: a URL that streams one image without SCP headers.

A browser cannot add SCP's signature headers to a navigation, and a multi-GB image must not pass through
page memory, so a signed call asks for a link and the browser then simply opens it. The link names the
access key, the image, an expiry and the key's revocation count, and carries an HMAC-SHA256 over them
computed by the server with a key derived from that access key's secret. So it cannot be guessed or
altered, it works on every server process without a shared server secret, and disabling or deleting the
key ends every link it was given, for good: a disable counts one more revocation, so enabling the key
again brings no earlier link back.

Nothing is trusted from the link but that proof: when it is used, the key must still be enabled and allowed
to show images, the expiry must lie within one lifetime from now (which also bounds a link its key holder
made by hand), and the caller's right to see the image is checked again by ``ImageService.download``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from scp_images.domain.accounts import AccessKey
from scp_images.domain.errors import Unauthenticated
from scp_images.domain.image import parse_image_id
from scp_images.domain.principal import Action, Principal
from scp_images.services.access.secrets import SecretCipher, SecretUnreadable
from scp_images.services.clock import Clock, system_clock
from scp_images.services.images import Download, ImageService
from scp_images.store.sql import accounts as account_store
from scp_images.store.sql.database import Database

LINK_SECONDS = 300
_VERSION = "v2"
_VERSION_1 = "v1"  # without the revocation count: as if 0 (links of the previous release, 5 minutes long)
_KEY_LABEL = b"scp-images download-link v1"  # keeps link MACs apart from request signatures
_MAX_TOKEN = 512


@dataclass(frozen=True, slots=True)
class DownloadLink:
    token: str
    image_id: str
    expires_at: datetime  # naive UTC, like every time the services hand out


@dataclass(frozen=True, slots=True)
class _Claim:
    access_key: str
    image_id: str
    expires: int  # epoch seconds
    revocations: int  # the key's count when the link was issued


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _payload(claim: _Claim) -> bytes:
    fields = (_VERSION, claim.access_key, claim.image_id, str(claim.expires), str(claim.revocations))
    return "\n".join(fields).encode()


def _mac(key: AccessKey, payload: bytes) -> bytes:
    link_key = hmac.new(key.secret_key.encode(), _KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(link_key, payload, hashlib.sha256).digest()


def _invalid(reason: str) -> Unauthenticated:
    return Unauthenticated(reason=reason)


def _parse(token: str) -> tuple[_Claim, bytes, bytes]:
    """(claim, payload, mac) of a well-formed token; anything else is refused before any lookup."""
    if len(token) > _MAX_TOKEN or token.count(".") != 1:
        raise _invalid("the download link is malformed")
    encoded, _, mac_text = token.partition(".")
    try:
        payload, mac = _unb64(encoded), _unb64(mac_text)
        fields = payload.decode("ascii").split("\n")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid("the download link is malformed") from None
    if fields[0] == _VERSION_1 and len(fields) == 4:
        fields = [_VERSION, *fields[1:], "0"]
    if len(fields) != 5 or fields[0] != _VERSION:
        raise _invalid("the download link is malformed")
    _, access_key, image_id, expires, revocations = fields
    if not access_key or not _number(expires) or not _number(revocations):
        raise _invalid("the download link is malformed")
    return _Claim(access_key, image_id, int(expires), int(revocations)), payload, mac


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 12


class DownloadLinkService:
    def __init__(
        self,
        db: Database,
        images: ImageService,
        clock: Clock = system_clock,
        seconds: int = LINK_SECONDS,
        secrets: SecretCipher | None = None,
    ) -> None:
        self._db = db
        self._secrets = secrets or SecretCipher(())
        self._images = images
        self._clock = clock
        self._seconds = seconds

    def _now(self) -> int:
        return int(self._clock().replace(tzinfo=UTC).timestamp())

    def _key(self, access_key: str) -> AccessKey:
        with self._db.transaction() as conn:
            key = account_store.get_key(conn, access_key[:64])
        if key is None or key.access_key != access_key or not key.enabled:
            raise _invalid("the download link's access key is unknown or disabled")
        # The MAC key derives from the secret in the clear: a stored (encrypted) form would let anyone
        # who can read the database forge links.
        try:
            return replace(key, secret_key=self._secrets.open(key.secret_key))
        except SecretUnreadable:
            raise _invalid("the download link's access key is unknown or disabled") from None

    def issue(self, principal: Principal, image_id: str) -> DownloadLink:
        """A link for an image the caller may download now (visible and active, else the same error
        the download route gives)."""
        image = self._images.download(principal, image_id).image
        key = self._key(principal.access_key)
        claim = _Claim(key.access_key, image.id, self._now() + self._seconds, key.revocations)
        payload = _payload(claim)
        token = f"{_b64(payload)}.{_b64(_mac(key, payload))}"
        expires_at = datetime.fromtimestamp(claim.expires, UTC).replace(tzinfo=None)
        return DownloadLink(token, image.id, expires_at)

    def redeem(self, image_id: str, token: str) -> Download:
        """The download a link grants for ``image_id``, with every right checked again as of now."""
        claim, payload, mac = _parse(token)
        if claim.image_id != image_id:
            raise _invalid("the download link is for another image")
        key = self._key(claim.access_key)
        if not hmac.compare_digest(mac, _mac(key, payload)):
            raise _invalid("the download link's signature does not match")
        if claim.revocations != key.revocations:
            raise _invalid("the download link was revoked when its key was disabled; ask for a new one")
        now = self._now()
        if claim.expires <= now:
            raise _invalid("the download link has expired; ask for a new one")
        if claim.expires > now + self._seconds + 1:
            raise _invalid("the download link lives longer than the server allows")
        principal = key.principal()
        principal.require(Action.SHOW_IMAGE)
        return self._images.download(principal, parse_image_id(image_id))
