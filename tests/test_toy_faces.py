"""Tests for the toy face world: determinism, geometry, captions, scene modes and image content."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest
from PIL import Image

from idbooth_lib.toy_world.faces import (
    ARCFACE_TEMPLATE_64,
    BACKGROUNDS,
    EXPRESSIONS,
    IdentityTraits,
    SceneSpec,
    ToyFaceWorld,
    caption,
    parse_caption,
)

LEFT_EYE, RIGHT_EYE, NOSE, MOUTH_LEFT, MOUTH_RIGHT = range(5)


@pytest.fixture(scope="module")
def world() -> ToyFaceWorld:
    return ToyFaceWorld(seed=0)


@pytest.fixture(scope="module")
def wild_faces(world: ToyFaceWorld) -> list:
    return [world.face(identity, image, "wild") for identity in range(12) for image in range(5)]


def _posed(world: ToyFaceWorld, identity: int, yaw: float) -> np.ndarray:
    """Landmarks of one identity at a given yaw, everything else frontal and centred."""
    scene = dataclasses.replace(
        world.sample_scene(identity, 0, "constrained"),
        yaw_degrees=yaw,
        pose="side" if abs(yaw) > 20 else "frontal",
    )
    return world.render(world.identity(identity), scene).landmarks


# ----------------------------------------------------------------------------------------------
# Determinism
# ----------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_pixels_and_landmarks() -> None:
    first, second = ToyFaceWorld(seed=3), ToyFaceWorld(seed=3)
    for identity, image, mode in [(0, 0, "constrained"), (4, 7, "wild"), (9, 2, "wild")]:
        a, b = first.face(identity, image, mode), second.face(identity, image, mode)
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
        assert np.array_equal(a.landmarks, b.landmarks)
        assert a.caption == b.caption


def test_render_is_a_pure_function(world: ToyFaceWorld) -> None:
    traits, scene = world.identity(2), world.sample_scene(2, 1, "wild")
    first, second = world.render(traits, scene), world.render(traits, scene)
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))


def test_different_world_seeds_give_different_people() -> None:
    first, second = ToyFaceWorld(seed=0), ToyFaceWorld(seed=1)
    assert all(first.identity(i) != second.identity(i) for i in range(5))
    image_a = np.asarray(first.face(0, 0).image, dtype=float)
    image_b = np.asarray(second.face(0, 0).image, dtype=float)
    assert np.abs(image_a - image_b).mean() > 5


def test_traits_and_scenes_do_not_depend_on_call_order() -> None:
    forward, backward = ToyFaceWorld(seed=5), ToyFaceWorld(seed=5)
    traits_forward = [forward.identity(i) for i in range(6)]
    traits_backward = [backward.identity(i) for i in reversed(range(6))][::-1]
    assert traits_forward == traits_backward
    scene = forward.sample_scene(3, 4, "wild")
    assert ToyFaceWorld(seed=5).sample_scene(3, 4, "wild") == scene


def test_traits_and_scene_round_trip_through_json(world: ToyFaceWorld) -> None:
    for index in range(10):
        traits = world.identity(index)
        data = json.loads(json.dumps(traits.to_dict()))
        assert data == traits.to_dict()
        assert IdentityTraits.from_dict(data) == traits
    scene = world.sample_scene(1, 1, "wild")
    assert SceneSpec.from_dict(json.loads(json.dumps(scene.to_dict()))) == scene


def test_invalid_world_arguments_raise() -> None:
    with pytest.raises(ValueError, match="seed"):
        ToyFaceWorld(seed=-1)
    with pytest.raises(ValueError, match="size"):
        ToyFaceWorld(size=8)
    with pytest.raises(ValueError, match="index"):
        ToyFaceWorld().identity(-2)


# ----------------------------------------------------------------------------------------------
# Landmarks
# ----------------------------------------------------------------------------------------------


def test_landmarks_lie_inside_the_image_and_the_face(wild_faces: list) -> None:
    for face in wild_faces:
        points = face.landmarks
        assert points.shape == (5, 2) and points.dtype == np.float32
        assert (points >= 0).all() and (points <= 63).all()
        assert points[LEFT_EYE, 0] < points[RIGHT_EYE, 0]
        assert points[MOUTH_LEFT, 0] < points[MOUTH_RIGHT, 0]
        eye_y = points[[LEFT_EYE, RIGHT_EYE], 1].mean()
        mouth_y = points[[MOUTH_LEFT, MOUTH_RIGHT], 1].mean()
        assert eye_y < points[NOSE, 1] < mouth_y  # holds for the small rolls of the wild mode
        assert points[:, 0].min() > 8 and points[:, 0].max() < 56  # within the head's width
        assert eye_y > 15 and mouth_y < 62


def test_eye_landmarks_sit_on_dark_pupils(world: ToyFaceWorld) -> None:
    """The landmarks go through the drawing's own transform, so they land on the pupils."""
    for identity in range(8):
        face = world.face(identity, 0, "constrained")
        grey = np.asarray(face.image.convert("L"), dtype=float)
        for eye in (LEFT_EYE, RIGHT_EYE):
            x, y = np.round(face.landmarks[eye]).astype(int)
            window = grey[y - 3 : y + 4, x - 3 : x + 4]
            assert np.unravel_index(window.argmin(), window.shape) in {
                (3 + dy, 3 + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
            }


def test_yaw_moves_the_nose_more_than_the_eyes(world: ToyFaceWorld) -> None:
    for identity in range(4):
        frontal, right, left = (_posed(world, identity, yaw) for yaw in (0.0, 35.0, -35.0))
        for points, sign in ((right, 1), (left, -1)):
            eye_mid = points[[LEFT_EYE, RIGHT_EYE], 0].mean()
            assert sign * (points[NOSE, 0] - eye_mid) > 2
            assert sign * (points[NOSE, 0] - frontal[NOSE, 0]) > 8
        # Turning toward +x: the right eye (image right) becomes the far eye. The nose swings
        # toward it, so the left-eye-to-nose gap widens and the right-eye-to-nose gap narrows.
        gap = lambda p, eye: abs(p[NOSE, 0] - p[eye, 0])  # noqa: E731
        assert gap(right, LEFT_EYE) > gap(frontal, LEFT_EYE) + 2
        assert gap(right, RIGHT_EYE) < gap(frontal, RIGHT_EYE) - 2
        assert gap(left, RIGHT_EYE) > gap(frontal, RIGHT_EYE) + 2
        # The far eye is foreshortened: the eyes come closer together.
        spacing = lambda p: p[RIGHT_EYE, 0] - p[LEFT_EYE, 0]  # noqa: E731
        assert spacing(right) < spacing(frontal) - 2


def test_frontal_constrained_faces_are_symmetric(world: ToyFaceWorld) -> None:
    centre = (64 - 1) / 2
    for identity in range(10):
        points = world.face(identity, 0, "constrained").landmarks
        assert abs(points[LEFT_EYE, 0] + points[RIGHT_EYE, 0] - 2 * centre) < 1
        assert abs(points[MOUTH_LEFT, 0] + points[MOUTH_RIGHT, 0] - 2 * centre) < 1
        assert abs(points[NOSE, 0] - centre) < 1
        assert abs(points[LEFT_EYE, 1] - points[RIGHT_EYE, 1]) < 1


def test_mean_landmarks_match_the_arcface_template(world: ToyFaceWorld) -> None:
    points = np.stack([world.face(i, 0, "constrained").landmarks for i in range(40)])
    assert np.abs(points.mean(axis=0) - ARCFACE_TEMPLATE_64).max() < 4
    spacing = points[:, RIGHT_EYE, 0] - points[:, LEFT_EYE, 0]
    assert 17.5 < spacing.mean() < 21


def test_landmarks_scale_with_image_size() -> None:
    small, large = ToyFaceWorld(seed=0, size=64), ToyFaceWorld(seed=0, size=128)
    for mode in ("constrained", "wild"):
        a, b = small.face(1, 2, mode), large.face(1, 2, mode)
        assert large.face(1, 2, mode).image.size == (128, 128)
        np.testing.assert_allclose(b.landmarks, (a.landmarks + 0.5) * 2 - 0.5, atol=1e-3)


# ----------------------------------------------------------------------------------------------
# Captions
# ----------------------------------------------------------------------------------------------


def _scene(background: str | None, pose: str) -> SceneSpec:
    yaw = 30.0 if pose == "side" else 0.0
    return SceneSpec(
        background, pose, yaw, 0.0, 1.0, (0.0, 0.0), 0.0, 0.0, 1.0, "neutral", (90, 90, 90), 0
    )


def test_caption_wording_follows_the_paper() -> None:
    assert (
        caption("male", _scene("forest", "frontal"))
        == "face portrait photo of a male person, forest background"
    )
    assert (
        caption("female", _scene("beach", "side"))
        == "face side-portrait photo of a female person, beach background"
    )
    assert caption("male", _scene(None, "frontal")) == "face portrait photo of a male person"
    assert (
        caption("male", _scene("forest", "frontal"), name="sks")
        == "face portrait photo of male sks person, forest background"
    )
    with pytest.raises(ValueError):
        caption("robot", _scene(None, "frontal"))


def test_parse_caption_reads_every_form() -> None:
    for background, pose, gender, name in itertools.product(
        (None, "night club", "construction site"),
        ("frontal", "side"),
        ("male", "female"),
        (None, "sks"),
    ):
        text = caption(gender, _scene(background, pose), name=name)
        assert parse_caption(text) == {
            "gender": gender,
            "pose": pose,
            "background": background,
            "name": name,
        }
    for bad in ("a photo of a cat", "face portrait photo of a male person, moon background"):
        with pytest.raises(ValueError):
            parse_caption(bad)


def test_captions_match_the_rendered_attributes(wild_faces: list, world: ToyFaceWorld) -> None:
    for face in wild_faces:
        parsed = parse_caption(face.caption)
        assert parsed["gender"] == face.traits.gender
        assert parsed["pose"] == face.scene.pose
        assert parsed["background"] == face.scene.background
        assert parsed["name"] is None
    for identity in range(5):
        studio = world.face(identity, 0, "constrained")
        assert "background" not in studio.caption
        assert parse_caption(studio.caption)["background"] is None


# ----------------------------------------------------------------------------------------------
# Scene modes
# ----------------------------------------------------------------------------------------------


def test_constrained_scenes_are_plain_frontal_studio_shots(world: ToyFaceWorld) -> None:
    scenes = [world.sample_scene(i, j, "constrained") for i in range(20) for j in range(5)]
    for scene in scenes:
        assert scene.background is None and scene.pose == "frontal"
        assert scene.yaw_degrees == 0 and scene.roll_degrees == 0
        assert scene.light_strength == 0 and scene.brightness == 1
        assert scene.scale == 1 and scene.shift == (0.0, 0.0)
    neutral = sum(scene.expression == "neutral" for scene in scenes) / len(scenes)
    assert 0.6 < neutral < 1.0


def test_wild_scenes_cover_every_background_and_pose(world: ToyFaceWorld) -> None:
    scenes = [world.sample_scene(i, j, "wild") for i in range(40) for j in range(10)]
    assert {scene.background for scene in scenes} == set(BACKGROUNDS)
    assert {scene.expression for scene in scenes} == set(EXPRESSIONS)
    side = [scene for scene in scenes if scene.pose == "side"]
    frontal = [scene for scene in scenes if scene.pose == "frontal"]
    assert 0.4 < len(side) / len(scenes) < 0.6
    assert all(25 <= abs(scene.yaw_degrees) <= 45 for scene in side)
    assert {np.sign(scene.yaw_degrees) for scene in side} == {-1.0, 1.0}
    assert all(abs(scene.yaw_degrees) <= 6 for scene in frontal)
    assert all(abs(scene.roll_degrees) <= 8 for scene in scenes)
    assert all(0.92 <= scene.scale <= 1.08 for scene in scenes)
    assert all(max(map(abs, scene.shift)) <= 3 for scene in scenes)
    assert all(0.8 <= scene.brightness <= 1.15 for scene in scenes)


def test_unknown_mode_raises_and_names_the_valid_ones(world: ToyFaceWorld) -> None:
    with pytest.raises(ValueError, match="constrained.*wild"):
        world.sample_scene(0, 0, "studio")
    with pytest.raises(ValueError, match="constrained"):
        world.face(0, 0, "outdoor")


# ----------------------------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------------------------


def test_images_are_small_rgb_arrays(wild_faces: list) -> None:
    for face in wild_faces[:5]:
        assert isinstance(face.image, Image.Image)
        assert face.image.mode == "RGB" and face.image.size == (64, 64)
        pixels = np.asarray(face.image)
        assert pixels.dtype == np.uint8 and pixels.shape == (64, 64, 3)
        assert pixels.std() > 20  # a picture, not a flat colour


def test_backgrounds_have_distinct_colours_around_the_face(world: ToyFaceWorld) -> None:
    traits, base = world.identity(0), world.sample_scene(0, 0, "wild")
    corner_colours = {}
    for background in BACKGROUNDS:
        samples = []
        for seed in range(3):
            scene = dataclasses.replace(
                base, background=background, detail_seed=seed, light_strength=0.0, brightness=1.0
            )
            pixels = np.asarray(world.render(traits, scene).image, dtype=float)
            corners = [pixels[:10, :10], pixels[:10, -10:], pixels[-10:, :10], pixels[-10:, -10:]]
            samples.append(np.mean([corner.reshape(-1, 3).mean(0) for corner in corners], axis=0))
        corner_colours[background] = np.mean(samples, axis=0)
    for first, second in itertools.combinations(BACKGROUNDS, 2):
        assert np.linalg.norm(corner_colours[first] - corner_colours[second]) > 8, (first, second)


def test_studio_background_is_plain_light_grey(world: ToyFaceWorld) -> None:
    pixels = np.asarray(world.face(0, 0, "constrained").image, dtype=float)
    corner = pixels[:6, :6].reshape(-1, 3)
    assert corner.mean() > 180 and np.ptp(corner.mean(axis=0)) < 12


def test_identities_differ_more_than_one_identity_across_photos(world: ToyFaceWorld) -> None:
    def face_region(identity: int, image: int) -> np.ndarray:
        return np.asarray(world.face(identity, image, "constrained").image, float)[12:56, 14:50]

    within = [np.abs(face_region(i, 0) - face_region(i, 1)).mean() for i in range(8)]
    between = [np.abs(face_region(i, 0) - face_region(i + 1, 0)).mean() for i in range(8)]
    assert max(within) < min(between)
    assert np.mean(within) * 3 < np.mean(between)


def test_light_and_brightness_change_the_image(world: ToyFaceWorld) -> None:
    traits, scene = world.identity(3), world.sample_scene(3, 0, "wild")
    even = dataclasses.replace(scene, light_strength=0.0, brightness=1.0)
    lit = dataclasses.replace(even, light_strength=0.4, light_angle_degrees=0.0)
    dim = dataclasses.replace(even, brightness=0.8)
    pixels = {
        name: np.asarray(world.render(traits, s).image, float)
        for name, s in (("even", even), ("lit", lit), ("dim", dim))
    }
    right_minus_left = pixels["lit"][20:50, 36:46] - pixels["lit"][20:50, 18:28]
    even_difference = pixels["even"][20:50, 36:46] - pixels["even"][20:50, 18:28]
    assert right_minus_left.mean() > even_difference.mean() + 10  # light from the right (0 deg)
    assert pixels["dim"].mean() < 0.85 * pixels["even"].mean()


def test_render_rejects_unknown_scene_values(world: ToyFaceWorld) -> None:
    scene = world.sample_scene(0, 0, "wild")
    for change in ({"pose": "profile"}, {"expression": "wink"}, {"background": "moon"}):
        with pytest.raises(ValueError, match=next(iter(change))):
            world.render(world.identity(0), dataclasses.replace(scene, **change))


def test_posed_photos_keep_the_studio_backdrop_and_vary_pose_and_light():
    """``posed`` is a studio session: no background ever, but side poses and moving light, and
    photos of their own (not the wild photos with the background removed)."""
    world = ToyFaceWorld(0)
    scenes = [
        world.sample_scene(person, photo, "posed") for person in range(4) for photo in range(10)
    ]
    assert all(scene.background is None for scene in scenes)
    assert {scene.pose for scene in scenes} == {"frontal", "side"}
    assert len({round(scene.light_angle_degrees) for scene in scenes}) > 10
    assert (
        world.sample_scene(0, 0, "posed").yaw_degrees
        != world.sample_scene(0, 0, "wild").yaw_degrees
    )
    assert world.face(1, 2, "posed").image.size == world.face(1, 2, "constrained").image.size


def test_the_command_line_offers_every_mode():
    """``idbooth toy-data --mode`` lists its choices without importing the toy world (the CLI
    starts fast); this keeps them equal to the world's."""
    from idbooth_lib.cli import build_parser
    from idbooth_lib.toy_world.faces import MODES

    commands = next(a for a in build_parser()._actions if a.dest == "command")
    mode = next(a for a in commands.choices["toy-data"]._actions if a.dest == "mode")
    assert tuple(mode.choices) == MODES
