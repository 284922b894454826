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


class LineNoise(FrameError):
    """A run of bytes that cannot start an SSI packet (wake-up 0x00, line noise) was dropped."""

    def __init__(self, message: str, count: int) -> None:
        super().__init__(message)
        self.count = count


class ReadTooLong(FrameError):
    """A packet of a multi-packet read that passed its bound: the whole read is refused.

    `first` is True on the packet that took the read over the bound, False on each of
    the read's later packets, which are refused with it.
    """

    def __init__(self, message: str, first: bool = True) -> None:
        super().__init__(message)
        self.first = first


class PortGone(ScannerError):
    """The serial port disappeared (scanner unplugged, USB reset) or could not be opened."""


class BarcodeError(ScannerError):
    """A barcode could not be interpreted (bad check digit, unknown format)."""
