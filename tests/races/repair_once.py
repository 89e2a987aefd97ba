"""Run one process's start-up repair (abandoned writes, then orphans) on the configured stores, as
``serve`` and ``worker`` do when they start; prints how many orphans it removed."""

from scp_images.app import build_components
from scp_images.config import Settings

if __name__ == "__main__":
    parts = build_components(Settings())
    try:
        recovery = parts.recovery
        recovery.settle_abandoned_writes()
        print(recovery.sweep_orphans())
    finally:
        parts.close()
