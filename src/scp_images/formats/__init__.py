"""Disk-image inspection: pure parsing of bytes handed in by the caller, no I/O."""

from .qcow2 import REASONS, Qcow2Inspector, QcowHeader, parse_qcow2_header
from .raw import RawInfo, RawInspector

__all__ = ["REASONS", "Qcow2Inspector", "QcowHeader", "RawInfo", "RawInspector", "parse_qcow2_header"]
