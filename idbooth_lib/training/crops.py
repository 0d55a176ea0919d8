"""Two ways to cut the face out of the decoded x̂0 for the recogniser, both differentiable in pixels.

- :class:`LandmarkCrop` (the default here): warp x̂0 with the *training image's* saved landmarks
  into the 112×112 ArcFace-aligned crop. x̂0 estimates that very image, so its landmarks fit; no
  detector runs inside the loop, the graph has a fixed shape and nothing waits for the CPU.
- :class:`DetectorCrop` (the paper's way, kept for the ablation and the benchmark): run a face
  detector on the decoded image, take the first box, stretch it to 112×112 (unaligned), and skip
  the identity term for images in which no face is found. The detector sees a detached uint8 copy
  (a round trip through NumPy on every step, as in the published scripts); the crop itself is
  ``roi_align`` on the decoded tensor, so gradients still reach x̂0.

Both return ``(crops, found)``: crops ``(B, 3, 112, 112)`` and a boolean mask of usable rows.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from idbooth_lib.config import setting_choices
from idbooth_lib.data.detect import FaceDetector
from idbooth_lib.identity.align import warp_to_template
from idbooth_lib.ranges import signed_to_pixels

CROP_METHODS = setting_choices("train.identity_crop")


class FaceCrop(Protocol):
    def __call__(
        self, decoded: torch.Tensor, landmarks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


class LandmarkCrop:
    """Align each decoded image with the landmarks of the training image it estimates."""

    def __init__(self, size: int = 112) -> None:
        self.size = size

    def __call__(
        self, decoded: torch.Tensor, landmarks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        crops = warp_to_template(decoded, landmarks.to(decoded), self.size)
        return crops, torch.ones(len(decoded), dtype=torch.bool, device=decoded.device)


class DetectorCrop:
    """Detect a face in each decoded image and stretch its box to ``size``×``size``."""

    def __init__(self, detector: FaceDetector, size: int = 112) -> None:
        self.detector = detector
        self.size = size
        #: The share of decoded images in which a face was found, one number per call: where no
        #: face is found the identity term is skipped for that sample, as in the paper.
        self.found_shares: list[float] = []

    def boxes(self, decoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 4)`` first-face boxes in pixels and the mask of images with a face."""
        images = signed_to_pixels(decoded).cpu().numpy()
        boxes = np.zeros((len(images), 4), dtype=np.float32)
        found = np.zeros(len(images), dtype=bool)
        for row, image in enumerate(images):
            faces = self.detector.detect(image)
            if faces:
                boxes[row], found[row] = faces[0].box, True
        device = decoded.device
        return torch.from_numpy(boxes).to(device), torch.from_numpy(found).to(device)

    def __call__(
        self, decoded: torch.Tensor, landmarks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.ops import roi_align

        boxes, found = self.boxes(decoded)
        self.found_shares.append(found.float().mean().item())
        rois = torch.cat(
            [torch.arange(len(boxes), device=boxes.device)[:, None].to(boxes), boxes], 1
        )
        # Boxes are in OpenCV pixel coordinates (pixel i spans [i - 0.5, i + 0.5]); aligned=True
        # makes roi_align use the same convention.
        crops = roi_align(decoded, rois.to(decoded.dtype), self.size, aligned=True)
        return crops, found


def make_face_crop(method: str, detector: FaceDetector | None = None, size: int = 112) -> FaceCrop:
    """The crop named by ``TrainConfig.identity_crop``."""
    if method == "landmarks":
        return LandmarkCrop(size)
    if method == "detector":
        if detector is None:
            raise ValueError("the detector crop needs a face detector (load_face_detector(config))")
        return DetectorCrop(detector, size)
    raise ValueError(f"unknown identity crop {method!r}; choose one of {', '.join(CROP_METHODS)}")
