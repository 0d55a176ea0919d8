"""Face verification: pairs of embeddings, a threshold, and the 10-fold protocol of LFW.

The protocol: split the pairs into 10 folds; on 9 folds choose the cosine threshold with the best
accuracy, measure the accuracy on the 10th; report the mean and standard deviation over the 10 folds.
Choosing the threshold on held-out folds keeps the reported accuracy honest.
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
    the other folds (scikit-learn's ``KFold``, shuffled with a fixed seed)."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    accuracies, thresholds = [], []
    for train, test in KFold(folds, shuffle=True, random_state=0).split(scores):
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
