"""MLLP deframer: garbage, restarts, split end blocks, limits, timeouts."""

from __future__ import annotations

import asyncio

import pytest

from connector.intake.framing import FrameReader, FrameTimeout, MessageTooLarge, frame


def _reader(*chunks: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return reader


async def _frames(reader: asyncio.StreamReader, max_bytes: int = 1000) -> tuple[list[bytes], int]:
    frames = FrameReader(reader, max_bytes=max_bytes)
    out = []
    while (message := await frames.next_frame(idle_timeout=1, read_timeout=1)) is not None:
        out.append(message)
    return out, frames.dropped_bytes


async def test_two_frames_in_one_chunk() -> None:
    assert await _frames(_reader(frame(b"MSH|1") + frame(b"MSH|2"))) == ([b"MSH|1", b"MSH|2"], 0)


async def test_end_block_split_across_reads() -> None:
    reader = _reader(b"\x0bMSH|1\x1c", b"\x0d\x0bMSH|2", b"\x1c\x0d")
    assert (await _frames(reader))[0] == [b"MSH|1", b"MSH|2"]


async def test_garbage_outside_frames_is_dropped_and_counted() -> None:
    frames, dropped = await _frames(_reader(b"junk" + frame(b"MSH|1") + b"\r\n" + frame(b"MSH|2") + b"tail"))
    assert frames == [b"MSH|1", b"MSH|2"]
    assert dropped == 4 + 2 + 4


async def test_a_new_start_block_restarts_the_frame() -> None:
    frames, dropped = await _frames(_reader(b"\x0bMSH|half" + frame(b"MSH|full")))
    assert frames == [b"MSH|full"]
    assert dropped == len(b"MSH|half") + 1


async def test_lone_fs_inside_a_frame_is_data() -> None:
    assert (await _frames(_reader(frame(b"MSH|a\x1cb"))))[0] == [b"MSH|a\x1cb"]


async def test_too_large_keeps_the_head() -> None:
    with pytest.raises(MessageTooLarge) as info:
        await _frames(_reader(frame(b"MSH|" + b"x" * 2000)), max_bytes=100)
    assert info.value.head.startswith(b"MSH|")


async def test_too_large_even_when_the_end_is_in_the_same_read() -> None:
    with pytest.raises(MessageTooLarge):
        await _frames(_reader(frame(b"y" * 101)), max_bytes=100)
    assert (await _frames(_reader(frame(b"y" * 100)), max_bytes=100))[0] == [b"y" * 100]


async def test_eof_inside_a_frame() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        await _frames(_reader(b"\x0bMSH|unfinished"))


async def test_idle_and_slow_timeouts_are_distinguished() -> None:
    idle = FrameReader(_reader(eof=False), max_bytes=100)
    with pytest.raises(FrameTimeout) as info:
        await idle.next_frame(idle_timeout=0.05, read_timeout=5)
    assert not info.value.in_frame
    slow = FrameReader(_reader(b"\x0bMSH|", eof=False), max_bytes=100)
    with pytest.raises(FrameTimeout) as info:
        await slow.next_frame(idle_timeout=5, read_timeout=0.05)
    assert info.value.in_frame
