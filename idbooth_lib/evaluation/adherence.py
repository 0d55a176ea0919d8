"""Did the image show what its prompt asked for? Background and head pose, prompt by prompt.

Generated images come with a manifest (``GEN/manifest.jsonl`` or one per identity folder,
``GEN/<identity>/manifest.jsonl``: one JSON object per line with at least ``file`` — relative to
``GEN`` — and ``prompt``). Each prompt is read back with the paper's
template (:func:`~idbooth_lib.vocabulary.parse_prompt`) into the background and pose it
asked for; a *scene scorer* says which background and pose the image shows; adherence is the share
that agree (backgrounds only over prompts that name one).

Scorers (``models.scene_scorer``):

- ``idbooth:toy/probe`` — :class:`SceneProbe`, a small CNN with a background head and a pose head,
  trained on real wild toy faces (``python -m idbooth_lib.toy.pretrain probe``; its held-out
  accuracy is in ``accuracy.json`` beside it: the ceiling of what it can say about generated ones);
- a CLIP model (``sd21``) — zero-shot over the ten backgrounds ("a photo of a person, {bg}
  background"), with the pose read from the five detected landmarks: a face counts as a side view
  when its nose sits more than ``SIDE_YAW`` eye distances off the eyes' midpoint
  (:func:`~idbooth_lib.evaluation.diversity.landmark_pose`). That threshold is a geometric
  judgement, not fitted on labelled real photos; insightface's 3D head pose would be the stronger
  instrument and is not wired in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from idbooth_lib.evaluation.diversity import landmark_pose
from idbooth_lib.evaluation.features import writable
from idbooth_lib.generation.generate import MANIFEST_FILE
from idbooth_lib.generation.prompts import BACKGROUNDS, POSES, parse_prompt
from idbooth_lib.identity.storage import read_network, save_network
from idbooth_lib.models import registers_loader, resolve
from idbooth_lib.ranges import pixels_to_signed

#: A face whose yaw proxy exceeds this counts as a side view (CLIP scorer).
SIDE_YAW = 0.15

#: ``(backgrounds, poses)`` predicted for whole images ``(N, H, W, 3)`` and their landmarks.
SceneScorer = Callable[[list[np.ndarray], np.ndarray], tuple[list[str], list[str]]]


@dataclass(frozen=True)
class ProbeConfig:
    """The probe's architecture: input side and the widths of its three convolutions."""

    input_size: int = 64
    widths: tuple[int, int, int] = (32, 64, 96)


class SceneProbe(torch.nn.Module):
    """Three strided convolutions, a 4×4 pooled map (it keeps where the nose sits in the face:
    2×2 lost the pose), and two linear heads: background (10) and pose (2)."""

    def __init__(self, config: ProbeConfig = ProbeConfig()) -> None:
        super().__init__()
        self.config = config
        first, second, third = config.widths
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, first, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(first, second, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(second, third, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(4),
            torch.nn.Flatten(),
        )
        self.background = torch.nn.Linear(16 * third, len(BACKGROUNDS))
        self.pose = torch.nn.Linear(16 * third, len(POSES))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] → background and pose logits."""
        features = self.body(images)
        return self.background(features), self.pose(features)

    def save(self, folder: str | Path) -> None:
        save_network(
            self, {"input_size": self.config.input_size, "widths": list(self.config.widths)}, folder
        )

    @classmethod
    def load(cls, folder: str | Path) -> SceneProbe:
        config, state = read_network(
            folder, "train it with `python -m idbooth_lib.toy.pretrain probe`"
        )
        probe = cls(ProbeConfig(config["input_size"], tuple(config["widths"])))
        probe.load_state_dict(state)
        return probe.eval()


def probe_scorer(probe: SceneProbe) -> SceneScorer:
    """The toy scorer: the probe on each whole image, resized to its input."""

    @torch.no_grad()
    def score(images: list[np.ndarray], landmarks: np.ndarray) -> tuple[list[str], list[str]]:
        size = probe.config.input_size
        batch = np.stack(
            [cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA) for image in images]
        )
        backgrounds, poses = probe(pixels_to_signed(batch))
        return (
            [BACKGROUNDS[index] for index in backgrounds.argmax(1).tolist()],
            [POSES[index] for index in poses.argmax(1).tolist()],
        )

    return score


def clip_scorer(source: str, device: str = "cpu", batch: int = 32) -> SceneScorer:
    """The sd21 scorer: CLIP zero-shot backgrounds, landmark pose (see the module docstring)."""
    from transformers import CLIPModel, CLIPProcessor

    from idbooth_lib.evaluation.features import hub_model

    processor = hub_model(lambda: CLIPProcessor.from_pretrained(source), source, "scene_scorer")
    model = hub_model(
        lambda: CLIPModel.from_pretrained(source, dtype=torch.float32), source, "scene_scorer"
    )
    model = model.to(device).eval()
    texts = [f"a photo of a person, {background} background" for background in BACKGROUNDS]

    @torch.no_grad()
    def score(images: list[np.ndarray], landmarks: np.ndarray) -> tuple[list[str], list[str]]:
        chosen = []
        for start in range(0, len(images), batch):
            inputs = processor(
                text=texts, images=writable(images[start : start + batch]), return_tensors="pt",
                padding=True,
            )  # fmt: skip
            chosen += model(**inputs.to(device)).logits_per_image.argmax(1).tolist()
        yaw = landmark_pose(landmarks)[:, 0]
        return (
            [BACKGROUNDS[index] for index in chosen],
            ["side" if abs(value) > SIDE_YAW else "frontal" for value in yaw],
        )

    return score


def load_scene_scorer(source: str, device: str = "cpu") -> SceneScorer:
    """The scorer ``models.scene_scorer`` names: the packaged toy probe or a CLIP model."""
    found = resolve(source, "scene_scorer")
    if found.kind == "packaged":
        return probe_scorer(SceneProbe.load(found.location))
    return clip_scorer(found.location, device)


@registers_loader("scene_scorer")
def load_bundled_scorer(bundle, setting: str) -> SceneScorer:
    """The scene scorer of a :class:`~idbooth_lib.models.ModelBundle`, on its device."""
    return load_scene_scorer(bundle.config.models.scene_scorer, bundle.device)


def read_manifest(folder: str | Path) -> dict[str, dict] | None:
    """``{file: record}`` from ``folder/manifest.jsonl`` and from each identity folder's own
    ``manifest.jsonl`` (None when there is none); a broken line is a ``ValueError`` naming the
    file and the line."""
    paths = [Path(folder) / MANIFEST_FILE, *sorted(Path(folder).glob(f"*/{MANIFEST_FILE}"))]
    found = [path for path in paths if path.is_file()]
    if not found:
        return None
    records: dict[str, dict] = {}
    for path in found:
        records |= _manifest_lines(path)
    return records


def _manifest_lines(path: Path) -> dict[str, dict]:
    records = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            valid = all(isinstance(record.get(key), str) for key in ("file", "prompt"))
        except (ValueError, AttributeError):
            valid = False
        if not valid:
            raise ValueError(
                f"{path}, line {number}: expected a JSON object with the strings 'file' (relative "
                f"to {path.parent}) and 'prompt'; fix or delete the line"
            )
        records[record["file"]] = record
    return records


def adherence(
    prompts: list[str], backgrounds: list[str], poses: list[str], identities: list[str]
) -> dict:
    """Shares of images whose background and pose agree with their prompts, overall and per
    identity; prompts outside the paper's template are counted and left out."""
    wanted = []
    for prompt in prompts:
        try:
            wanted.append(parse_prompt(prompt))
        except ValueError:
            wanted.append(None)
    rows = [row for row, asked in enumerate(wanted) if asked is not None]
    with_background = [row for row in rows if wanted[row]["background"] is not None]

    def share(selected: list[int], key: str, shown: list[str]) -> float | None:
        return (
            float(np.mean([shown[row] == wanted[row][key] for row in selected]))
            if selected
            else None
        )

    per_identity = {}
    for identity in sorted(set(identities)):
        mine = [row for row in rows if identities[row] == identity]
        mine_bg = [row for row in mine if wanted[row]["background"] is not None]
        per_identity[identity] = {
            "background": share(mine_bg, "background", backgrounds),
            "pose": share(mine, "pose", poses),
        }
    return {
        "background": share(with_background, "background", backgrounds),
        "pose": share(rows, "pose", poses),
        "images": len(rows),
        "images_with_a_background": len(with_background),
        "prompts_outside_the_template": len(prompts) - len(rows),
        "per_identity": per_identity,
    }
