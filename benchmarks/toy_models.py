"""Quality of the shipped toy models, measured against the bars of the toy-model issue.

    .venv/bin/python benchmarks/toy_models.py [--only recognisers,vae,foundation,dreambooth]

Writes ``idbooth_lib/toy/weights/quality.json`` (chapter 02 shows it, see
``idbooth_lib.toy.quality``) and prints each result. Every measurement uses identities of
``UNSEEN_WORLD_SEED``: people no toy model was trained on.

- recognisers: 10-fold verification accuracy on pairs of unseen wild toy faces (bar: ≥ 97 %);
- detector: mean landmark error at 64×64 (bar: ≤ 1.5 px), rejection of noise and scenery;
- vae: reconstruction PSNR, and the loss recogniser's verification accuracy on reconstructions
  against originals (bar: within 2 points);
- foundation: a probe trained on real toy faces classifies generated images by background and pose
  (bar: ≥ 90 % each); Fréchet distance between generated and real faces in recogniser features;
- dreambooth: a UNet LoRA trained on five studio photos of an unseen identity makes ``sks`` that
  identity (mean cosine ≥ 0.5 to its photos; nearest of 100 identities for half the samples).

Generated images have no ground-truth landmarks; until the toy detector exists they are aligned
with the mean landmarks of toy faces (a fixed crop), and the real faces they are compared with are
aligned the same way, so both sides see the same crop.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg

from idbooth_lib.config import load_profile
from idbooth_lib.diffusion.basics import decode_latents, encode_images, sample
from idbooth_lib.diffusion.pipeline import load_base_pipeline
from idbooth_lib.evaluation.adherence import SceneProbe
from idbooth_lib.identity.align import warp_to_template
from idbooth_lib.identity.encoders import load_identity_encoder
from idbooth_lib.models import resolve_source
from idbooth_lib.ranges import pixels_to_signed, signed_to_pixels, unit_to_signed
from idbooth_lib.recognition.verification import pair_scores, sample_pairs, ten_fold_accuracy
from idbooth_lib.toy.pretrain.common import UNSEEN_WORLD_SEED, embed_faces
from idbooth_lib.toy.quality import QUALITY_FILE, load_quality
from idbooth_lib.toy_world.faces import BACKGROUNDS, POSES, describe
from idbooth_lib.toy_world.render import RenderedFaces, render_faces

PAIRS_PER_KIND = 3000


def unseen_faces(
    identities: int = 200, per_identity: int = 10, mode: str = "wild"
) -> RenderedFaces:
    """Faces of identities that no shipped model saw in training."""
    return render_faces(UNSEEN_WORLD_SEED, range(identities), per_identity, mode)


def verification(encoder, faces: RenderedFaces) -> float:
    """10-fold verification accuracy of ``encoder`` on a fixed set of pairs of ``faces``."""
    pairs, same = sample_pairs(faces.identities, PAIRS_PER_KIND, seed=0)
    scores = pair_scores(embed_faces(encoder, faces), pairs)
    return ten_fold_accuracy(scores, same).accuracy_mean


def measure_recognisers(config) -> dict:
    faces = unseen_faces()
    return {
        role: {
            "source": source,
            "accuracy_mean": verification(load_identity_encoder(source), faces),
        }
        for role, source in (
            ("loss", config.models.identity_encoder),
            ("evaluation", config.models.evaluation_encoder),
        )
    }


@torch.no_grad()
def measure_vae(config) -> dict:
    from diffusers import AutoencoderKL

    folder = resolve_source(config.models.base_model)
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=torch.float32).eval()
    faces = unseen_faces()
    reconstructed = []
    for start in range(0, len(faces), 200):
        images = pixels_to_signed(faces.images[start : start + 200])
        decoded = decode_latents(vae, encode_images(vae, images))
        reconstructed.append(signed_to_pixels(decoded))
    reconstructed = torch.cat(reconstructed).numpy()
    error = (reconstructed.astype(np.float64) - faces.images.astype(np.float64)) ** 2
    psnr = float(np.mean(10 * np.log10(255.0**2 / error.reshape(len(faces), -1).mean(1))))
    encoder = load_identity_encoder(config.models.identity_encoder)
    return {
        "psnr_db": psnr,
        "accuracy_originals": verification(encoder, faces),
        "accuracy_reconstructions": verification(
            encoder, dataclasses.replace(faces, images=reconstructed)
        ),
    }


def mean_landmarks(count: int = 200) -> torch.Tensor:
    """Average landmarks of toy faces at scale 1: the fixed crop for images without landmarks."""
    faces = render_faces(UNSEEN_WORLD_SEED, range(count), 1, "constrained")
    return torch.as_tensor(faces.landmarks.mean(0))


@torch.no_grad()
def embed_fixed_crop(encoder, images: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
    """Embeddings of images in [0, 1] aligned with one fixed set of landmarks."""
    images = unit_to_signed(images)
    return encoder(warp_to_template(images, landmarks.expand(len(images), 5, 2)))


def train_probe(steps: int = 2000) -> tuple[SceneProbe, dict[str, float]]:
    """Train the probe on real wild faces of unseen identities; return it and its accuracy per
    head on held-out real faces (the ceiling for what it can say about generated ones)."""
    faces = render_faces(UNSEEN_WORLD_SEED, range(300, 800), 8, "wild")
    backgrounds = torch.tensor([BACKGROUNDS.index(b) for b in faces.backgrounds])
    poses = torch.tensor([POSES.index(p) for p in faces.poses])
    images = pixels_to_signed(faces.images)
    train, held_out = slice(0, 3600), slice(3600, None)
    probe, generator = SceneProbe(), torch.Generator().manual_seed(0)
    optimiser = torch.optim.AdamW(probe.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    for _ in range(steps):
        index = torch.randint(0, 3600, (64,), generator=generator)
        logits_b, logits_p = probe(images[train][index])
        loss = F.cross_entropy(logits_b, backgrounds[train][index]) + F.cross_entropy(
            logits_p, poses[train][index]
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    probe.eval()
    with torch.no_grad():
        logits_b, logits_p = probe(images[held_out])
    return probe, {
        "background": float((logits_b.argmax(1) == backgrounds[held_out]).float().mean()),
        "pose": float((logits_p.argmax(1) == poses[held_out]).float().mean()),
    }


def frechet_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (the FID formula)."""
    mean_a, mean_b = first.mean(0), second.mean(0)
    cov_a, cov_b = np.cov(first, rowvar=False), np.cov(second, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def measure_foundation(config, per_cell: int = 20) -> dict:
    pipeline = load_base_pipeline(config, dtype="float32")
    probe, probe_accuracy = train_probe()
    rng = np.random.default_rng(0)
    generated, wanted_background, wanted_pose = [], [], []
    for background in BACKGROUNDS:
        for pose in POSES:
            prompts = [
                describe(rng.choice(["male", "female"]), pose, background) for _ in range(per_cell)
            ]
            generated.append(
                sample(
                    pipeline,
                    prompts,
                    guidance_scale=config.generate.guidance_scale,
                    steps=config.generate.num_inference_steps,
                    seed=len(generated),
                )
            )
            wanted_background += [BACKGROUNDS.index(background)] * per_cell
            wanted_pose += [POSES.index(pose)] * per_cell
    images = torch.cat(generated)
    with torch.no_grad():
        logits_b, logits_p = probe(unit_to_signed(images))
    encoder = load_identity_encoder(config.models.identity_encoder)
    landmarks = mean_landmarks()
    real = unseen_faces(identities=len(images) // 2, per_identity=2)
    real_images = torch.as_tensor(real.images).permute(0, 3, 1, 2).float() / 255
    return {
        "background_accuracy": float(
            (logits_b.argmax(1) == torch.tensor(wanted_background)).float().mean()
        ),
        "pose_accuracy": float((logits_p.argmax(1) == torch.tensor(wanted_pose)).float().mean()),
        "probe_background_accuracy_real": probe_accuracy["background"],
        "probe_pose_accuracy_real": probe_accuracy["pose"],
        "frechet_distance": frechet_distance(
            embed_fixed_crop(encoder, images, landmarks).numpy(),
            embed_fixed_crop(encoder, real_images, landmarks).numpy(),
        ),
        "images": len(images),
        **measure_text_encoder(pipeline),
        **measure_named_identities(pipeline, encoder),
    }


@torch.no_grad()
def measure_text_encoder(pipeline, count: int = 50) -> dict:
    """Does the text encoder tell names apart? Mean cosine between the outputs of ``count``
    pretraining names (at the end-of-text token, which sees the whole prompt), and between the
    instance and class prompts of DreamBooth. Near 1, a UNet LoRA cannot tell them apart."""
    from idbooth_lib.toy.tokenizer import identity_names

    def end_of_text(prompts: list[str]) -> torch.Tensor:
        ids = pipeline.tokenizer(prompts, return_tensors="pt", padding="longest").input_ids
        return F.normalize(pipeline.text_encoder(ids).pooler_output, dim=-1)

    names = end_of_text([f"photo of {name} person" for name in identity_names(count)])
    pairs = names @ names.T
    instance, plain = end_of_text(["photo of sks person", "photo of a person"])
    return {
        "name_output_mean_cosine": float(pairs[~torch.eye(count, dtype=bool)].mean()),
        "sks_vs_a_output_cosine": float(instance @ plain),
    }


@torch.no_grad()
def measure_named_identities(pipeline, encoder, count: int = 20, samples: int = 4) -> dict:
    """Does the model draw *pretraining* people by their made-up names, as SD draws famous faces?

    DreamBooth relies on that ability; without it, a new name cannot be bound to a new face.
    Each name's samples are compared with the centroids of the ``count`` people's real studio
    photos: mean cosine to the right person, and how often the right person is the nearest.
    """
    from idbooth_lib.toy.pretrain.common import PRETRAIN_WORLD_SEED
    from idbooth_lib.toy.tokenizer import identity_names

    faces = render_faces(PRETRAIN_WORLD_SEED, range(count), 4, "constrained")
    centroids = identity_centroids(encoder, faces, count)
    landmarks, names = mean_landmarks(), identity_names(count)
    cosines, nearest = [], []
    for person in range(count):
        gender = faces.genders[int(np.flatnonzero(faces.identities == person)[0])]
        prompt = describe(gender, "frontal", None, names[person])
        images = sample(pipeline, [prompt] * samples, seed=person)
        similarity = embed_fixed_crop(encoder, images, landmarks) @ centroids.T
        cosines.append(float(similarity[:, person].mean()))
        nearest.append(float((similarity.argmax(1) == person).float().mean()))
    return {
        "named_identity_mean_cosine": float(np.mean(cosines)),
        f"named_identity_rank1_of_{count}": float(np.mean(nearest)),
    }


def measure_dreambooth(config, identities: tuple[int, ...] = (3, 7, 12), samples: int = 20) -> dict:
    """DreamBooth (UNet LoRA, prior preservation) on five studio photos of each unseen identity
    in turn; the bars apply to the means over them.

    What the runs share is made once: the base pipeline (each LoRA is taken off again), its class
    images, its class-prompt samples before fine-tuning and the gallery of 100 people.
    """
    from idbooth_lib.diffusion.lora import remove_lora

    pipeline = load_base_pipeline(config, dtype="float32")
    encoder = load_identity_encoder(config.models.identity_encoder)
    landmarks = mean_landmarks()
    # The foundation's capacity check keeps the settings its bars were set at (300 steps, cosine),
    # not the book's shorter toy setting, which trades identity for prompts (chapter 06).
    train = dataclasses.replace(config.train, max_steps=300, lr_scheduler="cosine")
    class_images = torch.cat(
        [
            sample(
                pipeline,
                [train.class_prompt] * 25,
                steps=config.generate.num_inference_steps,
                guidance_scale=config.generate.guidance_scale,
                seed=seed,
            )
            for seed in (100, 101)
        ]
    )
    before = sample(pipeline, [train.class_prompt] * samples, seed=7)
    gallery = unseen_faces(identities=100, per_identity=5, mode="constrained")
    centroids = identity_centroids(encoder, gallery, 100)
    runs = []
    for identity in identities:
        history = dreambooth_on(pipeline, train, gallery, identity, class_images)
        instance = embed_fixed_crop(
            encoder, sample(pipeline, [train.instance_prompt] * samples, seed=8), landmarks
        )
        after = embed_fixed_crop(
            encoder, sample(pipeline, [train.class_prompt] * samples, seed=7), landmarks
        )
        remove_lora(pipeline.unet)
        similarity = instance @ centroids.T
        runs.append(
            {
                "identity": identity,
                "mean_cosine_to_real": float(similarity[:, identity].mean()),
                "rank1_share": float((similarity.argmax(1) == identity).float().mean()),
                "class_prompt_diversity_after": diversity(after),
                "final_losses": {name: values[-1] for name, values in history.terms.items()},
            }
        )
    mean = {
        key: float(np.mean([run[key] for run in runs]))
        for key, value in runs[0].items()
        if isinstance(value, float)
    }
    return {
        "identities": list(identities),
        "steps": train.max_steps,
        "class_prompt_diversity_before": diversity(embed_fixed_crop(encoder, before, landmarks)),
        **mean,
        "runs": runs,
    }


def dreambooth_on(pipeline, train, gallery: RenderedFaces, identity: int, class_images):
    """Fine-tune a DreamBooth LoRA on ``identity``'s photos in ``gallery``; it stays loaded."""
    import tempfile

    from idbooth_lib.training.finetune import IdentityData, finetune

    mine = gallery.identities == identity
    data = IdentityData(
        instance_images=pixels_to_signed(gallery.images[mine]),
        instance_landmarks=torch.as_tensor(gallery.landmarks[mine]),
        class_images=unit_to_signed(class_images),
    )
    dreambooth = dataclasses.replace(train, method="dreambooth")
    with tempfile.TemporaryDirectory() as folder:
        return finetune(pipeline, None, data, dreambooth, output=folder)


def identity_centroids(encoder, faces: RenderedFaces, count: int) -> torch.Tensor:
    """Each of the first ``count`` people's mean embedding over their photos, L2-normalised."""
    gallery = torch.as_tensor(embed_faces(encoder, faces))
    return F.normalize(
        torch.stack([gallery[faces.identities == i].mean(0) for i in range(count)]), dim=-1
    )


def diversity(embeddings: torch.Tensor) -> float:
    """1 − mean pairwise cosine: 0 when every sample is the same person."""
    similarity = embeddings @ embeddings.T
    count = len(embeddings)
    return float(1 - (similarity.sum() - count) / (count * (count - 1)))


def measure_detector(config) -> dict:
    """Landmark error and rejection rates of the toy face detector on unseen people."""
    from idbooth_lib.identity.toy_detector import ToyFaceDetector
    from idbooth_lib.toy.pretrain.detector import benchmark_detector

    return benchmark_detector(ToyFaceDetector.load(resolve_source(config.models.face_analysis)))


MEASURES = {
    "recognisers": measure_recognisers,
    "detector": measure_detector,
    "vae": measure_vae,
    "foundation": measure_foundation,
    "dreambooth": measure_dreambooth,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(MEASURES))
    arguments = parser.parse_args(argv)
    config = load_profile("toy")
    torch.manual_seed(0)
    results = load_quality()
    for name in arguments.only.split(","):
        began = time.time()
        results[name] = MEASURES[name](config)
        results[name]["seconds"] = round(time.time() - began, 1)
        print(name, json.dumps(results[name], indent=1), flush=True)
        QUALITY_FILE.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
