"""The 10-fold verification protocol and pair sampling."""

import numpy as np
import pytest

from idbooth_lib.recognition.verification import (
    flip_sum_embeddings,
    pair_scores,
    sample_pairs,
    tar_at_far,
    ten_fold_accuracy,
    verify_pairs,
)


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
