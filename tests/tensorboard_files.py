"""Reading what TensorBoard reads, without TensorFlow: event files through
TensorBoard's own `EventAccumulator`, and PNGs through a small decoder."""

import struct
import zlib

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4}  # PNG colour type -> channels


def events(run_dir):
    """TensorBoard's accumulator over a run folder, every tensor kept."""
    accumulator = EventAccumulator(run_dir, size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def values(accumulator, tag):
    """The tensors written under `tag`, as numpy arrays, in step order."""
    return [tensor_util.make_ndarray(e.tensor_proto) for e in accumulator.Tensors(tag)]


def steps(accumulator, tag):
    return [e.step for e in accumulator.Tensors(tag)]


def decode_png(data):
    """`(height, width, channels)` uint8 pixels of an 8-bit PNG whose rows
    use filter 0 (what `mixup_model.png` writes); checks every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.setdefault(kind, b"")
        chunks[kind] += body
        position += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8 and interlace == 0 and b"IEND" in chunks
    channels = CHANNELS[color]
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8)
    rows = rows.reshape(height, 1 + width * channels)
    assert not rows[:, 0].any(), "rows use filter 0"
    return rows[:, 1:].reshape(height, width, channels)
