"""Rendering many toy faces: the cache and the worker processes give the same arrays."""

import numpy as np

from idbooth_lib.toy_world import render
from idbooth_lib.toy_world.render import render_faces


def _assert_same(first, second):
    assert np.array_equal(first.images, second.images)
    assert np.array_equal(first.landmarks, second.landmarks)
    assert np.array_equal(first.identities, second.identities)
    assert (first.captions, first.backgrounds, first.poses, first.genders) == (
        second.captions,
        second.backgrounds,
        second.poses,
        second.genders,
    )


def test_worker_processes_render_the_same_faces_in_the_same_order(monkeypatch):
    arguments = dict(world_seed=3, identities=range(5, 11), images_per_identity=2, mode="wild")
    alone = render_faces(**arguments, use_cache=False)
    monkeypatch.setattr(render, "MIN_FACES_FOR_WORKERS", 0)
    assert len(render._chunks(range(5, 11), 2, 12)) > 1
    pooled = render_faces(**arguments, use_cache=False, workers=2)
    _assert_same(alone, pooled)
    assert list(pooled.identities) == [i for i in range(5, 11) for _ in range(2)]


def test_a_cached_render_is_read_back_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("IDBOOTH_CACHE", str(tmp_path))
    first = render_faces(4, range(3), 2, "constrained")
    assert len(list((tmp_path / "toy-renders").glob("*.npz"))) == 1
    _assert_same(first, render_faces(4, range(3), 2, "constrained"))
