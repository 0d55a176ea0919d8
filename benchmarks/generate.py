"""Images per second of batched generation against one image per pipeline call, from one run.

    .venv/bin/python benchmarks/generate.py            # toy profile, CPU

The authors' scripts called the pipeline once per image (and reloaded it per identity).
``idbooth generate`` loads it once and draws ``generate.batch_size`` images per call. Both modes run
here on the same pipeline, the same prompts and seeds, interleaved round by round so that a machine
slowing down part-way hurts both alike; the median of the rounds is reported and the ratio divides
two medians of this very run. Target (issue #13): ≥ 2× on a GPU; an SD 2.1-shaped GPU run is left
for a session with a GPU. Results go to ``benchmarks/results/generate_<profile>_<device>.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

from idbooth_lib.config import load_profile, parse_assignments
from idbooth_lib.env import source_commit
from idbooth_lib.generation.generate import draw
from idbooth_lib.generation.prompts import prompt_plan

RESULTS = Path(__file__).resolve().parent / "results"


def records(config, count: int) -> list[dict]:
    """``count`` planned images of one toy person, as the generator's batches hold them."""
    plan = prompt_plan("id_0000", "female", count, config.seed, config.generate.negative_prompt)
    return [image.to_dict() for image in plan]


def reset_peak_memory(device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device) -> float | None:
    """The GPU memory peak since the last reset (None on the CPU, where torch does not track it)."""
    if device.type != "cuda":
        return None
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**30


def images_per_second(pipeline, config, planned: list[dict], batch: int) -> float:
    began = time.perf_counter()
    for start in range(0, len(planned), batch):
        draw(pipeline, planned[start : start + batch], config)
    return len(planned) / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="toy")
    parser.add_argument("--set", dest="assignments", action="append", default=[])
    parser.add_argument("--images", type=int, default=21, help="images per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=None)
    arguments = parser.parse_args(argv)
    from idbooth_lib.diffusion.pipeline import load_base_pipeline

    config = load_profile(arguments.profile, parse_assignments(arguments.assignments))
    pipeline = load_base_pipeline(config)
    planned, batch = records(config, arguments.images), config.generate.batch_size
    images_per_second(pipeline, config, planned[:2], 2)  # warm-up
    rates = {"one_per_call": [], "batched": []}
    peaks = {}
    for _ in range(arguments.rounds):
        for mode, size in (("one_per_call", 1), ("batched", batch)):
            reset_peak_memory(pipeline.device)
            rates[mode].append(images_per_second(pipeline, config, planned, size))
            peaks[mode] = max(peaks.get(mode, 0.0), peak_memory_gib(pipeline.device) or 0.0)
    medians = {mode: statistics.median(values) for mode, values in rates.items()}
    report = {
        "date": datetime.date.today().isoformat(),
        "commit": source_commit(),
        "profile": config.name,
        "device": str(pipeline.device),
        "batch_size": batch,
        "images": arguments.images,
        "rounds": arguments.rounds,
        "steps": config.generate.num_inference_steps,
        "images_per_second": medians,
        "ratio_batched_to_one_per_call": round(medians["batched"] / medians["one_per_call"], 3),
    }
    if pipeline.device.type == "cuda":
        report["peak_memory_gib"] = {mode: round(value, 2) for mode, value in peaks.items()}
    output = arguments.output or RESULTS / f"generate_{config.name}_{pipeline.device.type}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
