"""How close a set of generated images is to the real ones, in a feature space: FD, PRDC, CMMD.

- Fréchet distance: the FID formula on any features (DINOv2's on ``sd21``, as the paper): Gaussians
  fitted to both sets, ``|μr − μg|² + tr(Σr + Σg − 2 (Σr Σg)^½)``. Written here, because the
  maintained FID packages compute it on their own Inception features only.
- Precision, recall, density and coverage (Naeem et al., 2020) from the ``prdc`` package, the
  authors' own: realism (precision, density) and variety (recall, coverage) judged by k-nearest-
  neighbour balls around real and generated features.
- CMMD (Jayasumana et al., 2024): the maximum mean discrepancy with a Gaussian kernel
  (σ = 10) on unit-length CLIP image embeddings, biased estimator, scaled by 1000, as its reference
  code computes it; written here (a few lines of NumPy) because that code is JAX/TensorFlow.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
from scipy import linalg

from idbooth_lib.evaluation.diversity import unit_rows


def frechet_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two ``(N, D)`` feature sets.

    ``tr (Σr Σg)^½`` is computed as ``Σ sqrt(λ)`` over the eigenvalues of the symmetric
    ``Σr^½ Σg Σr^½``, which has the same spectrum: symmetric eigendecompositions are fast and
    stable even when fewer images than feature dimensions leave the covariances singular, where
    a general matrix square root (``scipy.linalg.sqrtm``) takes seconds and may turn complex.
    """
    real, generated = np.asarray(real, float), np.asarray(generated, float)
    if min(len(real), len(generated)) < 2:
        raise ValueError("the Fréchet distance needs at least two feature vectors per set")
    mean_r, mean_g = real.mean(0), generated.mean(0)
    cov_r = np.atleast_2d(np.cov(real, rowvar=False))
    cov_g = np.atleast_2d(np.cov(generated, rowvar=False))
    values, vectors = linalg.eigh(cov_r)
    root_r = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    product = linalg.eigvalsh(root_r @ cov_g @ root_r)
    trace_root = float(np.sqrt(np.clip(product, 0, None)).sum())
    distance = ((mean_r - mean_g) ** 2).sum() + np.trace(cov_r) + np.trace(cov_g) - 2 * trace_root
    return max(float(distance), 0.0)  # rounding can leave identical sets a hair below zero


def precision_recall_density_coverage(
    real: np.ndarray, generated: np.ndarray, nearest_k: int = 5
) -> dict[str, float]:
    """``prdc.compute_prdc`` with ``k`` no larger than the smaller set allows — it ranks each
    point's ``k + 1``-th neighbour, itself included, so a set needs ``k + 2`` points (it also prints
    the set sizes; that line is swallowed)."""
    from prdc import compute_prdc

    smallest = min(len(real), len(generated))
    if smallest < 3:
        raise ValueError(
            f"precision / recall / density / coverage need at least 3 images per set, got {smallest}"
        )
    k = min(nearest_k, smallest - 2)
    with contextlib.redirect_stdout(io.StringIO()):
        values = compute_prdc(
            np.asarray(real, np.float32), np.asarray(generated, np.float32), nearest_k=k
        )
    return {name: float(value) for name, value in values.items()} | {"nearest_k": k}


def cmmd(
    real: np.ndarray, generated: np.ndarray, sigma: float = 10.0, scale: float = 1000.0
) -> float:
    """CMMD as its reference implementation computes it: rows L2-normalised, then the squared MMD
    with ``exp(−|x − y|² / 2σ²)`` from the means of the three kernel matrices, diagonals included
    (the biased estimator), times ``scale``."""
    real, generated = unit_rows(real), unit_rows(generated)
    if min(len(real), len(generated)) < 2:
        raise ValueError("CMMD needs at least two images per set")

    def kernel_mean(a: np.ndarray, b: np.ndarray) -> float:
        squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
        return float(np.exp(-np.maximum(squared, 0) / (2 * sigma**2)).mean())

    within = kernel_mean(real, real) + kernel_mean(generated, generated)
    return scale * (within - 2 * kernel_mean(real, generated))
