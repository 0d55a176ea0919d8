"""Recognition training, model selection, the toy benchmark and `idbooth fr-train` / `fr-eval`."""

import json
import logging

import numpy as np
import pytest
import torch

from idbooth_lib.cli import main
from idbooth_lib.config import load_profile
from idbooth_lib.data.prepare import prepare_dataset
from idbooth_lib.recognition import bins as bins_module
from idbooth_lib.recognition.benchmarks import evaluate_benchmarks
from idbooth_lib.recognition.data import (
    FaceClasses,
    hold_out_identities,
    read_aligned,
    validation_pairs,
)
from idbooth_lib.recognition.train import (
    RecognitionConfig,
    build_backbone,
    learning_rate_factor,
    train_recognition,
)
from idbooth_lib.toy.benchmark import toy_benchmark_pairs, write_toy_benchmark
from idbooth_lib.toy_world.dataset import write_toy_dataset

SMALL_BENCHMARK = {"people_per_fold": 4, "pairs_per_fold": 20, "photos_per_person": 4}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """30 toy people, 4 wild photos each, prepared as chapter 01 prepares photos."""
    root = tmp_path_factory.mktemp("recognition")
    config = load_profile("toy", {"paths.root": str(root)}, environ={})
    raw = write_toy_dataset(root / "raw", identities=30, images_per_identity=4, mode="wild",
                            seed=5)  # fmt: skip
    prepare_dataset(raw, root / "data", config)
    return root / "data"


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    return write_toy_benchmark(tmp_path_factory.mktemp("bench") / "toy.bin", **SMALL_BENCHMARK)


def test_the_toy_benchmark_has_ten_folds_of_half_genuine_pairs(benchmark):
    pairs = bins_module.read_bin(benchmark)
    assert len(pairs) == 10 * SMALL_BENCHMARK["pairs_per_fold"]
    assert pairs.images.shape[1:] == (112, 112, 3)
    folds = pairs.same.reshape(10, -1)
    assert (folds.mean(1) == 0.5).all()
    images, same = toy_benchmark_pairs(**SMALL_BENCHMARK)  # deterministic
    np.testing.assert_array_equal(images, pairs.images)


def test_held_out_people_are_not_trained_on_and_keep_only_real_images():
    data = FaceClasses(
        np.zeros((12, 2, 2, 3), np.uint8),
        np.repeat(np.arange(6), 2),
        [f"p{i}" for i in range(6)],
        ["real", "synthetic"] * 6,
    )
    train, validation = hold_out_identities(data, share=0.34, seed=0, origin="real")
    assert not set(train.classes) & set(validation.classes)
    assert len(validation.classes) == 2 and set(validation.origins) == {"real"}
    assert len(train) == 8 and train.labels.max() == len(train.classes) - 1
    with pytest.raises(ValueError, match="cannot spare"):
        hold_out_identities(data, share=1.0)


def test_validation_may_keep_images_from_several_real_datasets():
    """A real set of two datasets (studio shots and posed ones) validates on both, never on the
    synthetic images of the held-out people."""
    data = FaceClasses(
        np.zeros((18, 2, 2, 3), np.uint8),
        np.repeat(np.arange(6), 3),
        [f"p{i}" for i in range(6)],
        ["data", "posed", "idbooth"] * 6,
    )
    train, validation = hold_out_identities(data, 0.34, seed=0, origin=("data", "posed"))
    assert len(validation) == 4 and set(validation.origins) == {"data", "posed"}
    assert len(train) == 12 and "idbooth" in train.origins


def test_validation_pairs_are_every_genuine_pair_and_as_many_impostors():
    data = FaceClasses(np.zeros((6, 2, 2, 3), np.uint8), np.array([0, 0, 0, 1, 1, 2]),
                       ["a", "b", "c"])  # fmt: skip
    pairs, same = validation_pairs(data)
    assert same.sum() == 4 and len(same) == 8  # 3 pairs of a, 1 of b
    labels = data.labels
    assert np.array_equal(labels[pairs[:, 0]] == labels[pairs[:, 1]], same)


def test_schedules():
    cosine, step = RecognitionConfig(), RecognitionConfig(schedule="step")
    assert learning_rate_factor(cosine, 0, 100) == 1.0
    assert learning_rate_factor(cosine, 50, 100) == pytest.approx(0.5)
    assert learning_rate_factor(step, 59, 100) == 1.0
    assert learning_rate_factor(step, 60, 100) == pytest.approx(0.1)
    assert learning_rate_factor(step, 80, 100) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="unknown head"):
        RecognitionConfig(head="softmax")


def _short(**changes):
    settings = dict(epochs=4, batch_size=32, learning_rate=0.05, embedding_dim=64, seed=0)
    return RecognitionConfig(**{**settings, **changes})


def test_model_selection_cannot_read_a_test_benchmark():
    """Training takes no benchmark and its module imports no benchmark reader: the epoch is
    chosen on people held out of the training data, as the record says."""
    import ast
    import inspect

    from idbooth_lib.recognition import train as train_module

    tree = ast.parse(inspect.getsource(train_module))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"idbooth_lib.recognition.bins", "idbooth_lib.recognition.benchmarks"}
    assert list(inspect.signature(train_recognition).parameters)[:3] == [
        "train",
        "validation",
        "config",
    ]


def test_a_short_training_beats_the_untrained_backbone(prepared, benchmark, tmp_path):
    """Trained on 27 people for four epochs, the toy backbone verifies unseen people better than
    at its start."""
    everything = read_aligned([prepared])
    train, validation = hold_out_identities(everything, 0.1, seed=0)
    assert not set(train.classes) & set(validation.classes)
    record = train_recognition(train, validation, _short(), tmp_path / "fr")  # fmt: skip
    assert record["selected_on"].startswith("validation") and 1 <= record["selected_epoch"] <= 4
    assert record["validation_accuracy"] == max(r["validation_accuracy"] for r in record["curves"])

    untrained = tmp_path / "untrained"
    torch.manual_seed(0)
    build_backbone("toy", 64).save(untrained)
    before = evaluate_benchmarks(untrained, [benchmark])["benchmarks"]["toy"]["accuracy_mean"]
    after = evaluate_benchmarks(tmp_path / "fr", [benchmark])["benchmarks"]["toy"]["accuracy_mean"]
    assert after > before + 0.05, (before, after)


def test_an_interrupted_training_resumes_to_the_same_model(prepared, tmp_path, logged):
    from safetensors.torch import load_file

    everything = read_aligned([prepared])
    train, validation = hold_out_identities(everything, 0.1, seed=0)
    config = _short(epochs=2)
    train_recognition(train, validation, config, tmp_path / "whole")  # fmt: skip

    class StopBeforeTheLastCheckpoint(logging.Handler):  # after epoch 2 is measured, before its checkpoint
        def emit(self, record):
            if record.getMessage().startswith("epoch 2/"):
                raise KeyboardInterrupt

    library, stop = logging.getLogger("idbooth_lib"), StopBeforeTheLastCheckpoint()
    library.addHandler(stop)
    try:
        with pytest.raises(KeyboardInterrupt):
            train_recognition(train, validation, config, tmp_path / "cut")
    finally:
        library.removeHandler(stop)
    record = train_recognition(train, validation, config, tmp_path / "cut")  # fmt: skip
    whole = json.loads((tmp_path / "whole" / "training.json").read_text())
    assert record["curves"] == whole["curves"]
    first = load_file(tmp_path / "whole" / "backbone" / "model.safetensors")
    second = load_file(tmp_path / "cut" / "backbone" / "model.safetensors")
    assert all(torch.equal(first[k], second[k]) for k in first)
    with pytest.raises(ValueError, match="another recognition run"):
        train_recognition(train, validation, _short(epochs=2, learning_rate=0.01),
                          tmp_path / "cut")  # fmt: skip
    fewer = train.subset(np.arange(len(train) - 1))  # the same people, one image less
    with pytest.raises(ValueError, match="people or images"):
        train_recognition(fewer, validation, config, tmp_path / "cut")  # fmt: skip


def test_equal_validation_accuracy_is_decided_by_the_separation():
    """A few held-out people are all told apart early; the epoch whose genuine and impostor
    scores lie farther apart is chosen, not the first perfect one."""
    from idbooth_lib.recognition.train import Curves

    curves = Curves([
        {"epoch": 1, "validation_accuracy": 1.0, "validation_separation": 2.0},
        {"epoch": 2, "validation_accuracy": 1.0, "validation_separation": 3.5},
        {"epoch": 3, "validation_accuracy": 0.9, "validation_separation": 9.0},
        {"epoch": 4, "validation_accuracy": 1.0, "validation_separation": 3.5},
    ])  # fmt: skip
    assert curves.best()["epoch"] == 2


def test_cli_fr_train_and_fr_eval(prepared, benchmark, tmp_path, capsys):
    assert main(["fr-train", "--data", str(prepared), "--output", str(tmp_path / "fr"),
                 "--epochs", "1", "--embedding-dim", "32", "--quiet"]) == 0  # fmt: skip
    assert main(["fr-eval", "--model", str(tmp_path / "fr"), "--bins", str(benchmark),
                 "--output", str(tmp_path / "r.json")]) == 0  # fmt: skip
    results = json.loads((tmp_path / "r.json").read_text())["benchmarks"]["toy"]
    assert {"accuracy_mean", "accuracy_std", "tar_at_far_1e-3", "pairs"} <= set(results)
    assert results["protocol"] == "insightface"  # the default: published numbers' protocol
    assert main(["fr-eval", "--model", "idbooth:toy/recogniser", "--bins", str(benchmark),
                 "--output", str(tmp_path / "s.json"), "--protocol", "midpoint"]) == 0  # fmt: skip
    assert json.loads((tmp_path / "s.json").read_text())["benchmarks"]["toy"]["protocol"] == (
        "midpoint"
    )
    assert "TAR @ FAR 1e-3" in capsys.readouterr().out


def test_cli_fr_eval_refuses_a_crafted_benchmark(tmp_path, capsys):
    import pickle

    path = tmp_path / "evil.bin"
    path.write_bytes(pickle.dumps(([b"a", b"b"], [print]), protocol=4))
    assert main(["fr-eval", "--model", "idbooth:toy/recogniser", "--bins", str(path),
                 "--output", str(tmp_path / "r.json")]) == 2  # fmt: skip
    assert "builtins.print" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("record", ['{"config": {}}', "{not json", '{"backbone": "backbone"}'])
def test_cli_fr_eval_on_a_half_written_fr_train_folder_says_how_to_finish_it(
    benchmark, tmp_path, capsys, record
):
    """A folder with a training.json but no backbone (an interrupted copy, a hand-made record)."""
    (tmp_path / "fr").mkdir()
    (tmp_path / "fr" / "training.json").write_text(record)
    assert main(["fr-eval", "--model", str(tmp_path / "fr"), "--bins", str(benchmark),
                 "--output", str(tmp_path / "r.json")]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert "is not a finished fr-train output" in error and "--output" in error
    assert not (tmp_path / "r.json").exists()


def test_cli_toy_bin_writes_a_benchmark(tmp_path):
    assert main(["toy-bin", str(tmp_path / "toy.bin")]) == 0
    assert len(bins_module.read_bin(tmp_path / "toy.bin")) == 600


def test_two_datasets_of_one_folder_name_are_refused(prepared, tmp_path, capsys):
    """Origins are folder names: a synthetic set named like the real one would pass for real
    photos in validation, so fr-train stops with the fix instead."""
    from idbooth_lib.cli import main

    twin = tmp_path / "elsewhere" / prepared.name
    code = main(["fr-train", "--data", str(prepared), "--synthetic", str(twin),
                 "--output", str(tmp_path / "fr")])  # fmt: skip
    assert code == 2 and "rename one" in capsys.readouterr().err
    assert not (tmp_path / "fr").exists()


def test_a_lone_last_image_joins_the_batch_before_it():
    """Batch normalisation cannot train on one image, so 129 images in batches of 64 make two
    batches (64 and 65); every image is used once, in the shuffled order."""
    from idbooth_lib.recognition.train import epoch_batches

    order = torch.randperm(129)
    batches = epoch_batches(order, 64)
    assert [len(batch) for batch in batches] == [64, 65]
    assert torch.equal(torch.cat(batches), order)
    assert [len(batch) for batch in epoch_batches(torch.arange(130), 64)] == [64, 64, 2]
    assert [len(batch) for batch in epoch_batches(torch.arange(1), 64)] == [1]


def test_augmentation_is_off_by_default_and_repeatable_from_its_generator():
    """The default recipe leaves images as they are (so earlier results stand); with jitter and
    shift on, each image changes, stays in the signed range, and the same generator state gives
    the same images (so a resumed run draws what an uninterrupted one drew)."""
    from idbooth_lib.recognition.train import augment

    images = torch.rand(4, 3, 112, 112, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert augment(images, RecognitionConfig(), torch.Generator()) is images
    config = RecognitionConfig(colour_jitter=0.4, shift=0.1)
    first = augment(images, config, torch.Generator().manual_seed(7))
    again = augment(images, config, torch.Generator().manual_seed(7))
    other = augment(images, config, torch.Generator().manual_seed(8))
    assert first.shape == images.shape and torch.equal(first, again)
    assert not torch.equal(first, other)
    assert all((first[k] - images[k]).abs().mean() > 0.01 for k in range(4))
    assert first.min() >= -1 and first.max() <= 1


def test_cli_fr_train_sets_any_field_of_the_recognition_config():
    """``--set`` reaches every field; the flags' defaults are RecognitionConfig's own."""
    from idbooth_lib.cli import build_parser, recognition_config
    from idbooth_lib.recognition.train import RecognitionConfig

    def parsed(*words):
        return recognition_config(build_parser().parse_args(
            ["fr-train", "--data", "d", "--output", "o", *words]))  # fmt: skip

    assert parsed() == RecognitionConfig()
    chosen = parsed("--epochs", "3", "--set", "colour_jitter=0.4", "--set", "margin=28.6")
    assert (chosen.epochs, chosen.colour_jitter, chosen.margin) == (3, 0.4, 28.6)
    with pytest.raises(ValueError, match="NAME one of backbone, head"):
        parsed("--set", "jitter=0.4")
    with pytest.raises(ValueError, match="unknown backbone 'resnet'"):
        parsed("--backbone", "resnet")


def test_one_call_trains_on_real_and_synthetic_and_validates_on_real_people_only(prepared, tmp_path):
    """The synthetic set's images of held-out people never reach validation (a method would be
    chosen by its own images), and the real photos' do."""
    import shutil

    from idbooth_lib.recognition.train import RecognitionConfig, train_on_real_and_synthetic

    synthetic = tmp_path / "synthetic"
    shutil.copytree(prepared, synthetic)  # stands in for a synthetic set of the same people
    record = train_on_real_and_synthetic([prepared], [synthetic], RecognitionConfig(
        epochs=1, embedding_dim=32), tmp_path / "fr", validation_share=0.3)  # fmt: skip
    assert record["real"] == [str(prepared)] and record["synthetic"] == [str(synthetic)]
    # 30 people x 4 photos, twice over; 9 people held out, their 36 real photos only
    assert record["validation"] == {"images": 36, "classes": 9, "data": 36}
    assert record["train"] == {"images": 21 * 4 * 2, "classes": 21, "data": 84, "synthetic": 84}
