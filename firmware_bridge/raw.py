"""Raw serial lines as pure functions: suffix framing, prefix, AIM symbology identifier."""

from __future__ import annotations

from collections.abc import Iterator

from . import wire
from .errors import FrameError

# Bytes a barcode's data may hold: printable ASCII plus the GS1 separators
# (GS, and RS/EOT for ISO/IEC 15434 envelopes in 2D codes).
_ALLOWED = frozenset(range(0x20, 0x7F)) | {0x1D, 0x1E, 0x04}


class LineFramer:
    """Splits a byte stream into frames at a suffix; bounded memory, re-synchronises."""

    def __init__(self, suffix: bytes = wire.CR, prefix: bytes = b"", max_frame: int = 256) -> None:
        if not suffix:
            raise ValueError("suffix must not be empty")
        self.suffix = suffix
        self.prefix = prefix
        self.max_frame = max_frame
        self._buf = bytearray()
        self._discarding = False  # inside over-long garbage, waiting for the next suffix

    def feed(self, data: bytes) -> Iterator[bytes | FrameError]:
        """Yield each frame body (prefix and suffix removed) or the error that replaced it."""
        self._buf += data
        buf, suffix = self._buf, self.suffix
        while True:
            end = buf.find(suffix)
            if end < 0:
                break
            line = bytes(buf[:end])
            del buf[: end + len(suffix)]
            if self._discarding:
                # The tail of an over-long frame: its head was already reported and dropped.
                self._discarding = False
                continue
            if len(line) > self.max_frame:
                yield FrameError(f"frame of {len(line)} bytes is over max_frame={self.max_frame}; dropped")
                continue
            result = self._body(line)
            if result is not None:
                yield result
        # Keep a possible partial suffix (the CR of a CR LF) but never more than the bound.
        if len(buf) > self.max_frame + len(suffix):
            if not self._discarding:
                yield FrameError(f"no {suffix!r} within {self.max_frame} bytes; garbage dropped")
            self._discarding = True
            keep = len(suffix) - 1
            del buf[: len(buf) - keep]

    def _body(self, line: bytes) -> bytes | FrameError | None:
        # A stray LF left by a CR LF scanner on a CR profile (or the reverse) is not data.
        line = line.strip(b"\r\n")
        if not line:
            return None
        if self.prefix:
            at = line.find(self.prefix)
            if at < 0:
                return FrameError(f"frame without prefix {self.prefix!r} dropped: {line[:40]!r}")
            # Anything before the prefix is noise from the line; re-synchronise on it.
            line = line[at + len(self.prefix) :]
        else:
            start = 0
            while start < len(line) and line[start] not in _ALLOWED:
                start += 1
            line = line[start:]
            if not line:
                return FrameError("frame of noise bytes dropped")
        bad = next((b for b in line if b not in _ALLOWED), None)
        if bad is not None:
            return FrameError(f"frame with control byte 0x{bad:02X} dropped: {line[:40]!r}")
        return line

    def reset(self) -> None:
        """Forget a partial frame (the port went away mid-frame)."""
        self._buf.clear()
        self._discarding = False

    @property
    def pending(self) -> int:
        """Bytes held waiting for a suffix (bounded by max_frame + len(suffix))."""
        return len(self._buf)


def split_aim(text: str) -> tuple[str | None, str]:
    """Split a leading AIM symbology identifier (`]` + code + modifier) off `text`."""
    if len(text) >= 3 and text[0] == wire.AIM_FLAG and text[1].isalpha():
        return text[:3], text[3:]
    return None, text


def symbology_for_aim(aim: str | None) -> str:
    """Return the ShopGo symbology name for an AIM identifier ("unknown" if not known)."""
    if aim is None:
        return "unknown"
    return wire.AIM_SYMBOLOGIES.get(aim, f"AIM {aim}")


def encode_line(data: str, suffix: bytes = wire.CR, prefix: bytes = b"", aim: str | None = None) -> bytes:
    """Return the bytes a raw-mode scanner sends for one read."""
    return prefix + ((aim or "") + data).encode("latin-1") + suffix
