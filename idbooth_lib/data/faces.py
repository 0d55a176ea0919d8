"""Embeddings of the faces in whole images — generated samples, class images — via detector + alignment.

Generated images come without landmarks, so each is searched for a face, aligned to the ArcFace
template with the detected landmarks (as data preparation does for real photos) and embedded. The
same function serves the class-image cache, the chapters' identity measurements and the evaluators.
"""

from __future__ import annotations

import numpy as np
import torch

from idbooth_lib.data.detect import FaceDetector
from idbooth_lib.identity.align import warp_to_template
from idbooth_lib.ranges import signed_to_pixels


@torch.no_grad()
def embed_detected_faces(
    images: torch.Tensor, detector: FaceDetector, encoder: torch.nn.Module, size: int = 112
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(B, 3, H, W)`` in [-1, 1] → unit embeddings ``(B, D)`` and a mask of found faces.

    The largest face of each image is used; rows without a face are zero.
    """
    pixels = signed_to_pixels(images)
    landmarks = torch.zeros(len(images), 5, 2)
    found = torch.zeros(len(images), dtype=torch.bool)
    for row, image in enumerate(pixels.cpu().numpy()):
        faces = detector.detect(np.ascontiguousarray(image))
        if faces:
            landmarks[row], found[row] = torch.as_tensor(faces[0].landmarks), True
    device = next(encoder.parameters()).device
    embeddings = torch.zeros(len(images), 0)
    if found.any():
        aligned = warp_to_template(images[found].float(), landmarks[found].to(images.device), size)
        detected = encoder(aligned.to(device)).float().cpu()
        embeddings = torch.zeros(len(images), detected.shape[1])
        embeddings[found] = detected
    return embeddings, found
