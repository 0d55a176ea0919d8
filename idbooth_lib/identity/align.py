"""Five-point face alignment to the ArcFace template, batched and differentiable.

Face recognisers such as ArcFace expect a 112×112 crop in which the eyes, nose tip and mouth corners
sit at fixed places (the *template*). insightface's ``norm_crop`` does this with OpenCV on one NumPy
image at a time; during fine-tuning we must align a whole batch of decoded images *with gradients*,
so the same similarity transform is written here in torch and applied with ``grid_sample``.

Conventions: landmarks are ``(x, y)`` pixel coordinates with the centre of pixel ``(i, j)`` at
``(i, j)`` — OpenCV's convention, so crops match ``insightface.utils.face_align.norm_crop``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Where ArcFace-style recognisers expect the five landmarks in a 112×112 crop (left eye, right eye,
#: nose tip, left and right mouth corner), as used by insightface for its recognition models.
ARCFACE_TEMPLATE_112 = torch.tensor(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ]
)


def arcface_template(size: int = 112) -> torch.Tensor:
    """The ArcFace template scaled to a ``size``×``size`` crop."""
    return ARCFACE_TEMPLATE_112 * (size / 112.0)


def similarity_matrices(landmarks: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """Least-squares similarity transforms (rotation, uniform scale, shift) from landmarks to template.

    A 2-D similarity is multiplication by a complex number ``a`` plus a shift ``b``; the least-squares
    fit then has a closed form (the 2-D case of Umeyama's method), which is short, batched and
    differentiable. Returns ``(B, 2, 3)`` matrices ``M`` with ``template ≈ M @ [x, y, 1]``.
    """
    source = torch.complex(landmarks[..., 0].double(), landmarks[..., 1].double())
    target = torch.complex(template[..., 0].double(), template[..., 1].double())
    target = target.to(source.device).expand_as(source)
    source_centred = source - source.mean(dim=-1, keepdim=True)
    target_centred = target - target.mean(dim=-1, keepdim=True)
    a = (source_centred.conj() * target_centred).sum(-1) / (source_centred.abs() ** 2).sum(-1)
    b = target.mean(-1) - a * source.mean(-1)
    rows = [
        torch.stack([a.real, -a.imag, b.real], dim=-1),
        torch.stack([a.imag, a.real, b.imag], dim=-1),
    ]
    return torch.stack(rows, dim=-2).to(landmarks.dtype)


def _pixel_to_normalised(size: int) -> torch.Tensor:
    """3×3 matrix from pixel coordinates to ``grid_sample``'s [-1, 1] (``align_corners=False``)."""
    return torch.tensor(
        [[2.0 / size, 0.0, 1.0 / size - 1.0], [0.0, 2.0 / size, 1.0 / size - 1.0], [0.0, 0.0, 1.0]]
    )


def _homogeneous(matrices: torch.Tensor) -> torch.Tensor:
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=matrices.dtype, device=matrices.device)
    return torch.cat([matrices, bottom.expand(*matrices.shape[:-2], 1, 3)], dim=-2)


def warp_to_template(
    images: torch.Tensor,
    landmarks: torch.Tensor,
    size: int = 112,
    template: torch.Tensor | None = None,
) -> torch.Tensor:
    """Align a batch of images ``(B, C, H, W)`` to the template, differentiably.

    ``landmarks`` is ``(B, 5, 2)`` in the images' pixel coordinates. Pixels that fall outside the
    source image are zero, as in ``norm_crop``. Gradients flow to ``images`` (and to ``landmarks``).
    """
    if images.dim() != 4 or landmarks.shape != (images.shape[0], 5, 2):
        raise ValueError(
            f"expected images (B, C, H, W) and landmarks (B, 5, 2), got {tuple(images.shape)} "
            f"and {tuple(landmarks.shape)}"
        )
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"expected square images, got {tuple(images.shape[-2:])}")
    template = arcface_template(size) if template is None else template
    forward = _homogeneous(similarity_matrices(landmarks.float(), template.float()))
    to_output_pixels = torch.linalg.inv(_pixel_to_normalised(size)).to(forward)
    to_input_normalised = _pixel_to_normalised(images.shape[-1]).to(forward)
    # grid_sample asks, for every output pixel, where to read in the input: the inverse warp.
    theta = to_input_normalised @ torch.linalg.inv(forward) @ to_output_pixels
    grid = F.affine_grid(
        theta[:, :2, :].to(images.dtype),
        [images.shape[0], images.shape[1], size, size],
        align_corners=False,
    )
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def transform_points(matrices: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply ``(B, 2, 3)`` affine matrices to ``(B, N, 2)`` points."""
    return points @ matrices[..., :2].transpose(-1, -2) + matrices[..., 2].unsqueeze(-2)
