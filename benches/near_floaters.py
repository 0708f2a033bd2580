#!/usr/bin/env python3
"""The Gaussians of a trained model floating just in front of one (held-out) camera: those
whose centre lies in its field of view widened as the rasterizer's clamp widens it (1.3 x the
half-angle tangents: a large Gaussian centred just outside the picture still covers it),
between NEAR and FAR units in front of it, opacity over 0.05,
nearest first, each with how many training cameras have it in their picture and how close the
nearest of those stands. With OUT, also writes the model with them faded out (opacity logit
-20), to compare with `splat eval`; and the largest radius the rasterizer gives each in a
training view (pixels at `--resolution`), which a screen-size pruning rule would test.
Standard library only (no numpy).

    python3 benches/near_floaters.py WORKSPACE MODEL.ply IMAGE_NAME [--near 0.5] [--far 2]
        [--resolution PX] [--out OUT.ply]

WORKSPACE holds sparse/0/{cameras,images}.bin with PINHOLE cameras (a `splat run` folder or
the workspace `splat train` read); the training cameras are all but every 8th photo by name,
as `splat train --test-every 8` holds them out."""
import argparse
import math
import struct

from colmap_model import centre, images, pinhole_cameras

# splat_train::constants::FOV_CLAMP
FOV_CLAMP = 1.3


def scaled(cam, k):
    w, h, fx, fy, cx, cy = cam
    return (round(w * k), round(h * k), fx * k, fy * k, cx * k, cy * k)


def in_picture(pose, cam, p, widen=1.0):
    """(depth, whether the point projects inside the picture; with `widen` > 1, inside the
    field of view with its half-angle tangents that many times larger)."""
    r, t, _ = pose
    w, h, fx, fy, cx, cy = cam
    x, y, z = (sum(r[i][k] * p[k] for k in range(3)) + t[i] for i in range(3))
    if z <= 0:
        return z, False
    if widen != 1.0:
        return z, abs(x / z) <= widen * w / (2 * fx) and abs(y / z) <= widen * h / (2 * fy)
    u, v = fx * x / z + cx, fy * y / z + cy
    return z, 0 <= u < w and 0 <= v < h


def screen_radius(pose, cam, p, cov):
    """The radius (pixels, 3 sigma of the larger axis) the rasterizer gives a Gaussian at `p`
    with 3D covariance `cov` in this view, the Jacobian's point clamped to FOV_CLAMP times the
    half-angle tangents and the 2D covariance dilated by 0.3, as `forward.wgsl` computes it."""
    r, t, _ = pose
    w, h, fx, fy, _, _ = cam
    x, y, z = (sum(r[i][k] * p[k] for k in range(3)) + t[i] for i in range(3))
    lx, ly = FOV_CLAMP * w / (2 * fx), FOV_CLAMP * h / (2 * fy)
    tx, ty = max(-lx, min(lx, x / z)), max(-ly, min(ly, y / z))
    j = [[fx / z, 0, -fx * tx / z], [0, fy / z, -fy * ty / z]]
    m = [[sum(j[a][k] * r[k][c] for k in range(3)) for c in range(3)] for a in range(2)]
    c2 = [[sum(m[a][i] * cov[i][k] * m[b][k] for i in range(3) for k in range(3))
           for b in range(2)] for a in range(2)]
    a, b, c = c2[0][0] + 0.3, c2[0][1], c2[1][1] + 0.3
    mid = (a + c) / 2
    return math.ceil(3 * math.sqrt(mid + math.sqrt(max(0.1, mid * mid - (a * c - b * b)))))


def covariance(row, col, power=2):
    """R S^power R^T of a PLY row (unnormalised quaternion w x y z, log scales): the 3D
    covariance, or with power -2 its inverse."""
    q = [row[col[f"rot_{i}"]] for i in range(4)]
    n = math.sqrt(sum(v * v for v in q))
    w, x, y, z = (v / n for v in q)
    r = [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
         [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
         [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]
    s2 = [math.exp(power * row[col[f"scale_{i}"]]) for i in range(3)]
    return [[sum(r[a][k] * s2[k] * r[b][k] for k in range(3)) for b in range(3)] for a in range(3)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workspace")
    ap.add_argument("model")
    ap.add_argument("image")
    ap.add_argument("--near", type=float, default=0.5)
    ap.add_argument("--far", type=float, default=2.0)
    ap.add_argument("--resolution", type=int, help="training's --resolution (radii in its pixels)")
    ap.add_argument("--out", help="write the model with these Gaussians faded out")
    a = ap.parse_args()
    ws, model, target, near, far, out = a.workspace, a.model, a.image, a.near, a.far, a.out
    cams = pinhole_cameras(f"{ws}/sparse/0/cameras.bin")
    if a.resolution:
        # Intrinsics scaled as training scales them to a longest side of --resolution pixels.
        cams = {c: scaled(cam, a.resolution / max(cam[0], cam[1])) for c, cam in cams.items()}
    poses = images(f"{ws}/sparse/0/images.bin")
    names = sorted(poses)
    train = [n for i, n in enumerate(names) if i % 8 != 0]
    # Training's near plane: 1 % of the extent (1.1 x the cameras' largest distance from their
    # mean), as splat_train::train::init::default_near sets it.
    centres = [centre(poses[n]) for n in names]
    mean = [sum(c[k] for c in centres) / len(centres) for k in range(3)]
    near_plane = 0.011 * max(math.dist(c, mean) for c in centres)
    data = open(model, "rb").read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    props = [l.split()[-1] for l in data[:end].decode().splitlines() if l.startswith("property")]
    k = len(props)
    col = {p: i for i, p in enumerate(props)}
    count = (len(data) - end) // (4 * k)
    values = struct.unpack(f"<{count * k}f", data[end:end + 4 * count * k])
    pose = poses[target]
    cam = cams[pose[2]]
    found = []
    for g in range(count):
        row = values[g * k:(g + 1) * k]
        opacity = 1 / (1 + math.exp(-row[col["opacity"]]))
        if opacity <= 0.05:
            continue
        p = [row[col["x"]], row[col["y"]], row[col["z"]]]
        z, inside = in_picture(pose, cam, p, FOV_CLAMP)
        if inside and near < z < far:
            found.append((z, g, p, opacity, row))
    found.sort()
    print(f"{len(found)} Gaussians in {target}'s widened view {near}-{far} units in front, opacity > 0.05:")
    print("depth  opacity  largest scale  base colour         training views   nearest such (units)"
          "   largest radius in a training view (px)")
    for z, g, p, opacity, row in found:
        scale = max(math.exp(row[col[f"scale_{i}"]]) for i in range(3))
        dc = [0.5 + 0.28209479 * row[col[f"f_dc_{i}"]] for i in range(3)]
        seen = [n for n in train if in_picture(poses[n], cams[poses[n][2]], p)[1]]
        nearest = min((math.dist(centre(poses[n]), p) for n in seen), default=float("nan"))
        cov, inv = covariance(row, col), covariance(row, col, -2)
        # Where the rasterizer draws it: in front of the near plane, the camera outside its
        # 3-sigma ellipsoid, its box on the picture.
        radius = 0
        for n in train:
            cam_n = cams[poses[n][2]]
            depth, _ = in_picture(poses[n], cam_n, p)
            d = [centre(poses[n])[k] - p[k] for k in range(3)]
            inside = sum(d[a] * inv[a][b] * d[b] for a in range(3) for b in range(3)) < 9
            if depth <= near_plane or inside:
                continue
            rad = screen_radius(poses[n], cam_n, p, cov)
            r, t, _ = poses[n]
            x, y = (sum(r[i][k] * p[k] for k in range(3)) + t[i] for i in range(2))
            u, v = cam_n[2] * x / depth + cam_n[4], cam_n[3] * y / depth + cam_n[5]
            if -rad < u < cam_n[0] + rad and -rad < v < cam_n[1] + rad:
                radius = max(radius, rad)
        print(f"{z:5.2f}  {opacity:7.2f}  {scale:13.3f}  ({dc[0]:.2f}, {dc[1]:.2f}, {dc[2]:.2f})  "
              f"{len(seen):15d}   {nearest:20.2f}   {radius:5d}")
    if out:
        faded = bytearray(data)
        for _, g, *_ in found:
            struct.pack_into("<f", faded, end + 4 * (g * k + col["opacity"]), -20.0)
        open(out, "wb").write(bytes(faded))
        print(f"wrote {out} with those {len(found)} faded out")


if __name__ == "__main__":
    main()
