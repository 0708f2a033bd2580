#!/usr/bin/env python3
"""Probes behind figures in benches/RESULTS.md (standard library only).

  model_probe.py checkpoint-share CKPT
      the bytes of a splat checkpoint through its model's arrays (header included, what
      `splat view s3://` fetches) against the whole file
  model_probe.py zero-sh-rest IN.ply OUT.ply
      a binary little-endian 3DGS PLY with every f_rest_* (SH bands 1-3) set to 0, to score a
      model on its base colours alone (`splat eval OUT.ply DATA`)
  model_probe.py training-views WORKSPACE OUT
      a workspace (OUT/sparse/0, OUT/images linked to WORKSPACE's) without the photos
      `--test-every 8` holds out and without points, so that `splat eval MODEL OUT` scores
      every 8th *training* photo
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


def training_views(ws, out):
    b = open(f"{ws}/sparse/0/images.bin", "rb").read()
    count, o, entries = struct.unpack("<Q", b[:8])[0], 8, []
    for _ in range(count):
        start = o
        o += 64
        end = b.index(b"\0", o)
        name, o = b[o:end].decode(), end + 1
        o += 8 + struct.unpack("<Q", b[o:o + 8])[0] * 24
        entries.append((name, b[start:o]))
    held_out = set(sorted(n for n, _ in entries)[::8])
    kept = [e for n, e in entries if n not in held_out]
    os.makedirs(f"{out}/sparse/0", exist_ok=True)
    with open(f"{ws}/sparse/0/cameras.bin", "rb") as f:
        open(f"{out}/sparse/0/cameras.bin", "wb").write(f.read())
    open(f"{out}/sparse/0/images.bin", "wb").write(struct.pack("<Q", len(kept)) + b"".join(kept))
    open(f"{out}/sparse/0/points3D.bin", "wb").write(struct.pack("<Q", 0))
    if not os.path.exists(f"{out}/images"):
        os.symlink(os.path.abspath(f"{ws}/images"), f"{out}/images")
    print(f"{out}: {len(kept)} training photos; `splat eval` scores every 8th of them")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "checkpoint-share":
        checkpoint_share(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "zero-sh-rest":
        zero_sh_rest(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "training-views":
        training_views(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
