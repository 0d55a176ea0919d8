"""The toy recogniser: interface, safetensors round trip, margin loss, and its recipe."""

import dataclasses

import pytest
import torch

from idbooth_lib.identity.toy_recogniser import (
    AdditiveAngularMargin,
    RecogniserConfig,
    ToyRecogniser,
)
from idbooth_lib.toy.pretrain.recogniser import RECOGNISER_RECIPES, train_recogniser

TINY = RecogniserConfig(widths=(8, 16, 16), blocks_per_stage=1, embedding_dim=16)


def test_embeddings_are_unit_vectors():
    model = ToyRecogniser(TINY).eval()
    embeddings = model(torch.rand(3, 3, 112, 112) * 2 - 1)
    assert embeddings.shape == (3, 16)
    assert torch.allclose(embeddings.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_unaligned_input_is_rejected_with_a_hint():
    with pytest.raises(ValueError, match="align"):
        ToyRecogniser(TINY).eval()(torch.rand(1, 3, 64, 64))


def test_save_and_load_round_trip(tmp_path):
    model = ToyRecogniser(TINY).eval()
    model.save(tmp_path / "recogniser")
    loaded = ToyRecogniser.load(tmp_path / "recogniser")
    assert sorted(path.name for path in (tmp_path / "recogniser").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    images = torch.rand(2, 3, 112, 112) * 2 - 1
    # Weights are stored in float16: embeddings agree to about three decimals.
    assert torch.allclose(model(images), loaded(images), atol=5e-3)
    assert all(parameter.dtype == torch.float32 for parameter in loaded.parameters())


def test_loading_a_foreign_folder_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        ToyRecogniser.load(tmp_path)


def test_margin_makes_the_true_class_harder():
    head = AdditiveAngularMargin(4, 3, scale=10.0, margin=0.5)
    features, labels = torch.randn(8, 4), torch.randint(0, 3, (8,))
    plain = AdditiveAngularMargin(4, 3, scale=10.0, margin=0.0)
    plain.weight.data.copy_(head.weight.data)
    assert head(features, labels) > plain(features, labels)


def test_recipe_runs_and_resumes(tmp_path, monkeypatch, logged):
    monkeypatch.setenv("IDBOOTH_CACHE", str(tmp_path / "cache"))
    recipe = dataclasses.replace(
        RECOGNISER_RECIPES["recogniser"],
        architecture=TINY,
        identities=3,
        wild_per_identity=2,
        constrained_per_identity=1,
        batch_size=4,
        steps=3,
    )
    output = tmp_path / "recogniser"
    train_recogniser(recipe, output, steps=2, checkpoint_every=1)
    model = train_recogniser(recipe, output, checkpoint_every=1)
    assert any("resumed from step 2" in line for line in logged())
    assert (output / "model.safetensors").is_file()
    assert model(torch.zeros(1, 3, 112, 112)).shape == (1, 16)
