"""Does a generated image copy a training photo? Nearest real neighbours in a *generic* feature space.

A privacy claim for synthetic faces needs more than "the identity is new": the images must not be
near copies of the real photos. Identity features cannot tell: two photos of the same person are
*meant* to be close there. So each generated image is compared with every real image in a generic
image-feature space (DINOv2 on ``sd21``, the toy VAE's latents on ``toy``), and its distance to the
nearest is judged against how close real photos come to *each other*: the real-vs-real baseline,
each real photo's distance to its nearest other real photo. A generated image is a near copy when
it is at most ``copy_factor`` times the baseline's 5th percentile from a real photo — far closer
than any two different real photos usually are. (Byte-identical files are left out of both sets
before this, see :mod:`~idbooth_lib.evaluation.faces`: a real set with duplicates would otherwise bring that percentile,
and the threshold, down to zero.)
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import pairwise_distances

from idbooth_lib.evaluation.diversity import unit_rows


def nearest_real(generated: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each generated row's cosine distance to its nearest real row, and that row's index."""
    distances = (
        pairwise_distances(unit_rows(generated), unit_rows(real), metric="euclidean") ** 2 / 2
    )
    return distances.min(1), distances.argmin(1)


def real_baseline(real: np.ndarray) -> np.ndarray:
    """Each real row's cosine distance to its nearest *other* real row."""
    distances = pairwise_distances(unit_rows(real), metric="euclidean") ** 2 / 2
    np.fill_diagonal(distances, np.inf)
    return distances.min(1)


def memorisation(
    generated: np.ndarray, real: np.ndarray, copy_factor: float = 0.5, quantile: float = 0.05
) -> dict:
    """Nearest-real distances, the real-vs-real baseline, the threshold and ``near_copy_share``."""
    if len(real) < 2:
        raise ValueError("the real-vs-real baseline needs at least two real images")
    distances, indices = nearest_real(generated, real)
    baseline = real_baseline(real)
    threshold = copy_factor * float(np.quantile(baseline, quantile))
    copies = distances <= threshold
    return {
        "nearest_real_distance": distances.tolist(),
        "nearest_real_index": indices.tolist(),
        "nearest_real_distance_mean": float(distances.mean()),
        "real_baseline_mean": float(baseline.mean()),
        "real_baseline_quantile": float(np.quantile(baseline, quantile)),
        "threshold": threshold,
        "near_copy_share": float(copies.mean()),
        "near_copies": int(copies.sum()),
    }
