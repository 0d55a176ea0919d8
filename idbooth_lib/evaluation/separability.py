"""How well a recogniser tells one identity from another: error rates and separation of scores.

Every number of the paper's identity table comes from two sets of cosine scores: *genuine* pairs
(two images of the same identity) and *impostor* pairs (two identities). The error rates are read
off the ROC curve, which scikit-learn computes exactly for every threshold (``roc_curve``):

- FMR (false match rate): the share of impostor pairs at or above the threshold;
- FNMR (false non-match rate): the share of genuine pairs below it;
- EER: where the two are equal (interpolated between the two thresholds that bracket it);
- FNMR@FMR=x: the lowest FNMR of any threshold whose FMR is at most x (FMR100: x = 1e-2,
  FMR1000: x = 1e-3); reported as None when fewer than 1/x impostor pairs cannot resolve x.

The separation of the two distributions: Fisher's discriminant ratio
``FDR = (μg − μi)² / (σg² + σi²)`` (the paper's) and the decidability index
``d′ = |μg − μi| / sqrt((σg² + σi²) / 2)``.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve

from idbooth_lib.evaluation.diversity import unit_rows


def _labelled(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    genuine, impostor = np.asarray(genuine, float).ravel(), np.asarray(impostor, float).ravel()
    if len(genuine) == 0 or len(impostor) == 0:
        raise ValueError(
            f"error rates need genuine and impostor pairs, got {len(genuine)} and {len(impostor)}"
        )
    scores = np.concatenate([genuine, impostor])
    same = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(impostor), bool)])
    return scores, same


def error_curve(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(fmr, fnmr)`` at every threshold, from the strictest to the most lenient."""
    scores, same = _labelled(genuine, impostor)
    fmr, tmr, _ = roc_curve(same, scores, drop_intermediate=False)
    return fmr, 1 - tmr


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """The EER: FMR = FNMR, linearly interpolated where the two curves cross."""
    return interpolated_crossing(*error_curve(genuine, impostor))


def interpolated_crossing(fmr: np.ndarray, fnmr: np.ndarray) -> float:
    """Where an error curve's FMR catches up with its FNMR (thresholds from the strictest),
    linearly interpolated between the two thresholds that bracket it: the EER."""
    crossed = int(np.argmax(fmr >= fnmr))  # the first threshold at which FMR has caught up
    if crossed == 0:
        return float((fmr[0] + fnmr[0]) / 2)
    before, after = crossed - 1, crossed
    gap_before, gap_after = fnmr[before] - fmr[before], fmr[after] - fnmr[after]
    share = gap_before / (gap_before + gap_after) if gap_before + gap_after > 0 else 0.0
    return float(fmr[before] + share * (fmr[after] - fmr[before]))


def fnmr_at_fmr(genuine: np.ndarray, impostor: np.ndarray, fmr_limit: float) -> float:
    """The lowest FNMR among thresholds whose FMR is at most ``fmr_limit``."""
    fmr, fnmr = error_curve(genuine, impostor)
    return float(fnmr[fmr <= fmr_limit].min())


def fisher_discriminant_ratio(genuine: np.ndarray, impostor: np.ndarray) -> float | None:
    """``(μg − μi)² / (σg² + σi²)``: the paper's FDR (None when neither set has any spread)."""
    genuine, impostor = np.asarray(genuine, float), np.asarray(impostor, float)
    spread = genuine.var() + impostor.var()
    return float((genuine.mean() - impostor.mean()) ** 2 / spread) if spread > 0 else None


def d_prime(genuine: np.ndarray, impostor: np.ndarray) -> float | None:
    """``|μg − μi| / sqrt((σg² + σi²) / 2)``: the decidability index (None without spread)."""
    genuine, impostor = np.asarray(genuine, float), np.asarray(impostor, float)
    spread = np.sqrt((genuine.var() + impostor.var()) / 2)
    return float(abs(genuine.mean() - impostor.mean()) / spread) if spread > 0 else None


def resolvable_fnmr(genuine: np.ndarray, impostor: np.ndarray, fmr_limit: float) -> float | None:
    """:func:`fnmr_at_fmr`, or None when there are too few impostor pairs (fewer than
    ``1 / fmr_limit``) for one false match to be rarer than the limit: the value would be the FNMR
    at FMR 0, not at the limit."""
    if len(impostor) * fmr_limit < 1:
        return None
    return fnmr_at_fmr(genuine, impostor, fmr_limit)


def separability(genuine: np.ndarray, impostor: np.ndarray) -> dict[str, float | int | None]:
    """Every identity measure of the paper's table for one pair of score sets.

    With no impostor pairs (one person: your own photos, chapter 08) there is no error rate to
    read, but how alike the person's images are still is: the genuine scores are kept and every
    measure that needs impostors is None.
    """
    genuine, impostor = np.asarray(genuine, float), np.asarray(impostor, float)
    one_person = len(genuine) > 0 and len(impostor) == 0

    def needs_impostors(measure):
        return None if one_person else measure()

    return {
        "eer": needs_impostors(lambda: equal_error_rate(genuine, impostor)),
        "fnmr_at_fmr_1e-2": needs_impostors(lambda: resolvable_fnmr(genuine, impostor, 1e-2)),
        "fnmr_at_fmr_1e-3": needs_impostors(lambda: resolvable_fnmr(genuine, impostor, 1e-3)),
        "genuine_mean": float(genuine.mean()),
        "genuine_std": float(genuine.std()),
        "impostor_mean": needs_impostors(lambda: float(impostor.mean())),
        "impostor_std": needs_impostors(lambda: float(impostor.std())),
        "fdr": needs_impostors(lambda: fisher_discriminant_ratio(genuine, impostor)),
        "d_prime": needs_impostors(lambda: d_prime(genuine, impostor)),
        "genuine_pairs": int(len(genuine)),
        "impostor_pairs": int(len(impostor)),
    }


def within_set_scores(embeddings: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:
    """Cosine scores of all pairs of one set: genuine (same label) and impostor (different).

    Each unordered pair once, never an image with itself (the paper's synthetic-vs-synthetic).
    """
    embeddings, labels = unit_rows(embeddings), np.asarray(labels)
    scores = embeddings @ embeddings.T
    upper = np.triu(np.ones_like(scores, dtype=bool), k=1)
    same = labels[:, None] == labels[None, :]
    return scores[upper & same], scores[upper & ~same]


def cross_set_scores(
    first: np.ndarray, first_labels, second: np.ndarray, second_labels
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine scores of every pair across two sets (e.g. synthetic vs real): genuine where the
    labels agree, impostor where they differ."""
    scores = unit_rows(first) @ unit_rows(second).T
    same = np.asarray(first_labels)[:, None] == np.asarray(second_labels)[None, :]
    return scores[same], scores[~same]


def similarity_to_real(
    synthetic: np.ndarray, synthetic_labels, real: np.ndarray, real_labels
) -> dict[str, float]:
    """Per identity, the mean cosine of its synthetic images to its own real photos: how much of
    the person the generator drew (the trade-off study's identity axis)."""
    scores = unit_rows(synthetic) @ unit_rows(real).T
    synthetic_labels, real_labels = np.asarray(synthetic_labels), np.asarray(real_labels)
    return {
        str(identity): float(
            scores[synthetic_labels == identity][:, real_labels == identity].mean()
        )
        for identity in sorted(set(synthetic_labels) & set(real_labels))
    }
