"""RequestStream: the dispatch window and putting audio back in order."""

from __future__ import annotations

from synthesis.streams import RequestStream


def make_stream(chunks: int = 4, window: int = 2) -> RequestStream:
    return RequestStream(
        request_id="r",
        chunks=[f"chunk {n}." for n in range(chunks)],
        window=window,
        sample_rate=24000,
        output_format="pcm",
    )


def test_it_sends_the_first_chunk_alone_then_keeps_a_window_in_flight():
    stream = make_stream()
    assert stream.take_dispatchable() == [(0, "chunk 0.")]
    assert stream.take_dispatchable() == []
    stream.add_part(0, 0, True, b"a")
    assert stream.take_dispatchable() == [(1, "chunk 1."), (2, "chunk 2.")]
    stream.add_part(1, 0, True, b"b")
    assert stream.take_dispatchable() == [(3, "chunk 3.")]


def test_it_delivers_parts_in_order_whatever_order_they_arrive_in():
    stream = make_stream(chunks=3)
    assert stream.add_part(1, 0, False, b"1a") == []
    assert stream.add_part(0, 1, True, b"0b") == []
    assert stream.add_part(0, 0, False, b"0a") == [b"0a", b"0b", b"1a"]
    assert stream.add_part(1, 1, True, b"") == []  # an empty last part ends the chunk
    assert not stream.done
    assert stream.add_part(2, 0, True, b"2a") == [b"2a"]
    assert stream.done


def test_it_ignores_a_part_it_already_delivered():
    stream = make_stream(chunks=2)
    assert stream.add_part(0, 0, True, b"0a") == [b"0a"]
    assert stream.add_part(0, 0, True, b"0a") == []
    assert not stream.done
