"""How close a set of generated images is to the real ones, in a feature space: FD, PRDC, CMMD.

- Fréchet distance: the FID formula on any features (DINOv2's on ``sd21``, as the paper): Gaussians
  fitted to both sets, ``|μr − μg|² + tr(Σr + Σg − 2 (Σr Σg)^½)``. Written here, because the
  maintained FID packages compute it on their own Inception features only.
- Precision, recall, density and coverage (Naeem et al., 2020) from the ``prdc`` package, the
  authors' own: realism (precision, density) and variety (recall, coverage) judged by k-nearest-
  neighbour balls around real and generated features.
- CMMD (Jayasumana et al., 2024): the maximum mean discrepancy with a Gaussian kernel
  (σ = 10) on CLIP image embeddings, scaled by 1000 as in its paper; written here (a few lines of
  NumPy) because its reference code is JAX/TensorFlow.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
from scipy import linalg


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
    """``prdc.compute_prdc`` with ``k`` no larger than the smaller set allows (it prints the set
    sizes; that line is swallowed)."""
    from prdc import compute_prdc

    k = max(1, min(nearest_k, len(real) - 1, len(generated) - 1))
    with contextlib.redirect_stdout(io.StringIO()):
        values = compute_prdc(
            np.asarray(real, np.float32), np.asarray(generated, np.float32), nearest_k=k
        )
    return {name: float(value) for name, value in values.items()} | {"nearest_k": k}


def cmmd(
    real: np.ndarray, generated: np.ndarray, sigma: float = 10.0, scale: float = 1000.0
) -> float:
    """The (unbiased) squared MMD between two embedding sets with ``exp(−|x−y|² / 2σ²)``."""
    real, generated = np.asarray(real, float), np.asarray(generated, float)

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
        return np.exp(-np.maximum(squared, 0) / (2 * sigma**2))

    def mean_off_diagonal(matrix: np.ndarray) -> float:
        count = len(matrix)
        return float((matrix.sum() - np.trace(matrix)) / (count * (count - 1)))

    within_r, within_g = kernel(real, real), kernel(generated, generated)
    across = kernel(real, generated).mean()
    return scale * (mean_off_diagonal(within_r) + mean_off_diagonal(within_g) - 2 * float(across))
