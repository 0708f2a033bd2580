#!/usr/bin/env python3
"""Two probes behind figures in benches/RESULTS.md (standard library only).

  model_probe.py checkpoint-share CKPT
      the bytes of a splat checkpoint through its model's arrays (header included, what
      `splat view s3://` fetches) against the whole file
  model_probe.py zero-sh-rest IN.ply OUT.ply
      a binary little-endian 3DGS PLY with every f_rest_* (SH bands 1-3) set to 0, to score a
      model on its base colours alone (`splat eval OUT.ply DATA`)
"""
import array
import json
import os
import struct
import sys

MODEL = ["means", "log_scales", "quats", "opacities", "sh"]


def checkpoint_share(path):
    with open(path, "rb") as f:
        f.readline()  # the magic line
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        start = f.tell()
    names = [a[0] for a in header["arrays"][: len(MODEL)]]
    if names != MODEL:
        sys.exit(f"{path}: its first arrays are {names}, not the model's")
    end = start + 4 * sum(a[1] for a in header["arrays"][: len(MODEL)])
    size = os.path.getsize(path)
    print(f"{header['count']} Gaussians: model {end / 1e6:.1f} MB of {size / 1e6:.1f} MB ({100 * end / size:.1f} %)")


def zero_sh_rest(src, dst):
    data = open(src, "rb").read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode().splitlines()
    if "format binary_little_endian 1.0" not in lines:
        sys.exit(f"{src}: not a binary little-endian PLY")
    props = [l.split()[-1] for l in lines if l.startswith("property float")]
    if len(props) != sum(l.startswith("property") for l in lines):
        sys.exit(f"{src}: a property is not a float")
    values = array.array("f")
    values.frombytes(data[end:])
    k = len(props)
    for i, name in enumerate(props):
        if name.startswith("f_rest_"):
            values[i::k] = array.array("f", bytes(4 * (len(values) // k)))
    open(dst, "wb").write(data[:end] + values.tobytes())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "checkpoint-share":
        checkpoint_share(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "zero-sh-rest":
        zero_sh_rest(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
