"""Differentiable five-point alignment agrees with insightface's norm_crop and keeps gradients."""

import cv2
import numpy as np
import pytest
import torch
from insightface.utils.face_align import norm_crop

from idbooth_lib.identity.align import (
    arcface_template,
    similarity_matrices,
    transform_points,
    warp_to_template,
)
from idbooth_lib.toy_world.faces import ToyFaceWorld


def _smooth_image(seed=0, size=64):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((size, size, 3)) * 255).astype(np.uint8), (0, 0), 2)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_matches_insightface_norm_crop():
    image = _smooth_image()
    rng = np.random.default_rng(1)
    landmarks = np.array([[22, 28], [42, 28.5], [32, 38], [24, 46], [40, 46]], np.float32)
    landmarks += rng.normal(0, 1, (5, 2)).astype(np.float32)
    expected = norm_crop(image, landmarks).astype(np.float32)
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    ours = warp_to_template(tensor, torch.from_numpy(landmarks)[None])[0].permute(1, 2, 0).numpy()
    inside = (slice(8, 104), slice(8, 104))  # away from the border, where both pad with zeros
    assert np.abs(ours - expected)[inside].mean() < 0.5
    assert np.abs(ours - expected)[inside].max() < 2.0


def test_exact_similarity_is_recovered():
    template = arcface_template()
    angle, scale, shift = 0.3, 0.55, torch.tensor([5.0, -3.0])
    rotation = torch.tensor([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = ((template @ rotation.T.float()) * scale + shift)[None]
    matrices = similarity_matrices(landmarks, template)
    assert torch.allclose(transform_points(matrices, landmarks)[0], template, atol=1e-4)


def test_toy_landmarks_land_on_the_template():
    """Aligning a toy face moves its landmarks onto the ArcFace template within 1 px on average."""
    world = ToyFaceWorld(seed=0)
    landmarks = torch.stack([torch.from_numpy(world.face(i, 0).landmarks) for i in range(16)])
    aligned = transform_points(similarity_matrices(landmarks, arcface_template()), landmarks)
    assert (aligned - arcface_template()).norm(dim=-1).mean() < 1.0


def test_gradients_reach_the_images():
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    landmarks = torch.tensor([[22.0, 29], [42, 29], [32, 40], [24, 50], [40, 50]]).expand(2, 5, 2)
    warp_to_template(images, landmarks).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("images", "landmarks"),
    [(torch.rand(3, 64, 64), torch.rand(1, 5, 2)), (torch.rand(2, 3, 64, 64), torch.rand(2, 4, 2)),
     (torch.rand(1, 3, 64, 32), torch.rand(1, 5, 2))],
)
def test_bad_shapes_are_rejected(images, landmarks):
    with pytest.raises(ValueError):
        warp_to_template(images, landmarks)
