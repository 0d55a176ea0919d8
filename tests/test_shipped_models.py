"""The toy models shipped in the package load offline, have the expected shapes, and work."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from idbooth_lib.config import load_profile
from idbooth_lib.identity.align import warp_to_template
from idbooth_lib.identity.encoders import load_identity_encoder
from idbooth_lib.models import resolve_source
from idbooth_lib.ranges import pixels_to_signed
from idbooth_lib.toy_world.faces import ToyFaceWorld

CONFIG = load_profile("toy", environ={})
WEIGHTS = Path(resolve_source(CONFIG.models.identity_encoder)).parent


def test_weights_fit_the_size_budget():
    total = sum(path.stat().st_size for path in WEIGHTS.rglob("*") if path.is_file())
    assert total <= 30 * 2**20, f"shipped weights take {total / 2**20:.1f} MiB"


@pytest.mark.parametrize(
    "source", [CONFIG.models.identity_encoder, CONFIG.models.evaluation_encoder]
)
def test_recogniser_separates_two_different_identities(source):
    encoder = load_identity_encoder(source)
    world = ToyFaceWorld(seed=0)
    faces = [world.face(identity, image, "wild") for identity in (0, 1) for image in range(4)]
    images = pixels_to_signed(torch.stack([torch.from_numpy(np.asarray(f.image)) for f in faces]))
    landmarks = torch.stack([torch.from_numpy(face.landmarks) for face in faces])
    with torch.no_grad():
        embeddings = encoder(warp_to_template(images, landmarks))
    assert embeddings.shape[0] == 8 and torch.allclose(
        embeddings.norm(dim=-1), torch.ones(8), atol=1e-4
    )
    similarity = embeddings @ embeddings.T
    same = torch.block_diag(torch.ones(4, 4), torch.ones(4, 4)).bool() & ~torch.eye(8, dtype=bool)
    different = ~torch.block_diag(torch.ones(4, 4), torch.ones(4, 4)).bool()
    assert similarity[same].min() > similarity[different].max()


def test_quality_report_says_which_bars_are_met():
    from idbooth_lib.toy.quality import meets_bar

    assert meets_bar(0.98, "≥ 0.90") == "yes" and meets_bar(0.81, "≥ 0.90") == "no"
    assert meets_bar(1.1, "≤ 1.5") == "yes" and meets_bar(1.6, "≤ 1.5") == "no"
    assert meets_bar(22.7, "reported") == meets_bar(None, "≥ 0.5") == meets_bar(0.5, "-") == ""


def test_quality_report_works_out_what_the_vae_loses(tmp_path):
    from idbooth_lib.toy.quality import load_quality, shipped_model_report

    path = tmp_path / "quality.json"
    path.write_text(
        json.dumps({"vae": {"accuracy_originals": 0.99, "accuracy_reconstructions": 0.96}})
    )
    assert load_quality(path)["vae"]["accuracy_lost"] == pytest.approx(0.03)
    row = next(row for row in shipped_model_report(path).rows if row[0].startswith("accuracy lost"))
    assert row[1:] == ("0.030", "≤ 0.02", "no")
