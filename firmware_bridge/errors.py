"""The firmware_bridge exception tree: every failure the driver raises is a ScannerError."""

from __future__ import annotations


class ScannerError(Exception):
    """Base class for everything the scanner bridge raises."""


class FrameError(ScannerError):
    """Bytes on the wire could not be made into a frame (noise, over-long, bad prefix)."""


class ChecksumError(FrameError):
    """An SSI packet arrived whole but its checksum did not match."""

    def __init__(self, message: str, packet: bytes = b"") -> None:
        super().__init__(message)
        self.packet = packet


class PortGone(ScannerError):
    """The serial port disappeared (scanner unplugged, USB reset) or could not be opened."""


class BarcodeError(ScannerError):
    """A barcode could not be interpreted (bad check digit, unknown format)."""
