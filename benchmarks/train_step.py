"""Seconds per fine-tuning step of each method, and of the two x̂0 crops, as ratios from one run.

    .venv/bin/python benchmarks/train_step.py                    # toy profile, CPU
    python benchmarks/train_step.py --sd21-shaped                # random SD 2.1-base shape, GPU

Variants: DreamBooth; PortraitBooth; ID-Booth with the landmark crop (the default here); ID-Booth
with the paper's detector-in-the-loop crop; ID-Booth with its identity term computed only below
timestep 600 (``train.identity_max_timestep``), which decodes 40 % fewer x̂0 and leaves out 6.4 %
of the term's weight (w(t) is small there). Every variant runs the same engine step
(:func:`idbooth_lib.training.finetune.training_step`, backward, clipping, AdamW) on the same data.
Steps are timed in interleaved rounds (A B C D, A B C D, ...) so that a machine that slows down
part-way hurts every variant alike; the median of the rounds is reported, and each ratio divides
two medians of this very run. Targets (issue #5): ID-Booth step ≤ 1.3× the DreamBooth step; on a
GPU, peak memory ≤ 14 GiB (a free Colab T4).

``--sd21-shaped`` builds Stable Diffusion 2.1-base's UNet, VAE and text encoder shapes with random
weights (no download; the stand-in of :mod:`idbooth_lib.standin`) and an iResNet-100 recogniser, at
512 px in fp16 mixed precision, and also reports each variant's peak GPU memory. ``--shape-divisor``
divides every width (a power of two up to 64; for a smoke test of this very code on a CPU). ``--batch-pairs`` changes the number of instance/class pairs per step
(1 on SD shapes, as in the paper). Results are printed and written to ``benchmarks/results/``;
the GPU figures there came from NVIDIA H200s: ``--sd21-shaped``, then with
``--gradient-checkpointing --rounds 3 --steps 3`` (``_checkpointing``) on one machine;
``--batch-pairs 4 --rounds 3 --steps 3`` (``_batch4``) on a second; on a third, ``--rounds 3
--steps 3`` alone (``_rerun``) and with ``--cudnn-benchmark``, ``--channels-last`` and
both (neither sped up the ID-Booth step).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from bench_report import publish

from idbooth_lib.config import load_profile
from idbooth_lib.data.detect import load_face_detector
from idbooth_lib.diffusion.basics import encode_prompts
from idbooth_lib.diffusion.lora import add_lora
from idbooth_lib.identity.encoders import load_identity_encoder
from idbooth_lib.ranges import pixels_to_signed
from idbooth_lib.toy.pretrain.common import embed_faces
from idbooth_lib.toy_world.render import render_faces
from idbooth_lib.training.crops import make_face_crop
from idbooth_lib.training.finetune import IdentityData, training_step
from idbooth_lib.training.losses import total_loss
from idbooth_lib.training.precision import MixedPrecision, build_optimiser

#: name → (method, x̂0 crop, identity term only below this timestep; 1000 = always, the paper)
VARIANTS = {
    "dreambooth": ("dreambooth", "landmarks", 1000),
    "portraitbooth": ("portraitbooth", "landmarks", 1000),
    "idbooth": ("idbooth", "landmarks", 1000),
    "idbooth_detector_crop": ("idbooth", "detector", 1000),
    "idbooth_identity_below_t600": ("idbooth", "landmarks", 600),
}


def toy_setup(config):
    """The shipped toy models and five studio photos of an unseen toy person."""
    from idbooth_lib.diffusion.pipeline import load_base_pipeline

    pipeline = load_base_pipeline(config, dtype="float32")
    encoder = load_identity_encoder(config.models.identity_encoder)
    detector = load_face_detector(config)
    person = render_faces(2, range(1), 5, "constrained")
    others = render_faces(2, range(1, 9), 2, "wild")
    data = IdentityData(
        pixels_to_signed(person.images),
        torch.as_tensor(person.landmarks),
        pixels_to_signed(others.images),
        torch.as_tensor(embed_faces(encoder, person)),
        torch.as_tensor(embed_faces(encoder, others)),
    )
    return pipeline, encoder, detector, data


def sd21_shaped_setup(config, divisor: int, resolution: int, device: str):
    """SD 2.1-base's architecture with random weights (:func:`idbooth_lib.standin.sd21_standin_pipeline`,
    every width divided by ``divisor``), an iResNet-100, and random data.

    The crops use landmarks at the ArcFace template's place in a 512 px face crop; the detector
    variant uses a detector that always finds that box (the cost measured is the round trip of
    the decoded image to the CPU, which every real detector pays, plus its own run time).
    """
    from idbooth_lib.data.detect import Face
    from idbooth_lib.identity.align import arcface_template
    from idbooth_lib.identity.arcface_torch import iresnet
    from idbooth_lib.standin import sd21_standin_pipeline

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    pipeline = sd21_standin_pipeline(scale=divisor).to(device, dtype)
    width = lambda channels: max(32, channels // divisor // 32 * 32)  # noqa: E731  (GroupNorm: 32)
    encoder = iresnet(
        "r100" if divisor == 1 else "r18", widths=tuple(width(c) for c in (64, 128, 256, 512))
    )
    encoder = encoder.to(device).eval().requires_grad_(False)
    generator = torch.Generator().manual_seed(0)
    landmarks = arcface_template(resolution).expand(5, 5, 2).clone()

    class TemplateBox:
        def detect(self, image):
            box = np.array([0, 0, image.shape[1] - 1, image.shape[0] - 1], dtype=np.float32)
            return [Face(box, landmarks[0].numpy(), 1.0)]

    embeddings = torch.nn.functional.normalize(torch.randn(10, encoder.fc.out_features), dim=-1)
    data = IdentityData(
        torch.rand(5, 3, resolution, resolution, generator=generator) * 2 - 1,
        landmarks,
        torch.rand(5, 3, resolution, resolution, generator=generator) * 2 - 1,
        embeddings[:5],
        embeddings[5:],
    )
    return pipeline, encoder, TemplateBox(), data


def time_variants(pipeline, encoder, detector, data, train, rounds: int, steps: int, peak: bool):
    """Median seconds per step (and peak GPU memory) of each variant, timed in interleaved rounds."""
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
    parameters = add_lora(pipeline.unet, train)
    if train.decode_fp32:  # as a run does (finetune._train)
        pipeline.vae.to(torch.float32)
    if train.gradient_checkpointing:
        pipeline.unet.enable_gradient_checkpointing()
        pipeline.vae.enable_gradient_checkpointing()
    precision = MixedPrecision(train.mixed_precision, pipeline.device)
    optimiser = build_optimiser(parameters, train)
    with torch.no_grad():
        prompts = encode_prompts(pipeline, [train.instance_prompt, train.class_prompt])
    generator = torch.Generator().manual_seed(0)
    seconds = {name: [] for name in VARIANTS}
    memory = dict.fromkeys(VARIANTS, 0.0)
    cuda = pipeline.device.type == "cuda"

    def one_step(name):
        method, crop_name, limit = VARIANTS[name]
        config = dataclasses.replace(train, method=method, identity_max_timestep=limit)
        crop = make_face_crop(crop_name, detector)
        with precision.autocast():
            terms = training_step(
                pipeline, scheduler, encoder, data, config, prompts, generator, crop
            )
            loss = total_loss(terms, config.prior_loss_weight)
        precision.step(loss, optimiser, parameters, train.max_grad_norm)

    for name in VARIANTS:  # warm-up: first calls allocate and pick kernels
        one_step(name)
    for _ in range(rounds):
        for name in VARIANTS:
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            began = time.perf_counter()
            for _ in range(steps):
                one_step(name)
            if cuda:
                torch.cuda.synchronize()
                memory[name] = max(memory[name], torch.cuda.max_memory_allocated() / 2**30)
            seconds[name].append((time.perf_counter() - began) / steps)
    result = {
        name: {"seconds_per_step": statistics.median(values)} for name, values in seconds.items()
    }
    if peak and cuda:
        for name in VARIANTS:
            result[name]["peak_memory_gib"] = round(memory[name], 2)
    return result


def with_ratios(result: dict) -> dict:
    """Each variant's step divided by DreamBooth's, both medians of the same run."""
    base = result["dreambooth"]["seconds_per_step"]
    for values in result.values():
        values["ratio_to_dreambooth"] = round(values["seconds_per_step"] / base, 3)
    return result


def crop_ratio(result: dict) -> float:
    """The detector-in-the-loop crop's step divided by the landmark crop's."""
    detector, landmarks = result["idbooth_detector_crop"], result["idbooth"]
    return round(detector["seconds_per_step"] / landmarks["seconds_per_step"], 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sd21-shaped", action="store_true", help="random SD 2.1-base shapes")
    parser.add_argument("--shape-divisor", type=int, default=1, help="shrink every width by this")
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument(
        "--channels-last", action="store_true", help="UNet, VAE and recogniser in NHWC layout"
    )
    parser.add_argument(
        "--cudnn-benchmark", action="store_true", help="let cuDNN time its convolution algorithms"
    )
    parser.add_argument(
        "--decode-fp32", action="store_true", help="decode x̂0 in float32 (train.decode_fp32)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4, help="steps per variant per round")
    parser.add_argument(
        "--batch-pairs",
        type=int,
        default=None,
        help="instance/class pairs per step (default: 1 "
        "on --sd21-shaped, the paper's; the toy profile's own otherwise)",
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON file to write")
    arguments = parser.parse_args(argv)
    torch.manual_seed(0)
    if arguments.sd21_shaped:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        config = load_profile("sd21", {"device": device})
        train = dataclasses.replace(
            config.train,
            batch_size=arguments.batch_pairs or 1,
            mixed_precision="fp16" if device == "cuda" else "no",
            gradient_checkpointing=arguments.gradient_checkpointing,
        )
        setup = sd21_shaped_setup(config, arguments.shape_divisor, arguments.resolution, device)
        name = f"train_step_sd21_shaped_{device}"
    else:
        config = load_profile("toy")
        train = dataclasses.replace(
            config.train, batch_size=arguments.batch_pairs or config.train.batch_size
        )
        setup = toy_setup(config)
        name = "train_step_toy_cpu"
    train = dataclasses.replace(train, decode_fp32=arguments.decode_fp32)
    torch.backends.cudnn.benchmark = arguments.cudnn_benchmark
    if arguments.channels_last:
        pipeline, encoder = setup[0], setup[1]
        for model in (pipeline.unet, pipeline.vae, encoder):
            model.to(memory_format=torch.channels_last)
    result = time_variants(*setup, train, arguments.rounds, arguments.steps, peak=True)
    report = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "batch_pairs": train.batch_size,
        "gradient_checkpointing": train.gradient_checkpointing,
        "channels_last": arguments.channels_last,
        "cudnn_benchmark": arguments.cudnn_benchmark,
        "decode_fp32": train.decode_fp32,
        "mixed_precision": train.mixed_precision,
        "rounds": arguments.rounds,
        "steps_per_round": arguments.steps,
        "variants": with_ratios(result),
        "ratio_idbooth_detector_to_landmark_crop": crop_ratio(result),
    }
    publish(report, arguments.output, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
