"""Does training a toy recogniser on a real set beat not training it at all?

    .venv/bin/python benchmarks/recognition_training.py            # every candidate, 5 seeds
    .venv/bin/python benchmarks/recognition_training.py --seeds 0 1 --candidates studio-24x5

The paper's utility claim compares recognisers trained on real photos alone and on real +
synthetic images. That comparison only measures something where training on the real photos
already beats an *untrained* backbone, whose random convolutions verify toy people by their
colours alone. This benchmark trains the toy backbone on candidate real sets and recipes, each
with several seeds, and scores every recogniser and the untrained backbone of the same seed on the
toy verification benchmark that ``make reproduce`` uses (unseen people in the wild, 10 × 60 pairs,
10-fold midpoint protocol). For each candidate it reports trained − untrained, paired by seed, with
a bootstrap 95 % interval over the seeds.

The real sets are toy people drawn as the reproduction draws them (the book's world; studio,
posed or wild photos: ``toy_world.faces.MODES``), aligned with their true landmarks (the reproduction
aligns detected ones: the same template, a few pixels apart). Validation holds out a fifth of
the people, as ``make reproduce`` does. Results go to ``benchmarks/results/recognition_training.json`` with the date and the commit.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from bench_report import publish

from idbooth_lib.env import source_commit
from idbooth_lib.evaluation.intervals import paired_difference
from idbooth_lib.identity.align import warp_to_template
from idbooth_lib.identity.encoders import load_identity_encoder
from idbooth_lib.ranges import pixels_to_signed, signed_to_pixels
from idbooth_lib.recognition.benchmarks import score_benchmark
from idbooth_lib.recognition.bins import VerificationPairs
from idbooth_lib.recognition.data import FaceClasses, hold_out_identities
from idbooth_lib.recognition.train import RecognitionConfig, build_backbone, train_recognition
from idbooth_lib.toy.benchmark import toy_benchmark_pairs
from idbooth_lib.toy_world.render import render_faces

BOOK_WORLD_SEED = 0  # the people of the book's chapters and of make reproduce
PROTOCOL = "midpoint"  # make reproduce's (experiments/reproduce.py BENCHMARK_PROTOCOL)


@dataclass(frozen=True)
class Candidate:
    """A real set (people × photos in each of the modes joined by ``+``: ``constrained+posed``
    is five studio shots and five posed ones) and a recipe (RecognitionConfig fields)."""

    people: int
    photos: int
    mode: str
    recipe: dict = field(default_factory=dict)


AUGMENTED = {"colour_jitter": 0.4, "shift": 0.1}
CANDIDATES = {
    "studio-24x5": Candidate(24, 5, "constrained"),  # make reproduce's real set and recipe today
    "studio-24x5-augmented": Candidate(24, 5, "constrained", AUGMENTED),
    "studio-24x10-augmented": Candidate(24, 10, "constrained", AUGMENTED),
    "studio-48x5-augmented": Candidate(48, 5, "constrained", AUGMENTED),
    "posed-24x5": Candidate(24, 5, "posed"),  # the studio backdrop; poses and light vary
    "studio+posed-24x5": Candidate(24, 5, "constrained+posed"),  # a whole studio session
    "wild-24x5": Candidate(24, 5, "wild"),
    "wild-24x5-augmented": Candidate(24, 5, "wild", AUGMENTED),
}


def aligned_people(people: int, photos: int, modes: str) -> FaceClasses:
    """The book's first ``people`` toy people, ``photos`` each in each of ``modes`` (joined by
    ``+``), as aligned 112 × 112 crops."""
    crops, labels = [], []
    for mode in modes.split("+"):
        faces = render_faces(BOOK_WORLD_SEED, range(people), photos, mode)
        landmarks = torch.as_tensor(faces.landmarks).float()
        crops.append(signed_to_pixels(warp_to_template(pixels_to_signed(faces.images), landmarks)))
        labels.append(faces.identities)
    names = [f"person{person:03d}" for person in range(people)]
    labels = np.concatenate(labels)
    by_person = np.argsort(labels, kind="stable")  # each person's photos together, as written
    return FaceClasses(torch.cat(crops).numpy()[by_person], labels[by_person], names,
                       ["data"] * len(labels))  # fmt: skip


def benchmark_accuracy(encoder: torch.nn.Module, pairs: VerificationPairs) -> float:
    return score_benchmark(encoder.eval(), pairs, PROTOCOL)["accuracy_mean"]


def measure(candidate: Candidate, seeds: list[int], epochs: int, pairs: VerificationPairs) -> dict:
    """Trained and untrained accuracy per seed, and their paired difference."""
    data = aligned_people(candidate.people, candidate.photos, candidate.mode)
    trained, untrained, seconds = [], [], []
    for seed in seeds:
        train, validation = hold_out_identities(data, 0.2, seed, origin="data")
        config = RecognitionConfig(epochs=epochs, seed=seed, **candidate.recipe)
        began = time.perf_counter()
        with tempfile.TemporaryDirectory() as output:
            train_recognition(train, validation, config, output)  # fmt: skip
            trained.append(benchmark_accuracy(load_identity_encoder(output + "/backbone"), pairs))
        seconds.append(time.perf_counter() - began)
        torch.manual_seed(seed)  # the backbone train_recognition starts from
        untrained.append(benchmark_accuracy(build_backbone("toy", config.embedding_dim), pairs))
        print(
            f"  seed {seed}: trained {trained[-1]:.4f}, untrained {untrained[-1]:.4f}", flush=True
        )
    gain = paired_difference(trained, untrained)
    return {
        "people": candidate.people, "photos_per_person": candidate.photos, "mode": candidate.mode,
        "recipe": {"epochs": epochs, **candidate.recipe}, "seeds": seeds,
        "trained": trained, "untrained": untrained,
        "trained_mean": float(np.mean(trained)), "untrained_mean": float(np.mean(untrained)),
        "gain": gain.estimate, "gain_low": gain.low, "gain_high": gain.high,
        "seconds_per_recogniser": round(float(np.mean(seconds)), 1),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--candidates", nargs="+", choices=sorted(CANDIDATES), default=list(CANDIDATES)
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=30, help="make reproduce's recogniser_epochs")
    parser.add_argument("--output", type=Path, help="default: results/recognition_training.json")
    args = parser.parse_args(argv)
    if len(args.seeds) < 2:
        parser.error("give two or more --seeds: the gain's interval is a bootstrap over the seeds")
    torch.set_num_threads(2)
    images, same = toy_benchmark_pairs(10, 60)  # make reproduce's benchmark size
    pairs = VerificationPairs("toy", images, np.asarray(same))
    results = {}
    for name in args.candidates:
        print(name, flush=True)
        results[name] = measure(CANDIDATES[name], args.seeds, args.epochs, pairs)
    report = {
        "benchmark": "recognition_training",
        "date": datetime.date.today().isoformat(),
        "commit": source_commit(),
        "command": "python benchmarks/recognition_training.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "test_benchmark": {"pairs": len(pairs), "protocol": PROTOCOL},
        "candidates": results,
    }  # fmt: skip
    publish(report, args.output, "recognition_training")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
