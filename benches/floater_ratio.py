#!/usr/bin/env python3
"""The rule of `splat_train::floaters` applied after the fact to a trained model: fades out
(opacity logit -20) every Gaussian whose nearest training camera that has its centre in its
picture is more than RATIO times farther than the nearest training camera it lies in front of
(one in no picture is kept), and writes the model, to score with `splat eval OUT.ply
WORKSPACE`. Two earlier forms of the rule for comparison: `--any-nearest` measures from the
nearest camera whatever side the Gaussian is on, `--front-of-nearest` does too but keeps a
Gaussian behind that camera. `--unseen-too` also fades the Gaussians in no training picture
(which the rule keeps). Needs numpy.

    python3 benches/floater_ratio.py WORKSPACE MODEL.ply RATIO OUT.ply
        [--any-nearest | --front-of-nearest] [--unseen-too]

WORKSPACE holds sparse/0/{cameras,images}.bin with PINHOLE cameras; the training cameras are
all but every 8th photo by name (`splat train --test-every 8`); the near plane is training's
(1 % of 1.1 x the cameras' largest distance from their mean)."""
import sys

import numpy as np

from colmap_model import centre, images, pinhole_cameras


def main():
    forms = {"--any-nearest", "--front-of-nearest"}
    unseen_too = "--unseen-too" in sys.argv[1:]
    args = [a for a in sys.argv[1:] if a not in forms and a != "--unseen-too"]
    form = next((a for a in sys.argv[1:] if a in forms), "")
    if len(args) != 4:
        sys.exit(__doc__)
    ws, model, ratio, out = args[0], args[1], float(args[2]), args[3]
    cams = pinhole_cameras(f"{ws}/sparse/0/cameras.bin")
    poses = images(f"{ws}/sparse/0/images.bin")
    names = sorted(poses)
    train = [n for i, n in enumerate(names) if i % 8 != 0]
    centres = np.array([centre(poses[n]) for n in names])
    near = 0.011 * np.max(np.linalg.norm(centres - centres.mean(0), axis=1))
    data = open(model, "rb").read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    props = [l.split()[-1] for l in data[:end].decode().splitlines() if l.startswith("property")]
    values = np.frombuffer(data[end:], dtype="<f4").reshape(-1, len(props)).copy()
    means = values[:, [props.index(a) for a in "xyz"]].astype(np.float64)
    d_near = np.full(len(means), np.inf)
    d_seen = np.full(len(means), np.inf)
    depth_at_nearest = np.zeros(len(means))
    d_front = np.full(len(means), np.inf)
    for n in train:
        r, t, cid = poses[n]
        w, h, fx, fy, cx, cy = cams[cid]
        p = means @ np.array(r).T + np.array(t)
        z = np.maximum(p[:, 2], 1e-12)
        u, v = fx * p[:, 0] / z + cx, fy * p[:, 1] / z + cy
        seen = (p[:, 2] > near) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        d = np.linalg.norm(means - np.array(centre(poses[n])), axis=1)
        depth_at_nearest = np.where(d < d_near, p[:, 2], depth_at_nearest)
        d_near = np.minimum(d_near, d)
        d_front = np.minimum(d_front, np.where(p[:, 2] > 0, d, np.inf))
        d_seen = np.minimum(d_seen, np.where(seen, d, np.inf))
    if form:
        floaters = np.isfinite(d_seen) & (d_seen > ratio * d_near)
        if form == "--front-of-nearest":
            floaters &= depth_at_nearest > 0
    else:
        floaters = np.isfinite(d_seen) & (d_seen > ratio * d_front)
    if unseen_too:
        floaters |= np.isinf(d_seen)
    values[floaters, props.index("opacity")] = -20.0
    open(out, "wb").write(data[:end] + values.tobytes())
    print(f"faded {floaters.sum()} of {len(means)} (in no training picture: {np.isinf(d_seen).sum()}); wrote {out}")


if __name__ == "__main__":
    main()
