"""Streaming SHA-256: what passes through the reader is hashed and counted exactly once."""

from __future__ import annotations

import hashlib
import io

from hypothesis import given
from hypothesis import strategies as st

from conda_wheel_bridge.digest import HashingReader, sha256_stream


@given(st.binary(max_size=5000), st.integers(1, 700))
def test_reader_hashes_what_is_read_then_drained(data: bytes, first: int) -> None:
    hashed = HashingReader(io.BytesIO(data))
    head = hashed.read(first)
    assert head == data[:first]
    assert hashed.count == len(head)
    assert hashed.hexdigest() == hashlib.sha256(head).hexdigest()
    hashed.drain()
    assert hashed.count == len(data)
    assert hashed.hexdigest() == hashlib.sha256(data).hexdigest()


def test_buffered_reader_over_it_sees_the_same_bytes() -> None:
    data = bytes(range(256)) * 9000  # over two default chunks
    hashed = HashingReader(io.BytesIO(data))
    assert io.BufferedReader(hashed, 4096).read() == data
    assert (hashed.count, hashed.hexdigest()) == (len(data), hashlib.sha256(data).hexdigest())


def test_sha256_stream_reads_from_where_the_stream_is() -> None:
    data = b"0123456789" * 300_000
    fh = io.BytesIO(data)
    fh.seek(10)
    assert sha256_stream(fh) == hashlib.sha256(data[10:]).hexdigest()
    assert sha256_stream(fh) == hashlib.sha256(b"").hexdigest()
