"""COLMAP binary model readers shared by the probe scripts here (standard library only)."""
import struct
import sys


def images(path):
    """images.bin: name -> (world-to-camera rotation rows, translation, camera id)."""
    b = open(path, "rb").read()
    count, o, out = struct.unpack("<Q", b[:8])[0], 8, {}
    for _ in range(count):
        _, qw, qx, qy, qz, tx, ty, tz, cid = struct.unpack("<idddddddi", b[o:o + 64])
        o += 64
        end = b.index(b"\0", o)
        name, o = b[o:end].decode(), end + 1
        o += 8 + struct.unpack("<Q", b[o:o + 8])[0] * 24
        r = [[1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qw * qz), 2 * (qx * qz + qw * qy)],
             [2 * (qx * qy + qw * qz), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qw * qx)],
             [2 * (qx * qz - qw * qy), 2 * (qy * qz + qw * qx), 1 - 2 * (qx * qx + qy * qy)]]
        out[name] = (r, [tx, ty, tz], cid)
    return out


def centre(pose):
    """The camera centre -R^T t of an `images` entry."""
    r, t, _ = pose
    return [-sum(r[i][c] * t[i] for i in range(3)) for c in range(3)]


def pinhole_cameras(path):
    """cameras.bin (PINHOLE only): id -> (width, height, fx, fy, cx, cy)."""
    b = open(path, "rb").read()
    count, o, out = struct.unpack("<Q", b[:8])[0], 8, {}
    for _ in range(count):
        cid, model, w, h = struct.unpack("<iiQQ", b[o:o + 24])
        o += 24
        if model != 1:
            sys.exit(f"{path}: camera {cid} is not PINHOLE (run `splat undistort` first)")
        out[cid] = (w, h) + struct.unpack("<4d", b[o:o + 32])
        o += 32
    return out
