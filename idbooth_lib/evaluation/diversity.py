"""How varied a set of images is: the Vendi score, the mean pairwise distance, the spread of pose.

The Vendi score (Friedman & Dieng, 2023) is the *effective number of distinct items* in a set: with
``K`` the similarity matrix of ``n`` items (``K[i, i] = 1``), it is ``exp(−Σ λ log λ)`` over the
eigenvalues ``λ`` of ``K / n``. ``n`` identical items score 1, ``n`` mutually orthogonal ones
score ``n``. Written here (eight lines) rather than taken from the ``vendi-score`` package, which
is an unmaintained 2022 source release that brings its own image models along.

Head pose comes from the five detected landmarks, which every detector here gives (toy and
SCRFD): roll is the angle of the eye line; yaw and pitch are measured as *proxies* — where the nose
tip sits between the eyes (left–right) and between the eyes and the mouth (up–down) — not in
degrees. Their spread says how much the set varies its pose.
"""

from __future__ import annotations

import numpy as np


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero): what every cosine here starts from."""
    features = np.asarray(features, float)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def cosine_similarities(features: np.ndarray) -> np.ndarray:
    """``K[i, j] = cos(f_i, f_j)`` of L2-normalised rows."""
    unit = unit_rows(features)
    return unit @ unit.T


def vendi_score(features: np.ndarray) -> float:
    """The effective number of distinct rows of ``features`` under cosine similarity."""
    similarities = cosine_similarities(features)
    eigenvalues = np.linalg.eigvalsh(similarities / len(similarities))
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    return float(np.exp(-(eigenvalues * np.log(eigenvalues)).sum()))


def mean_pairwise_distance(features: np.ndarray) -> float:
    """Mean cosine distance ``1 − cos`` over all pairs of different rows."""
    similarities = cosine_similarities(features)
    count = len(similarities)
    if count < 2:
        raise ValueError("a pairwise distance needs at least two items")
    upper = np.triu_indices(count, k=1)
    return float((1 - similarities[upper]).mean())


def landmark_pose(landmarks: np.ndarray) -> np.ndarray:
    """``(N, 3)`` head pose from five landmarks ``(N, 5, 2)`` (eyes, nose, mouth corners):
    yaw proxy (nose offset from the eye midpoint, in eye distances; 0 frontal), pitch proxy
    (nose height between eye line 0 and mouth line 1) and roll in degrees."""
    points = np.asarray(landmarks, float).reshape(-1, 5, 2)
    left_eye, right_eye, nose = points[:, 0], points[:, 1], points[:, 2]
    eyes, mouth = (left_eye + right_eye) / 2, (points[:, 3] + points[:, 4]) / 2
    eye_line = right_eye - left_eye
    if (np.linalg.norm(eye_line, axis=1) < 1e-6).any():
        raise ValueError("landmark pose needs the two eyes apart; got coincident eye landmarks")
    roll = np.degrees(np.arctan2(eye_line[:, 1], eye_line[:, 0]))
    # into the face's own frame: x along the eye line, y towards the mouth
    unit_x = eye_line / np.linalg.norm(eye_line, axis=1, keepdims=True)
    unit_y = np.stack([-unit_x[:, 1], unit_x[:, 0]], axis=1)
    offset, mouth_offset = nose - eyes, mouth - eyes
    yaw = (offset * unit_x).sum(1) / np.linalg.norm(eye_line, axis=1)
    pitch = (offset * unit_y).sum(1) / np.maximum((mouth_offset * unit_y).sum(1), 1e-6)
    return np.stack([yaw, pitch, roll], axis=1)


def pose_spread(landmarks: np.ndarray) -> dict[str, float]:
    """Standard deviation of each :func:`landmark_pose` component over a set."""
    pose = landmark_pose(landmarks)
    return {
        "yaw_proxy_std": float(pose[:, 0].std()),
        "pitch_proxy_std": float(pose[:, 1].std()),
        "roll_degrees_std": float(pose[:, 2].std()),
    }
