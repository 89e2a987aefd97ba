"""Read an OVF descriptor with a hardened parser: which file of the OVA is its one disk.

Built on ``xml.parsers.expat`` with every way out of the document closed: a DOCTYPE (and so any entity
or DTD, the billion-laughs and external-entity attacks) is refused as soon as expat meets it, parameter
entities are never parsed, and an external entity reference is refused. Only the five predefined
entities and character references remain, which expand to one character each. Elements are matched by
local name, whatever the OVF namespace version.
"""

from __future__ import annotations

import re
import xml.parsers.expat as expat
from dataclasses import dataclass, field

from scp_images.domain.errors import DiskImageRejected

from ._signatures import quote_name

MAX_OVF_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_ELEMENTS = 100_000
_PLAIN_NAME = re.compile(r"^[^/\\:\x00-\x1f]+$")


def descriptor_error(detail: str) -> DiskImageRejected:
    return DiskImageRejected("ova_descriptor", detail)


@dataclass
class OvfFiles:
    """The ``References/File`` entries (id -> href) and the ids the ``DiskSection`` names."""

    files: dict[str, str] = field(default_factory=dict)
    disk_refs: list[str] = field(default_factory=list)
    unsupported: dict[str, str] = field(default_factory=dict)  # href -> its compression or chunking

    def disk_name(self, where: str) -> str:
        """The one disk file's name; refuses several disks, none, or a disk naming no file."""
        names = []
        for ref in self.disk_refs:
            if ref not in self.files:
                raise descriptor_error(
                    f"{where}: a Disk names file id {quote_name(ref.encode())}, not in References"
                )
            if self.files[ref] not in names:
                names.append(self.files[ref])
        if not names:
            raise DiskImageRejected("ova_disks", f"{where} names no disk")
        if len(names) > 1:
            shown = ", ".join(quote_name(name.encode()) for name in names[:4])
            raise DiskImageRejected(
                "ova_disks", f"{where} names {len(names)} disks ({shown}): only one is accepted"
            )
        if names[0] in self.unsupported:
            raise descriptor_error(f"{where}: the disk {self.unsupported[names[0]]} is not accepted")
        return names[0]


def parse_ovf(data: bytes, where: str) -> OvfFiles:
    """Judge the descriptor ``data`` (at most ``MAX_OVF_BYTES``); ``where`` names it in messages."""
    result = OvfFiles()
    stack: list[str] = []
    count = 0

    def refuse(what: str) -> None:
        raise descriptor_error(f"{where} has {what} at line {parser.CurrentLineNumber}: not accepted")

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > MAX_ELEMENTS or len(stack) >= MAX_DEPTH:
            raise descriptor_error(f"{where} is nested too deeply or has too many elements")
        local = name.rsplit(" ", 1)[-1]
        values = {key.rsplit(" ", 1)[-1]: value for key, value in attrs.items()}
        parent = stack[-1] if stack else ""
        if local == "File" and parent == "References":
            _add_file(result, values, where)
        elif local == "Disk" and parent == "DiskSection" and values.get("fileRef"):
            result.disk_refs.append(values["fileRef"])
        stack.append(local)

    def end(name: str) -> None:
        stack.pop()

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = lambda *args: refuse("a DOCTYPE")
    parser.EntityDeclHandler = lambda *args: refuse("an entity declaration")
    parser.UnparsedEntityDeclHandler = lambda *args: refuse("an entity declaration")
    parser.ExternalEntityRefHandler = lambda *args: refuse("an external entity reference")  # type: ignore[assignment, return-value]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise descriptor_error(
            f"{where} is not well-formed XML ({expat.ErrorString(exc.code)}, line {exc.lineno})"
        ) from None
    return result


def _add_file(result: OvfFiles, values: dict[str, str], where: str) -> None:
    href, ident = values.get("href", ""), values.get("id", "")
    if not href or not ident:
        raise descriptor_error(f"{where}: a References/File lacks its href or id")
    if not _PLAIN_NAME.match(href) or href in (".", ".."):
        raise descriptor_error(
            f"{where}: the file {quote_name(href.encode())} is not a plain name in the archive"
        )
    if ident in result.files:
        raise descriptor_error(f"{where}: the file id {quote_name(ident.encode())} appears twice")
    result.files[ident] = href
    for attribute in ("compression", "chunkSize"):
        if values.get(attribute) not in (None, "", "identity"):
            result.unsupported[href] = f"{quote_name(href.encode())} ({attribute} {values[attribute][:20]!r})"
