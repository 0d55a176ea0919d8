"""Face verification: pairs of embeddings, a threshold, and the 10-fold protocol of LFW.

The protocol: split the pairs into 10 folds *in file order*; on 9 folds choose the threshold with
the best accuracy, measure the accuracy on the 10th; report the mean and (population) standard
deviation over the 10 folds. Choosing the threshold on held-out folds keeps the reported accuracy
honest, and keeping the file's order keeps the folds the benchmark's authors laid out (LFW's ten
sets of 600 pairs, each its own people). Each face is embedded as in insightface's evaluation:
the embedding of the image plus that of its mirror image, L2-normalised.

How the threshold is searched changes the number, so there are two named protocols:

- ``"insightface"`` (the default) is the search of insightface's
  ``recognition/arcface_torch/eval/verification.py``, with which published LFW, CFP-FP and AgeDB
  accuracies are computed: the squared Euclidean distance of the two unit embeddings
  (``2 - 2 cos``), the grid of thresholds ``0, 0.01, ..., 3.99``, a pair judged *same* when its
  distance is strictly below the threshold, and the first (smallest) threshold among equally
  accurate ones. Use it to compare with published numbers.
- ``"midpoint"`` searches the cosine itself, with thresholds halfway between neighbouring scores.
  It has no grid, so it can separate two scores that fall between two grid points (0.01 apart in
  distance, 0.005 in cosine), and its threshold lies in the middle of a gap between training
  scores rather than at the gap's lower edge. One might prefer it for its finer threshold; the
  two protocols can give different accuracies on the same embeddings, so a number is comparable
  only with numbers of the same protocol. Recognition training chooses its epoch with it, and
  the results of ``make reproduce`` the book ships were made with it.

TAR at FAR 1e-3 is read off all pairs at once, on the cosine under either protocol (for unit
embeddings the distance is a decreasing function of the cosine, so the pairs it accepts are the
same): the share of genuine pairs accepted at the threshold that accepts at most one impostor pair
in a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold

#: The protocol names :func:`verify_pairs` takes; the first is the default.
PROTOCOLS = ("insightface", "midpoint")

#: insightface's thresholds on the squared distance of two unit embeddings: 0, 0.01, ..., 3.99.
INSIGHTFACE_THRESHOLDS = np.arange(0, 4, 0.01)


@dataclass(frozen=True)
class VerificationResult:
    """Mean and standard deviation of 10-fold accuracy, the thresholds chosen per fold, and what
    a threshold is compared with (``threshold_rule``), since the protocols threshold different
    quantities."""

    accuracy_mean: float
    accuracy_std: float
    thresholds: tuple[float, ...]
    threshold_rule: str = "same when cosine >= threshold"


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
    """The midpoint protocol: accuracy of thresholded cosine ``scores`` against ``same``, with
    the threshold chosen on the other folds (scikit-learn's ``KFold`` in the pairs' order)."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    accuracies, thresholds = [], []
    for train, test in KFold(folds, shuffle=False).split(scores):
        threshold = _best_threshold(scores[train], same[train])
        thresholds.append(threshold)
        accuracies.append(((scores[test] >= threshold) == same[test]).mean())
    return VerificationResult(
        float(np.mean(accuracies)), float(np.std(accuracies)), tuple(thresholds)
    )


def squared_distances(embeddings_a: np.ndarray, embeddings_b: np.ndarray) -> np.ndarray:
    """``sum((a - b) ** 2)`` row by row, computed as insightface does (not as ``2 - 2 cos``, which
    rounds differently), so that a distance on a grid threshold compares as it does there."""
    difference = np.asarray(embeddings_a, float) - np.asarray(embeddings_b, float)
    return np.sum(np.square(difference), axis=1)


def _best_grid_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The grid threshold that classifies these pairs best (same when the distance is strictly
    below it); ``argmax`` takes the first maximum, so ties go to the smallest threshold."""
    judged_same = distances[None, :] < INSIGHTFACE_THRESHOLDS[:, None]
    accuracies = (judged_same == same[None, :]).mean(axis=1)
    return float(INSIGHTFACE_THRESHOLDS[int(np.argmax(accuracies))])


def insightface_ten_fold_accuracy(
    embeddings_a: np.ndarray, embeddings_b: np.ndarray, same: np.ndarray, folds: int = 10
) -> VerificationResult:
    """insightface's protocol on pairs ``(embeddings_a[i], embeddings_b[i])`` of L2-normalised
    embeddings: squared distances, a grid threshold chosen on the other folds, accuracy on each
    fold. The thresholds returned are squared distances (see ``threshold_rule``)."""
    distances = squared_distances(embeddings_a, embeddings_b)
    same = np.asarray(same, bool)
    accuracies, thresholds = [], []
    for train, test in KFold(folds, shuffle=False).split(distances):
        threshold = _best_grid_threshold(distances[train], same[train])
        thresholds.append(threshold)
        accuracies.append(((distances[test] < threshold) == same[test]).mean())
    return VerificationResult(
        float(np.mean(accuracies)),
        float(np.std(accuracies)),
        tuple(thresholds),
        threshold_rule="same when squared distance < threshold",
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


def check_protocol(protocol: str) -> None:
    """Refuse a protocol name before any work, naming the ones there are."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown verification protocol {protocol!r}; choose one of {PROTOCOLS}")


def verify_pairs(embeddings: np.ndarray, same: np.ndarray, protocol: str = "insightface") -> dict:
    """The benchmark numbers of embeddings laid out as a ``.bin`` file is (pair i = rows 2i and
    2i+1): 10-fold accuracy mean and std under ``protocol`` (one of :data:`PROTOCOLS`), TAR at
    FAR 1e-3, the number of pairs, and the protocol's name, so a results file says how it was
    scored."""
    check_protocol(protocol)
    embeddings, same = np.asarray(embeddings, float), np.asarray(same, bool)
    first, second = embeddings[0::2], embeddings[1::2]
    scores = np.einsum("nd,nd->n", first, second)
    if protocol == "insightface":
        result = insightface_ten_fold_accuracy(first, second, same)
    else:
        result = ten_fold_accuracy(scores, same)
    return {
        "accuracy_mean": result.accuracy_mean,
        "accuracy_std": result.accuracy_std,
        "tar_at_far_1e-3": tar_at_far(scores, same, 1e-3),
        "pairs": int(len(same)),
        "protocol": protocol,
    }
