"""The 10-fold verification protocol and pair sampling."""

import numpy as np
import pytest

from idbooth_lib.recognition.verification import pair_scores, sample_pairs, ten_fold_accuracy


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
