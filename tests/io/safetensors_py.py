"""A small, independent reader and writer of the safetensors format (json + struct + numpy), for the interop
tests: Debian has no python3-safetensors package. Follows https://github.com/huggingface/safetensors: an 8-byte
little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}
padded with spaces to a multiple of 8, then the tensors' bytes, contiguous, in data_offsets order."""
import json
import struct

import numpy as np

DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"), "U8": np.dtype("u1")}
NAMES = {v: k for k, v in DTYPES.items()}


def save(path, arrays, metadata=None):
    """arrays: {name: numpy array}; written in name order, like safetensors sorts equal-alignment tensors."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name in sorted(arrays):
        a = np.array(arrays[name], order="C")  # not ascontiguousarray: it makes 0-d arrays 1-d
        a = a.astype(a.dtype.newbyteorder("<"))
        blob = a.tobytes()
        header[name] = {"dtype": NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load(path):
    """Returns ({name: numpy array}, metadata), checking the layout as strictly as the reference reader."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert 8 + n <= len(data), "header runs past the end"
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    body = data[8 + n:]
    arrays, end = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, stop = info["data_offsets"]
        assert begin == end, f"{name}: data is not contiguous"
        dtype = DTYPES[info["dtype"]]
        count = int(np.prod(info["shape"], dtype=np.int64))
        assert stop - begin == count * dtype.itemsize, f"{name}: size mismatch"
        arrays[name] = np.frombuffer(body[begin:stop], dtype=dtype).reshape(info["shape"]).copy()
        end = stop
    assert end == len(body), "trailing data"
    return arrays, metadata
