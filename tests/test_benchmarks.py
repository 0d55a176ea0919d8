"""The benchmarks run: each is exercised on tiny shapes so that it cannot rot between GPU sessions."""

import json
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import train_step  # noqa: E402


def test_train_step_benchmark_runs_every_variant_on_tiny_sd21_shapes(tmp_path):
    output = tmp_path / "steps.json"
    arguments = [
        "--sd21-shaped",
        "--shape-divisor",
        "32",
        "--resolution",
        "64",
        "--batch-pairs",
        "2",
    ]
    assert (
        train_step.main([*arguments, "--rounds", "1", "--steps", "1", "--output", str(output)]) == 0
    )
    report = json.loads(output.read_text())
    variants = report["variants"]
    assert report["batch_pairs"] == 2
    assert set(variants) == set(train_step.VARIANTS)
    assert report["ratio_idbooth_detector_to_landmark_crop"] > 0
    assert variants["dreambooth"]["ratio_to_dreambooth"] == 1.0
    assert all(variants[name]["seconds_per_step"] > 0 for name in train_step.VARIANTS)


def test_train_step_benchmark_runs_on_the_shipped_toy_models(tmp_path):
    output = tmp_path / "steps.json"
    assert train_step.main(["--rounds", "1", "--steps", "1", "--output", str(output)]) == 0
    assert json.loads(output.read_text())["variants"]["idbooth"]["seconds_per_step"] > 0
