"""A procedurally generated world of toy faces with known identities, scenes and landmarks.

Why: the book cannot download face data sets or pretrained face models, yet every chapter of
ID-Booth needs faces whose identity is known (to fine-tune on, to verify against) and images whose
conditions are known (background, pose) to check prompt adherence. This package draws such faces
from scratch, deterministically, so every reader gets exactly the same data. Chapter 00 (set-up)
introduces the toy world; chapter 01 (data preparation) detects and aligns its faces against the
known landmarks.

The modules, in the order a photo is made: :mod:`~idbooth_lib.toy_world.faces.traits` (who a person is,
what a scene is, and how both are sampled), :mod:`~idbooth_lib.toy_world.faces.geometry` (the one
transform shared by drawing and landmarks), :mod:`~idbooth_lib.toy_world.faces.features` (each face
feature, and the landmarks), :mod:`~idbooth_lib.toy_world.faces.captions` (the paper's prompt wording for
a scene) and :mod:`~idbooth_lib.toy_world.faces.world` (rendering, and
:class:`~idbooth_lib.toy_world.faces.world.ToyFaceWorld`). Every public name is re-exported here, so
callers import from the package: ``from idbooth_lib.toy_world.faces import ToyFaceWorld``.
"""

from __future__ import annotations

from idbooth_lib.toy_world.faces.captions import caption, describe, parse_caption
from idbooth_lib.toy_world.faces.features import LANDMARK_NAMES
from idbooth_lib.toy_world.faces.geometry import ARCFACE_TEMPLATE_64, ARCFACE_TEMPLATE_112
from idbooth_lib.toy_world.faces.traits import (
    BACKGROUNDS,
    EXPRESSIONS,
    GENDERS,
    MODES,
    POSES,
    IdentityTraits,
    SceneSpec,
)
from idbooth_lib.toy_world.faces.world import GENERATOR_VERSION, ToyFace, ToyFaceWorld, check_mode

__all__ = [
    "ARCFACE_TEMPLATE_64",
    "ARCFACE_TEMPLATE_112",
    "BACKGROUNDS",
    "EXPRESSIONS",
    "GENDERS",
    "GENERATOR_VERSION",
    "LANDMARK_NAMES",
    "MODES",
    "POSES",
    "IdentityTraits",
    "SceneSpec",
    "ToyFace",
    "ToyFaceWorld",
    "caption",
    "check_mode",
    "describe",
    "parse_caption",
]
