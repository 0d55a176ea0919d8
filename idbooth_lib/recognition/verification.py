"""Face verification: pairs of embeddings, a threshold, and the 10-fold protocol of LFW.

The protocol: split the pairs into 10 folds *in file order*; on 9 folds choose the cosine
threshold with the best accuracy, measure the accuracy on the 10th; report the mean and standard
deviation over the 10 folds. Choosing the threshold on held-out folds keeps the reported accuracy
honest, and keeping the file's order keeps the folds the benchmark's authors laid out (LFW's ten
sets of 600 pairs, each its own people). Each face is embedded as in insightface's evaluation:
the embedding of the image plus that of its mirror image, L2-normalised. TAR at FAR 1e-3 is read
off all pairs at once: the share of genuine pairs accepted at the threshold that accepts at most
one impostor pair in a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold


@dataclass(frozen=True)
class VerificationResult:
    """Mean and standard deviation of 10-fold accuracy, and the thresholds chosen per fold."""

    accuracy_mean: float
    accuracy_std: float
    thresholds: tuple[float, ...]


def sample_pairs(
    labels: np.ndarray, pairs_per_kind: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``pairs_per_kind`` genuine and as many impostor pairs of indices into ``labels``.

    Returns ``(pairs (2n, 2), same (2n,) bool)``. Pairs never repeat an image with itself.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    by_label = {label: np.flatnonzero(labels == label) for label in np.unique(labels)}
    eligible = [label for label, members in by_label.items() if len(members) >= 2]
    if not eligible or len(by_label) < 2:
        raise ValueError("need at least two identities, one of them with two or more images")
    genuine = []
    for label in rng.choice(eligible, size=pairs_per_kind):
        genuine.append(rng.choice(by_label[label], size=2, replace=False))
    impostor = []
    while len(impostor) < pairs_per_kind:
        first, second = rng.integers(0, len(labels), size=2)
        if labels[first] != labels[second]:
            impostor.append((first, second))
    pairs = np.concatenate([np.array(genuine), np.array(impostor)])
    same = np.concatenate([np.ones(pairs_per_kind, bool), np.zeros(pairs_per_kind, bool)])
    return pairs, same


def _best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold with the best accuracy, taken halfway between two neighbouring scores, so
    that a new score just beside a training score is not misjudged by an arbitrary tie-break."""
    ordered = np.unique(scores)
    candidates = np.concatenate([[ordered[0] - 1e-6], (ordered[1:] + ordered[:-1]) / 2])
    accuracies = [((scores >= threshold) == same).mean() for threshold in candidates]
    return float(candidates[int(np.argmax(accuracies))])


def ten_fold_accuracy(scores: np.ndarray, same: np.ndarray, folds: int = 10) -> VerificationResult:
    """Accuracy of thresholded cosine ``scores`` against ``same``, with the threshold chosen on
    the other folds (scikit-learn's ``KFold`` in the pairs' order, as insightface evaluates)."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    accuracies, thresholds = [], []
    for train, test in KFold(folds, shuffle=False).split(scores):
        threshold = _best_threshold(scores[train], same[train])
        thresholds.append(threshold)
        accuracies.append(((scores[test] >= threshold) == same[test]).mean())
    return VerificationResult(
        float(np.mean(accuracies)), float(np.std(accuracies)), tuple(thresholds)
    )


def pair_scores(embeddings: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine similarity of each pair of L2-normalised embeddings."""
    embeddings = np.asarray(embeddings, float)
    return np.einsum("nd,nd->n", embeddings[pairs[:, 0]], embeddings[pairs[:, 1]])


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float = 1e-3) -> float:
    """The share of genuine pairs scoring above the threshold that at most ``far`` of the
    impostor pairs exceed (with fewer than ``1/far`` impostors: above every impostor)."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    impostor = np.sort(scores[~same])[::-1]
    if not len(impostor) or not same.any():
        raise ValueError("TAR at a FAR needs genuine and impostor pairs")
    allowed = int(np.floor(far * len(impostor)))  # impostors that may be accepted
    threshold = impostor[allowed] if allowed < len(impostor) else -np.inf
    return float((scores[same] > threshold).mean())


def flip_sum_embeddings(embed, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """``embed(images) + embed(mirrored images)``, L2-normalised, batch by batch: insightface's
    test-time embedding. ``images`` are (N, H, W, 3) uint8; ``embed`` maps such a batch to (n, D)."""
    rows = []
    for start in range(0, len(images), batch):
        chunk = np.asarray(images[start : start + batch])
        summed = np.asarray(embed(chunk), float) + np.asarray(embed(chunk[:, :, ::-1]), float)
        rows.append(summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12))
    return np.concatenate(rows)


def verify_pairs(embeddings: np.ndarray, same: np.ndarray) -> dict:
    """The benchmark numbers of embeddings laid out as a ``.bin`` file is (pair i = rows 2i and
    2i+1): 10-fold accuracy mean and std, TAR at FAR 1e-3, and the number of pairs."""
    embeddings = np.asarray(embeddings, float)
    scores = np.einsum("nd,nd->n", embeddings[0::2], embeddings[1::2])
    result = ten_fold_accuracy(scores, same)
    return {
        "accuracy_mean": result.accuracy_mean,
        "accuracy_std": result.accuracy_std,
        "tar_at_far_1e-3": tar_at_far(scores, same, 1e-3),
        "pairs": int(len(same)),
    }
