"""The benchmarks run: each is exercised on tiny shapes so that it cannot rot between GPU sessions."""

import json
import sys

import numpy as np
import pytest
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
    assert all(variants[name]["seconds_per_step"] > 0 for name in train_step.VARIANTS)
    # every ratio divides two medians of this very run (DreamBooth's own is then 1 by definition)
    dreambooth = variants["dreambooth"]["seconds_per_step"]
    for name in train_step.VARIANTS:
        expected = variants[name]["seconds_per_step"] / dreambooth
        assert abs(variants[name]["ratio_to_dreambooth"] - expected) <= 6e-4, name
    crops = (
        variants["idbooth_detector_crop"]["seconds_per_step"]
        / variants["idbooth"]["seconds_per_step"]
    )
    assert abs(report["ratio_idbooth_detector_to_landmark_crop"] - crops) <= 6e-4


def test_train_step_benchmark_runs_on_the_shipped_toy_models(tmp_path):
    output = tmp_path / "steps.json"
    assert train_step.main(["--rounds", "1", "--steps", "1", "--output", str(output)]) == 0
    assert json.loads(output.read_text())["variants"]["idbooth"]["seconds_per_step"] > 0


def test_ratios_divide_by_dreambooths_median_of_the_same_run():
    result = {
        "dreambooth": {"seconds_per_step": 0.2},
        "idbooth": {"seconds_per_step": 0.3},
        "idbooth_detector_crop": {"seconds_per_step": 0.33},
    }
    ratios = train_step.with_ratios(result)
    assert [ratios[name]["ratio_to_dreambooth"] for name in result] == [1.0, 1.5, 1.65]
    assert train_step.crop_ratio(result) == 1.1


def test_generate_benchmark_reports_a_ratio_of_two_medians_of_one_run(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import generate

    output = tmp_path / "generate.json"
    settings = ["--set", "generate.num_inference_steps=2", "--set", "generate.batch_size=3"]
    assert (
        generate.main([*settings, "--images", "3", "--rounds", "1", "--output", str(output)]) == 0
    )
    report = json.loads(output.read_text())
    rates = report["images_per_second"]
    assert rates["batched"] > 0 and rates["one_per_call"] > 0
    assert (
        abs(report["ratio_batched_to_one_per_call"] - rates["batched"] / rates["one_per_call"])
        <= 6e-4
    )


def test_chapter08s_real_run_sums_cell_times_per_section_of_the_chapter():
    import chapter08_real

    def cell(kind, source, seconds=None):
        metadata = {"papermill": {"duration": seconds}} if seconds is not None else {}
        return {"cell_type": kind, "source": source, "metadata": metadata}

    executed = {"cells": [
        cell("code", "PROFILE = 'sd21'", 0.5),
        cell("markdown", "## 1. Consent first\n\ntext"),
        cell("code", "require_consent(True)", 1.0),
        cell("markdown", "## 5. Prepare, then fine-tune"),
        cell("code", "prepare()", 30.0),
        cell("code", "train()", 240.25),
        cell("markdown", "A paragraph without a heading"),
        cell("code", "plot()", None),
    ]}  # fmt: skip
    assert chapter08_real.section_times(executed) == [
        {"section": "set-up", "seconds": 0.5},
        {"section": "1. Consent first", "seconds": 1.0},
        {"section": "5. Prepare, then fine-tune", "seconds": 270.2},
    ]
    with pytest.raises(SystemExit):  # refused without the consent flag
        chapter08_real.main(["--photos", str(ROOT), "--gender", "female"])


def test_train_step_benchmark_measures_decoding_x0_in_float32(tmp_path):
    output = tmp_path / "fp32.json"
    arguments = ["--sd21-shaped", "--shape-divisor", "32", "--resolution", "64", "--batch-pairs",
                 "1", "--decode-fp32", "--rounds", "1", "--steps", "1", "--output", str(output)]  # fmt: skip
    assert train_step.main(arguments) == 0
    assert json.loads(output.read_text())["decode_fp32"] is True


def test_the_foundation_benchmark_says_where_a_unet_loses_the_people():
    """Per pose and background: faces found over every drawing, identity over the found ones,
    and rank-1 counting a drawing with no face as a miss."""
    import foundation

    def drawing(person, index, found, identity=None, right=False):
        pose, background = ("side", "forest") if index % 2 else ("frontal", "studio")
        return {"person": person, "file": f"{person}/{index:04d}.png", "found": found,
                "identity": identity, "rank1": right, "pose": pose, "background": background}  # fmt: skip

    records = [drawing("p00", 0, True, 0.6, True), drawing("p00", 1, False),
               drawing("p01", 0, True, 0.2, False), drawing("p01", 1, True, 0.4, True)]  # fmt: skip
    table = foundation.by_condition(records)
    assert table["pose"]["side"] == {"drawings": 2, "faces_found": 0.5, "identity": 0.4, "rank1": 0.5}
    assert table["pose"]["frontal"]["identity"] == pytest.approx(0.4)
    assert table["background"]["studio"]["faces_found"] == 1.0
    assert foundation.rank1(records) == {"p00": 0.5, "p01": 0.5}


def test_the_foundation_curve_draws_every_measured_unet_and_skips_the_rest(tmp_path, monkeypatch):
    import foundation_curve

    def result(minutes, identity):
        return {"training_minutes": minutes, "identity": identity, "faces_found": 0.8,
                "background": 0.7, "pose": 0.9}  # fmt: skip

    (tmp_path / "a.json").write_text(json.dumps(result(50, 0.31)))
    (tmp_path / "b.json").write_text(json.dumps(result(90, 0.35)))
    monkeypatch.setattr(foundation_curve, "RESULTS", tmp_path)
    monkeypatch.setattr(foundation_curve, "SERIES", {"one": ["a", "b", "not_yet"], "none": ["c"]})
    series = foundation_curve.read_series()
    assert list(series) == ["one"] and len(series["one"]) == 2
    figure = foundation_curve.draw(series)
    identity = figure.axes[0].lines[0]
    assert list(identity.get_xdata()) == [50, 90] and list(identity.get_ydata()) == [0.31, 0.35]


def test_the_foundation_benchmark_reads_each_drawing_from_the_kept_embeddings():
    """Identity is the mean cosine to the person's own studio photos, rank-1 asks whether their
    centroid is the nearest, and a drawing without a face is a miss with its prompt's condition."""
    import foundation

    from idbooth_lib.generation.prompts import prompt_plan

    studio = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], float)
    drawn = np.array([[1, 0], [0, 1], [0.6, 0.8]], float)
    stored = {"evaluation_encoder": (drawn, studio), "real_labels": ["p00", "p00", "p01", "p01"],
              "synthetic_labels": ["p00", "p00", "p01"],
              "synthetic_files": ["p00/0000.png", "p00/0002.png", "p01/0001.png"]}  # fmt: skip
    records = foundation.drawings_measured(stored, [{"file": "p01/0003.png", "reason": "no face"}])
    assert [(r["file"], r["found"], r["rank1"]) for r in records] == [
        ("p00/0000.png", True, True), ("p00/0002.png", True, False),
        ("p01/0001.png", True, True), ("p01/0003.png", False, False)]  # fmt: skip
    assert [r["identity"] for r in records[:3]] == pytest.approx([1.0, 0.0, 0.8])
    assert foundation.share_per_person(records, "found") == {"p00": 1.0, "p01": 0.5}
    plan = {image.index: image for image in prompt_plan("any", "male", 20, 0, "")}
    assert records[3]["person"] == "p01" and records[3]["pose"] == plan[3].pose
