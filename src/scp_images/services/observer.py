"""What the import path reports about itself; the composition root plugs in metrics."""

from __future__ import annotations

from typing import Protocol


class ImportObserver(Protocol):
    def import_finished(self, outcome: str, reason: str | None, size: int, seconds: float) -> None: ...


class NoObserver:
    def import_finished(self, outcome: str, reason: str | None, size: int, seconds: float) -> None:
        return None


class DownloadObserver(Protocol):
    """What the download path reports: an active image whose bytes the blob store does not have."""

    def image_data_missing(self) -> None: ...

    def flagged_download_refused(self, flag: str) -> None: ...


class NoDownloadObserver:
    def image_data_missing(self) -> None:
        return None

    def flagged_download_refused(self, flag: str) -> None:
        return None
