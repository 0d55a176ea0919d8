"""Time and peak GPU memory of each stage of the real route, at Stable Diffusion 2.1-base's full size.

    python benchmarks/sd21_route.py                 # on a GPU: full size, fp16, 512 px
    python benchmarks/sd21_route.py --smoke         # on a CPU: the same code at the test's size

The models are :mod:`idbooth_lib.standin`'s random ones at full width (``scale=1``: SD 2.1-base's
UNet, VAE and 23-layer text encoder; an iResNet-50 in the ``buffalo_l``-like pack), so nothing is
downloaded and the times are those of the real architecture; the pictures are noise. The route is
the command line's, stage by stage (:func:`idbooth_lib.standin.route_stages`): toy photos of four
people, prepare, the three methods trained 20 steps each in fp16 (class images drawn first),
the paper's 21 prompts per person, evaluation with both recognisers, an iResNet-50 recogniser
trained one epoch, and a small ``.bin`` scored. The time of a training stage includes loading the
models and drawing the class images; the 20 steps alone are ``benchmarks/train_step.py``'s job.

Results go to ``benchmarks/results/sd21_route_<device>.json`` with the date, the commit and the
device; chapter 08 shows them when present.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
from pathlib import Path

import torch
from bench_report import publish

from idbooth_lib.env import source_commit
from idbooth_lib.standin import STANDIN_CPU_SETTINGS, route_stages, run_route, standin_sources


def route_options(folder: Path, smoke: bool, class_images: int) -> list[str]:
    """``--profile sd21`` with the stand-ins' sources; on a GPU the profile's own fp16 and 512 px,
    with ``class_images`` images of "a person" (the paper draws 200)."""
    scale = 16 if smoke else 1
    settings = standin_sources(folder / "models", scale=scale, full_size_recognisers=not smoke)
    if smoke:
        settings += STANDIN_CPU_SETTINGS
    else:
        settings += [f"train.num_class_images={class_images}"]
    return ["--profile", "sd21", *(word for s in settings for word in ("--set", s))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, reduced width, 64 px")
    parser.add_argument("--steps", type=int, default=20, help="training steps per method")
    parser.add_argument("--images", type=int, default=21, help="images drawn per person")
    parser.add_argument("--class-images", type=int, default=50, help="class images (paper: 200)")
    parser.add_argument("--output", type=Path, default=None, help="JSON file to write")
    arguments = parser.parse_args(argv)
    if not arguments.smoke and not torch.cuda.is_available():
        parser.error("no CUDA GPU here: run on a GPU machine, or add --smoke for a CPU check")
    device = "cpu" if arguments.smoke else "cuda"
    with tempfile.TemporaryDirectory(prefix="sd21-route-") as scratch:
        folder = Path(scratch)
        os.environ["IDBOOTH_HOME"] = str(folder / "home")  # class images stay in the scratch folder
        options = route_options(folder, arguments.smoke, arguments.class_images)
        stages = route_stages(folder, options, arguments.steps, arguments.images, device=device)
        measured = run_route(stages)
    report = {
        "date": datetime.date.today().isoformat(),
        "commit": source_commit(),
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "scale": 16 if arguments.smoke else 1,
        "resolution": 64 if arguments.smoke else 512,
        "training_steps": arguments.steps,
        "images_per_person": arguments.images,
        "class_images": 4 if arguments.smoke else arguments.class_images,
        "stages": measured,
        "total_seconds": round(sum(stage["seconds"] for stage in measured), 1),
    }
    publish(report, arguments.output, f"sd21_route_{device}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
