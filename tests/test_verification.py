"""The 10-fold verification protocol and pair sampling."""

import numpy as np
import pytest

from idbooth_lib.recognition.verification import (
    PROTOCOLS,
    flip_sum_embeddings,
    insightface_ten_fold_accuracy,
    pair_scores,
    sample_pairs,
    squared_distances,
    tar_at_far,
    ten_fold_accuracy,
    verify_pairs,
)


def _pairs_at(distances):
    """Unit embeddings whose pairs lie at the given squared distances: (1, 0, 0, 0) against
    (1 - d/2, sqrt(d - d²/4), 0, 0). Distance 1.0 is built exactly, from (1, 0, 0, 0) and
    (½, ½, ½, ½), so that it lands on insightface's grid point 1.00 with no rounding."""
    first = np.tile([1.0, 0.0, 0.0, 0.0], (len(distances), 1))
    second = np.zeros_like(first)
    for row, distance in enumerate(distances):
        if distance == 1.0:
            second[row] = 0.5
        else:
            second[row, :2] = 1 - distance / 2, np.sqrt(distance - distance**2 / 4)
    return first, second


def _rows(first, second):
    """The two halves of each pair interleaved as a ``.bin`` file lays them out."""
    rows = np.empty((2 * len(first), first.shape[1]))
    rows[0::2], rows[1::2] = first, second
    return rows


def test_separable_scores_are_perfect():
    same = np.repeat([True, False], 300)
    scores = np.where(same, 0.8, 0.1) + np.random.default_rng(0).normal(0, 0.05, 600)
    result = ten_fold_accuracy(scores, same)
    assert result.accuracy_mean == 1.0 and len(result.thresholds) == 10
    assert all(0.2 < threshold < 0.7 for threshold in result.thresholds)


def test_uninformative_scores_are_near_chance():
    rng = np.random.default_rng(0)
    result = ten_fold_accuracy(rng.random(2000), rng.random(2000) < 0.5)
    assert 0.4 < result.accuracy_mean < 0.6


def test_sample_pairs_are_genuine_and_impostor():
    labels = np.repeat(np.arange(10), 5)
    pairs, same = sample_pairs(labels, 200, seed=3)
    assert pairs.shape == (400, 2) and same.sum() == 200
    assert np.all(pairs[:, 0] != pairs[:, 1])
    assert np.array_equal(labels[pairs[:, 0]] == labels[pairs[:, 1]], same)


def test_sample_pairs_needs_two_identities():
    with pytest.raises(ValueError):
        sample_pairs(np.zeros(5, int), 10)


def test_pair_scores_are_cosines():
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [np.sqrt(0.5), np.sqrt(0.5)]])
    assert np.allclose(pair_scores(embeddings, np.array([[0, 1], [0, 2]])), [0.0, np.sqrt(0.5)])


def test_folds_follow_the_file_order():
    """Two low genuine pairs at the start of the file share the first fold: the threshold chosen
    on the other nine rejects both (fold accuracy 0), so the mean is 0.9 with a std of 0.3 —
    shuffled folds would split them (two folds at 0.5: std 0.2)."""
    same = np.array([True, False] * 10)
    scores = np.where(same, 0.9, 0.1)
    scores[[0, 2]] = 0.05  # genuine pairs 0 and 2; with 20 pairs, fold 0 holds pairs 0 and 1
    scores[[1, 3]] = [0.1, 0.1]
    order = np.array([0, 2, 1, 3, *range(4, 20)])  # pairs 0 and 2 first, in one fold
    result = ten_fold_accuracy(scores[order], same[order])
    assert result.accuracy_mean == pytest.approx(0.9)
    assert result.accuracy_std == pytest.approx(0.3)


def test_tar_at_far_counts_genuine_pairs_above_the_third_highest_impostor():
    impostor = np.arange(2000) / 2000  # 0 ... 0.9995; FAR 1e-3 of 2000 admits 2 impostors
    genuine = np.array([0.9990, 0.99895, 0.5, 1.0])  # above the third-highest (0.9985): three
    scores = np.concatenate([genuine, impostor])
    same = np.arange(len(scores)) < len(genuine)
    assert tar_at_far(scores, same, 1e-3) == pytest.approx(0.75)
    assert tar_at_far(scores, same, 0.0) == pytest.approx(0.25)  # above every impostor: only 1.0


def test_flip_sum_adds_the_mirror_images_embedding_and_normalises():
    def embed(images):  # the mean of the left and of the right half: mirroring swaps them
        half = images.shape[2] // 2
        return np.stack(
            [images[:, :, :half].mean((1, 2, 3)), images[:, :, half:].mean((1, 2, 3))], 1
        )

    images = np.zeros((1, 4, 4, 3), np.uint8)
    images[:, :, :2] = 200  # left half bright
    embedded = flip_sum_embeddings(embed, images)
    np.testing.assert_allclose(embedded, [[2**-0.5, 2**-0.5]])  # (200, 0) + (0, 200), unit length


def test_verify_pairs_reads_consecutive_rows_as_pairs():
    rng = np.random.default_rng(1)
    people = rng.normal(size=(300, 8))
    first = people + rng.normal(scale=0.1, size=people.shape)
    second = np.where(np.arange(300)[:, None] % 2 == 0, people, rng.normal(size=people.shape))
    second = second + rng.normal(scale=0.1, size=people.shape)
    rows = np.empty((600, 8))
    rows[0::2], rows[1::2] = first, second
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    found = verify_pairs(rows, np.arange(300) % 2 == 0)
    assert found["pairs"] == 300 and found["accuracy_mean"] > 0.97
    assert 0.9 < found["tar_at_far_1e-3"] <= 1.0


def test_squared_distances_are_computed_from_the_embeddings():
    first, second = _pairs_at([0.305, 1.0, 2.0])
    np.testing.assert_allclose(squared_distances(first, second), [0.305, 1.0, 2.0])
    assert squared_distances(first, second)[1] == 1.0  # exactly, as the strict-< test needs


def test_insightface_takes_the_smallest_of_equally_good_grid_thresholds():
    """One pair per fold: genuine pairs 0-3 at 0.305, impostors 4-8 at 0.705, genuine pair 9 at
    0.455. With pair 9 among the nine training pairs, every threshold 0.46 ... 0.70 is perfect and
    the first, 0.46, is taken: the held-out pair is right. Held out itself, 0.31 ... 0.70 are
    perfect on the rest, 0.31 is taken and pair 9 (0.455) is rejected: 9 folds at 1, one at 0."""
    distances = [0.305] * 4 + [0.705] * 5 + [0.455]
    same = np.array([True] * 4 + [False] * 5 + [True])
    result = insightface_ten_fold_accuracy(*_pairs_at(distances), same)
    assert result.thresholds == pytest.approx([0.46] * 9 + [0.31])
    assert result.accuracy_mean == pytest.approx(0.9)
    assert result.accuracy_std == pytest.approx(0.3)  # population std: sqrt(0.9 · 0.1)
    assert result.threshold_rule == "same when squared distance < threshold"


def test_insightface_rejects_a_pair_exactly_at_the_threshold():
    """Genuine pairs 0-3 at 0.995, impostors 4-8 at exactly 1.0, genuine pair 9 at exactly 1.0.
    Only the grid point 1.00 accepts 0.995 and rejects 1.0 (strictly below), so every fold takes
    it: on folds 0-8 it gets 8 of the 9 training pairs right (all but pair 9), against 5 or 4 for
    0.99 and 1.01, and the held-out pair is right; held out, pair 9 — at exactly 1.00 — is not
    below it and is rejected. (With ``<=``, 1.00 would accept the impostors at 1.0 too, and no
    fold would choose it.)"""
    distances = [0.995] * 4 + [1.0] * 6
    same = np.array([True] * 4 + [False] * 5 + [True])
    result = insightface_ten_fold_accuracy(*_pairs_at(distances), same)
    assert result.thresholds == pytest.approx([1.0] * 10)
    assert result.accuracy_mean == pytest.approx(0.9)
    assert result.accuracy_std == pytest.approx(0.3)


def test_the_midpoint_search_separates_scores_the_grid_cannot():
    """Genuine pairs at squared distance 0.502, impostors at 0.508, alternating: both lie between
    the grid points 0.50 and 0.51, so insightface's search can only accept all pairs or none. On
    nine training pairs it picks the larger side — and the held-out pair is always of the other
    side: every fold is wrong. The midpoint search puts its cosine threshold between 0.749 and
    0.746 and gets every fold right."""
    same = np.arange(10) % 2 == 0
    first, second = _pairs_at(np.where(same, 0.502, 0.508))
    insightface = insightface_ten_fold_accuracy(first, second, same)
    midpoint = ten_fold_accuracy(pair_scores(_rows(first, second), np.arange(20).reshape(10, 2)),
                                 same)  # fmt: skip
    assert insightface.accuracy_mean == 0.0 and midpoint.accuracy_mean == 1.0
    assert midpoint.threshold_rule == "same when cosine >= threshold"
    rows = _rows(first, second)
    assert verify_pairs(rows, same)["accuracy_mean"] == 0.0
    assert verify_pairs(rows, same, protocol="midpoint")["accuracy_mean"] == 1.0


def test_verify_pairs_defaults_to_insightface_and_records_the_protocol():
    distances = [0.305] * 4 + [0.705] * 5 + [0.455]
    same = np.array([True] * 4 + [False] * 5 + [True])
    rows = _rows(*_pairs_at(distances))
    found = verify_pairs(rows, same)
    assert found["protocol"] == PROTOCOLS[0] == "insightface"
    assert found["accuracy_mean"] == pytest.approx(0.9)  # the grid's smallest tie rejects pair 9
    midpoint = verify_pairs(rows, same, protocol="midpoint")
    assert midpoint["protocol"] == "midpoint" and midpoint["accuracy_mean"] == 1.0
    assert found["tar_at_far_1e-3"] == midpoint["tar_at_far_1e-3"]  # TAR does not depend on it


def test_an_unknown_protocol_is_refused_naming_the_choices():
    rows = _rows(*_pairs_at([0.3, 0.7] * 5))
    with pytest.raises(ValueError, match="insightface.*midpoint"):
        verify_pairs(rows, np.arange(10) % 2 == 0, protocol="lfw")
