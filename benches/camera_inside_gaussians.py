#!/usr/bin/env python3
"""The Gaussians of a trained model that reach one of its cameras: those whose centre lies
within 3 x its largest scale of the camera centre (opacity over 0.05), nearest first; with OUT,
also writes the model with them faded out (opacity logit -20), to compare with `splat eval`.
Standard library only (no numpy).

    python3 benches/camera_inside_gaussians.py WORKSPACE IMAGE_NAME [OUT.ply]

WORKSPACE holds sparse/0/images.bin and point_cloud.ply (a `splat run` folder)."""
import math
import struct
import sys

import colmap_model


def main():
    ws, name = sys.argv[1], sys.argv[2]
    pose = colmap_model.images(ws + "/sparse/0/images.bin")[name]
    rotation, centre = pose[0], colmap_model.centre(pose)
    with open(ws + "/point_cloud.ply", "rb") as f:
        header = b""
        while not header.endswith(b"end_header\n"):
            header += f.readline()
        data = bytearray(f.read())
    lines = header.split(b"\n")
    props = [line.split()[-1].decode() for line in lines if line.startswith(b"property")]
    count = int(next(line for line in lines if line.startswith(b"element vertex")).split()[-1])
    ix = {p: i for i, p in enumerate(props)}
    fmt, size = "<%df" % len(props), 4 * len(props)
    reach = []
    for i in range(count):
        v = struct.unpack_from(fmt, data, i * size)
        d = [v[ix["x"]] - centre[0], v[ix["y"]] - centre[1], v[ix["z"]] - centre[2]]
        depth = sum(rotation[2][c] * d[c] for c in range(3))
        dist = math.sqrt(sum(q * q for q in d))
        scale = max(math.exp(v[ix["scale_%d" % k]]) for k in range(3))
        opacity = 1 / (1 + math.exp(-v[ix["opacity"]]))
        if dist < 3 * scale and opacity > 0.05:
            reach.append((dist, scale, opacity, depth, i))
    reach.sort()
    print("camera centre", centre, "Gaussians reaching it (opacity > 0.05):", len(reach))
    for r in reach[:10]:
        print("dist %.3f largest scale %.3f opacity %.2f depth %.3f index %d" % r)
    if len(sys.argv) > 3:
        for *_, i in reach:
            struct.pack_into("<f", data, i * size + 4 * ix["opacity"], -20.0)
        with open(sys.argv[3], "wb") as f:
            f.write(header + bytes(data))
        print("wrote", sys.argv[3], "with those", len(reach), "faded out")


if __name__ == "__main__":
    main()
