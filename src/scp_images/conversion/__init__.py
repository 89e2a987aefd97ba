"""Running ``qemu-img convert`` on a disk that passed our inspectors, and the host's share of it.

An adapter beside ``imports/``: services call it; it knows ``domain`` and ``formats`` only.

- ``qemu.py``: one conversion as a contained child process (named input driver, our own paths, a clean
  environment, resource limits, a wall-clock limit, cancellation, progress).
- ``host.py``: what one host shares between its processes: the conversion slots (lock files, so
  ``--workers`` and worker processes do not multiply them), the temporary-space ceiling, and the
  private job directories, swept when their process died.
"""

from scp_images.conversion.host import ConversionHost, Slot
from scp_images.conversion.qemu import (
    ConversionCancelled,
    ConvertLimits,
    convert_to_qcow2,
    qcow2_output_ceiling,
)

__all__ = [
    "ConversionCancelled",
    "ConversionHost",
    "ConvertLimits",
    "Slot",
    "convert_to_qcow2",
    "qcow2_output_ceiling",
]
