"""SE(3) helpers, quaternions and TUM trajectory files.

Convention (DESIGN.md section 4): `T_a_b` is a 4x4 float64 matrix mapping points in frame b to
frame a; camera poses are `T_world_cam`. Quaternions are stored (x, y, z, w) as in ROS and TUM.
Time is int64 nanoseconds; TUM files hold float seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from slam_nodes.errors import DatasetError
from slam_nodes.types.errors import InvalidValueError

NS_PER_S = 1_000_000_000


def make_pose(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """4x4 pose from a 3x3 rotation and a 3-vector translation (metres)."""
    T = np.eye(4)
    T[:3, :3] = rotation
    T[:3, 3] = translation
    return T


def invert_pose(T: np.ndarray) -> np.ndarray:
    """Inverse of one pose [4,4] or a stack [..., 4, 4] of rigid transforms."""
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    out = np.zeros_like(T)
    Rt = np.swapaxes(R, -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", Rt, t)
    out[..., 3, 3] = 1.0
    return out


def nearest_pose(T: np.ndarray) -> np.ndarray:
    """float64 [4, 4] copy of T with its 3x3 block re-projected onto the nearest rotation
    (SVD) and the last row [0, 0, 0, 1]: a chain of products of float poses drifts off SO(3)."""
    M = np.array(T, dtype=np.float64)
    U, _, Vt = np.linalg.svd(M[:3, :3])
    if np.linalg.det(U @ Vt) < 0:
        U[:, -1] *= -1
    M[:3, :3] = U @ Vt
    M[3] = [0, 0, 0, 1]
    return M


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply pose T [4,4] to points [N,3] (same dtype as points)."""
    return (points @ T[:3, :3].T.astype(points.dtype)) + T[:3, 3].astype(points.dtype)


def quat_to_matrix(q_xyzw: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] from quaternions [..., 4] in (x, y, z, w) order.

    Quaternions need not be normalised; a zero quaternion raises ValueError.
    """
    return Rotation.from_quat(np.asarray(q_xyzw, dtype=float)).as_matrix()


def matrix_to_quat(R: np.ndarray) -> np.ndarray:
    """Unit quaternions [..., 4] (x, y, z, w), w >= 0, from rotation matrices [..., 3, 3]."""
    q = Rotation.from_matrix(np.asarray(R, dtype=float)).as_quat()
    return np.where(q[..., 3:4] < 0, -q, q)


def pose_from_tq(t_xyz: np.ndarray, q_xyzw: np.ndarray) -> np.ndarray:
    """Poses [..., 4, 4] from translations [..., 3] and quaternions [..., 4] (x, y, z, w)."""
    t = np.asarray(t_xyz, dtype=float)
    R = quat_to_matrix(q_xyzw)
    T = np.zeros(t.shape[:-1] + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def pose_to_tq(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Translations [..., 3] and quaternions [..., 4] (x, y, z, w) of poses [..., 4, 4]."""
    return T[..., :3, 3].copy(), matrix_to_quat(T[..., :3, :3])


def rotation_angle(R: np.ndarray) -> np.ndarray:
    """Rotation angle in radians of rotation matrices [..., 3, 3]."""
    cos = (np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


@dataclass
class Trajectory:
    """Timestamped poses: `stamps_ns` int64 [N], `poses` float64 [N,4,4] (T_world_body)."""

    stamps_ns: np.ndarray
    poses: np.ndarray

    def __post_init__(self) -> None:
        self.stamps_ns = np.asarray(self.stamps_ns, dtype=np.int64).reshape(-1)
        self.poses = np.asarray(self.poses, dtype=np.float64).reshape(-1, 4, 4)
        if len(self.stamps_ns) != len(self.poses):
            raise InvalidValueError(
                f"trajectory has {len(self.stamps_ns)} stamps but {len(self.poses)} poses"
            )

    def __len__(self) -> int:
        return len(self.stamps_ns)

    @property
    def positions(self) -> np.ndarray:
        """Translations [N,3] in metres."""
        return self.poses[:, :3, 3]

    def interpolate(self, stamps_ns: np.ndarray) -> np.ndarray:
        """Poses [M,4,4] at `stamps_ns` (inside the trajectory's span): linear translation, slerp.

        Raises InvalidValueError (a ValueError) for stamps outside [first, last] or a
        trajectory with < 2 poses.
        """
        stamps = np.asarray(stamps_ns, dtype=np.int64)
        if len(self) < 2:
            raise InvalidValueError("interpolation needs at least two poses")
        if stamps.min() < self.stamps_ns[0] or stamps.max() > self.stamps_ns[-1]:
            raise InvalidValueError(
                "interpolation stamps lie outside the trajectory's time span")
        t_ref = (self.stamps_ns - self.stamps_ns[0]).astype(np.float64)
        t_q = (stamps - self.stamps_ns[0]).astype(np.float64)
        slerp = Slerp(t_ref, Rotation.from_matrix(self.poses[:, :3, :3]))
        out = np.zeros((len(stamps), 4, 4))
        out[:, :3, :3] = slerp(t_q).as_matrix()
        for axis in range(3):
            out[:, axis, 3] = np.interp(t_q, t_ref, self.poses[:, axis, 3])
        out[:, 3, 3] = 1.0
        return out


def read_tum(path: str | Path) -> Trajectory:
    """Read a TUM trajectory (`t tx ty tz qx qy qz qw`, seconds; '#' comments allowed)."""
    path = Path(path)
    stamps: list[int] = []
    rows: list[list[float]] = []
    try:
        text = path.read_text()
    except OSError as err:
        raise DatasetError(f"cannot read TUM file {path}: {err}") from err
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 8:
            raise DatasetError(f"{path}:{lineno}: expected 8 columns, got {len(parts)}")
        try:
            stamps.append(seconds_text_to_ns(parts[0]))
            rows.append([float(v) for v in parts[1:]])
        except ValueError as err:
            raise DatasetError(f"{path}:{lineno}: {err}") from err
    data = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    if len(data) and not np.isfinite(data).all():
        raise DatasetError(f"{path}: contains NaN or infinite values")
    zero_q = np.linalg.norm(data[:, 3:], axis=1) < 1e-12
    if np.any(zero_q):
        raise DatasetError(f"{path}: zero quaternion at pose {int(np.argmax(zero_q))}")
    poses = pose_from_tq(data[:, :3], data[:, 3:]) if len(data) else np.zeros((0, 4, 4))
    return Trajectory(np.asarray(stamps, dtype=np.int64), poses)


def write_tum(path: str | Path, trajectory: Trajectory) -> None:
    """Write a TUM trajectory; stamps are written in seconds with nanosecond precision."""
    path = Path(path)
    t, q = pose_to_tq(trajectory.poses) if len(trajectory) else (np.zeros((0, 3)), np.zeros((0, 4)))
    lines = ["# timestamp tx ty tz qx qy qz qw"]
    for stamp, ti, qi in zip(trajectory.stamps_ns, t, q):
        sign = "-" if stamp < 0 else ""
        sec, nsec = divmod(abs(int(stamp)), NS_PER_S)
        lines.append(
            f"{sign}{sec}.{nsec:09d} " + " ".join(f"{v:.9f}" for v in (*ti, *qi))
        )
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def seconds_text_to_ns(text: str) -> int:
    """Exact seconds-as-text to int64 ns ('1305031102.175304' -> 1305031102175304000;
    '1.706282470098386526e+09' -> 1706282470098386526), as TUM files and dataset lists write
    stamps; no float rounding. Raises ValueError (InvalidValueError) for text that is not a
    finite number."""
    if "e" in text.lower() or "n" in text.lower():  # exponent (or nan/inf, rejected below)
        try:
            value = Decimal(text) * NS_PER_S
            return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))
        except (InvalidOperation, ValueError, OverflowError) as err:
            raise InvalidValueError(f"bad timestamp {text!r}") from err
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = (text[1:] if text[:1] in "+-" else text).partition(".")
    if not (whole + frac).isascii() or not (whole + frac).isdigit():  # "", "1.2.3", "+-1"
        raise InvalidValueError(f"bad timestamp {text!r}")
    frac = (frac + "000000000")[:9]
    return sign * (int(whole or "0") * NS_PER_S + int(frac))
