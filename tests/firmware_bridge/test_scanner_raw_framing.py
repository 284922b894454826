"""Raw-mode framing as pure bytes: suffixes, prefixes, AIM identifiers, noise and over-long garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import FrameError, raw, wire

FRAMES = [b"5901234123457", b"]E00012345678905", b"]C1010590123412345710ABC\x1d17251231"]


def frames_of(framer: raw.LineFramer, *chunks: bytes) -> list[bytes | FrameError]:
    return [item for chunk in chunks for item in framer.feed(chunk)]


@pytest.mark.parametrize("suffix", ["CR", "LF", "CRLF"])
def test_several_frames_in_one_read_each_come_out(suffix: str) -> None:
    end = wire.SUFFIXES[suffix]
    framer = raw.LineFramer(end)
    assert frames_of(framer, b"".join(f + end for f in FRAMES)) == FRAMES


@pytest.mark.parametrize("suffix", ["CR", "LF", "CRLF"])
def test_stream_split_at_every_offset_gives_the_same_frames(suffix: str) -> None:
    end = wire.SUFFIXES[suffix]
    stream = b"".join(f + end for f in FRAMES)
    for cut in range(1, len(stream)):
        framer = raw.LineFramer(end)
        assert frames_of(framer, stream[:cut], stream[cut:]) == FRAMES, cut


def test_partial_frame_waits_for_its_suffix() -> None:
    framer = raw.LineFramer(wire.CR)
    assert frames_of(framer, b"590123") == []
    assert framer.pending == 6
    assert frames_of(framer, b"4123457\r") == [b"5901234123457"]


def test_prefix_is_removed_and_noise_before_it_dropped() -> None:
    framer = raw.LineFramer(wire.CR, prefix=b"\x02")
    assert frames_of(framer, b"\xff\x00\x025901234123457\r") == [b"5901234123457"]


def test_frame_without_configured_prefix_is_dropped_with_error() -> None:
    framer = raw.LineFramer(wire.CR, prefix=b"\x02")
    items = frames_of(framer, b"5901234123457\r\x024006381333931\r")
    assert isinstance(items[0], FrameError) and "without prefix" in str(items[0])
    assert items[1] == b"4006381333931"


def test_leading_line_noise_is_stripped_from_a_frame() -> None:
    framer = raw.LineFramer(wire.CR)
    assert frames_of(framer, b"\x00\xff\x135901234123457\r") == [b"5901234123457"]


@pytest.mark.parametrize(
    ("stream", "match"),
    [
        (b"\x00\x01\xff\r", "noise"),
        (b"5901\x07234123457\r", "control byte 0x07"),
        (b"59012341\xe93457\r", "control byte 0xE9"),
    ],
)
def test_noise_frames_are_dropped_with_reason(stream: bytes, match: str) -> None:
    items = frames_of(raw.LineFramer(wire.CR), stream + b"5901234123457\r")
    assert isinstance(items[0], FrameError) and match in str(items[0])
    assert items[1:] == [b"5901234123457"]


def test_over_long_garbage_is_dropped_once_and_stream_resyncs() -> None:
    framer = raw.LineFramer(wire.CR, max_frame=32)
    items = frames_of(framer, b"x" * 100, b"y" * 100, b"z\r5901234123457\r")
    errors = [i for i in items if isinstance(i, FrameError)]
    assert len(errors) == 1 and "no b'\\r' within 32 bytes" in str(errors[0])
    assert [i for i in items if isinstance(i, bytes)] == [b"5901234123457"]


def test_over_long_line_arriving_whole_is_dropped() -> None:
    framer = raw.LineFramer(wire.CR, max_frame=16)
    items = frames_of(framer, b"1" * 20 + b"\r5901234123457\r")
    assert isinstance(items[0], FrameError) and "over max_frame=16" in str(items[0])
    assert items[1] == b"5901234123457"


def test_garbage_without_suffix_keeps_memory_bounded() -> None:
    framer = raw.LineFramer(wire.CRLF, max_frame=64)
    for _ in range(1000):
        list(framer.feed(b"q" * 97))
        assert framer.pending <= 64 + 2


def test_crlf_split_between_cr_and_lf_still_ends_frame() -> None:
    framer = raw.LineFramer(wire.CRLF, max_frame=16)
    assert frames_of(framer, b"5901234123457\r", b"\n") == [b"5901234123457"]


def test_stray_lf_from_a_crlf_scanner_on_a_cr_profile_is_ignored() -> None:
    framer = raw.LineFramer(wire.CR)
    assert frames_of(framer, b"5901234123457\r\n4006381333931\r\n") == [b"5901234123457", b"4006381333931"]


def test_reset_drops_partial_frame_so_it_cannot_join_the_next() -> None:
    framer = raw.LineFramer(wire.CR)
    list(framer.feed(b"590123"))
    framer.reset()
    assert frames_of(framer, b"4006381333931\r") == [b"4006381333931"]


def test_empty_suffix_is_refused() -> None:
    with pytest.raises(ValueError, match="suffix"):
        raw.LineFramer(b"")


@pytest.mark.parametrize(
    ("text", "aim", "rest", "symbology"),
    [
        ("]E05901234123457", "]E0", "5901234123457", "EAN-13"),
        ("]E412345670", "]E4", "12345670", "EAN-8"),
        ("]C1010590123412345710ABC", "]C1", "010590123412345710ABC", "GS1-128"),
        ("]e00105901234123457", "]e0", "0105901234123457", "GS1 DataBar"),
        ("]Q1hello", "]Q1", "hello", "QR"),
        ("]X0abc", "]X0", "abc", "AIM ]X0"),
        ("5901234123457", None, "5901234123457", "unknown"),
        ("]", None, "]", "unknown"),
    ],
)
def test_aim_identifier_is_split_and_named(text: str, aim: str | None, rest: str, symbology: str) -> None:
    assert raw.split_aim(text) == (aim, rest)
    assert raw.symbology_for_aim(aim) == symbology


def test_encode_line_puts_prefix_aim_data_suffix_in_order() -> None:
    assert raw.encode_line("5901234123457", wire.CRLF, b"\x02", "]E0") == b"\x02]E05901234123457\r\n"


printable = st.binary(min_size=1, max_size=40).map(lambda b: bytes(0x21 + (x % 94) for x in b))


@settings(deadline=None, max_examples=200)
@given(frames=st.lists(printable, max_size=10), cuts=st.lists(st.integers(0, 500), max_size=8),
       suffix=st.sampled_from(["CR", "LF", "CRLF"]))
def test_generated_streams_split_anywhere_give_back_every_frame(
    frames: list[bytes], cuts: list[int], suffix: str
) -> None:
    end = wire.SUFFIXES[suffix]
    stream = b"".join(f + end for f in frames)
    framer = raw.LineFramer(end, max_frame=64)
    got: list[bytes | FrameError] = []
    last = 0
    for cut in sorted(c for c in cuts if c <= len(stream)) + [len(stream)]:
        got += framer.feed(stream[last:cut])
        last = cut
    assert got == frames


@settings(deadline=None, max_examples=200)
@given(chunks=st.lists(st.binary(max_size=200), max_size=8), tail=printable)
def test_after_any_garbage_a_clean_frame_is_read(chunks: list[bytes], tail: bytes) -> None:
    framer = raw.LineFramer(wire.CR, max_frame=64)
    for chunk in chunks:
        list(framer.feed(chunk))
        assert framer.pending <= 65
    # Whatever came before, one suffix re-synchronises and the next frame is whole.
    got = list(framer.feed(b"\r" + tail + b"\r"))
    assert got[-1] == tail
