"""Every identity-encoder source loads through one call, matches its network, and passes gradients.

Only tiny networks are built here (no download): an iResNet with real key names but narrow widths,
and small CNNs exported to ONNX the way insightface's ArcFace models are.
"""

import shutil
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from conftest import TinyArcFace, export_arcface_onnx

from idbooth_lib.config import load_profile
from idbooth_lib.identity.arcface_onnx import InsightFaceModelsMissingError
from idbooth_lib.identity.arcface_torch import (
    DEPTHS,
    ArcFaceTorchFromOnnx,
    IdentityCheckpointError,
    IResNet,
    depth_name,
    infer_architecture,
    insightface_input_normalisation,
    iresnet,
)
from idbooth_lib.identity.encoders import load_identity_encoder

TINY_WIDTHS = (8, 8, 16, 16)


def faces(count: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, 3, 112, 112, generator=generator) * 2 - 1


def tiny_iresnet(depth: str = "r18") -> IResNet:
    """An r18-shaped iResNet with narrow stages and random BatchNorm statistics, in eval mode."""
    torch.manual_seed(0)
    model = iresnet(depth, widths=TINY_WIDTHS)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
    return model.eval()


def assert_frozen_but_differentiable(encoder: torch.nn.Module) -> None:
    assert not encoder.training
    assert all(not parameter.requires_grad for parameter in encoder.parameters())
    images = faces().requires_grad_()
    embeddings = encoder(images)
    (embeddings[0] @ embeddings[1]).backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


class RawIResNet(torch.nn.Module):
    """The iResNet without the final normalisation, as arcface_torch exports it to ONNX."""

    def __init__(self, model: IResNet):
        super().__init__()
        self.model = model

    def forward(self, images):
        model = self.model
        x = model.prelu(model.bn1(model.conv1(images)))
        x = model.layer4(model.layer3(model.layer2(model.layer1(x))))
        return model.features(model.fc(torch.flatten(model.bn2(x), 1)))


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):
    """A tiny CNN and a tiny iResNet exported to ONNX, with the torch modules they came from.

    The CNN is written twice: at opset 11 (old, like insightface's files) and at torch's default
    opset, which onnx2torch only converts after the graph is rewritten to an older opset.
    """
    folder = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    cnn = TinyArcFace().eval()
    export_arcface_onnx(cnn, folder / "cnn.onnx", opset=11)
    export_arcface_onnx(cnn, folder / "cnn_new.onnx")
    resnet = tiny_iresnet()
    export_arcface_onnx(
        RawIResNet(resnet).eval(), folder / "iresnet.onnx"
    )  # export restores .train()
    return {
        "cnn": (folder / "cnn.onnx", cnn),
        "cnn_new": (folder / "cnn_new.onnx", cnn),
        "iresnet": (folder / "iresnet.onnx", resnet),
    }


# ----------------------------------------------------------------------------------------------
# arcface_torch's iResNet
# ----------------------------------------------------------------------------------------------


def test_iresnet_has_arcface_torch_key_names_and_shapes():
    with torch.device("meta"):  # the full r18 and r100, without allocating their weights
        r18, r100 = iresnet("r18"), iresnet("r100")
    state = r18.state_dict()
    for key in (
        "conv1.weight",
        "bn1.running_var",
        "prelu.weight",
        "layer1.0.bn1.weight",
        "layer1.0.prelu.weight",
        "layer1.0.bn3.num_batches_tracked",
        "layer1.1.conv2.weight",
        "layer2.0.downsample.0.weight",
        "layer4.0.downsample.1.running_mean",
        "bn2.weight",
        "features.running_mean",
        "fc.weight",
        "fc.bias",
    ):
        assert key in state, key
    assert "layer1.1.downsample.0.weight" not in state  # only the first block of a stage has one
    assert state["fc.weight"].shape == (512, 512 * 7 * 7)
    assert state["layer3.0.conv2.weight"].shape == (256, 256, 3, 3)
    assert infer_architecture(r100.state_dict()) == ((3, 13, 30, 3), (64, 128, 256, 512), 512)
    assert all(depth_name(layers) == name for name, layers in DEPTHS.items())


def test_iresnet_embeds_to_unit_vectors_and_checks_its_input():
    model = tiny_iresnet()
    embeddings = model(faces())
    assert embeddings.shape == (2, 512)
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(2))
    with pytest.raises(ValueError, match=r"\(B, 3, 112, 112\)"):
        model(torch.zeros(2, 3, 64, 64))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_iresnet_checkpoint_loads_by_path_with_its_depth_inferred(tmp_path, suffix):
    model = tiny_iresnet()
    path = tmp_path / f"backbone{suffix}"
    if suffix == ".pth":
        torch.save(model.state_dict(), path)
    else:
        from safetensors.torch import save_file

        save_file(model.state_dict(), str(path))
    encoder = load_identity_encoder(str(path))
    assert isinstance(encoder, IResNet)
    assert (encoder.layers, encoder.widths) == (DEPTHS["r18"], TINY_WIDTHS)
    torch.testing.assert_close(encoder(faces()), model(faces()))
    assert_frozen_but_differentiable(encoder)


def test_wrong_or_missing_checkpoints_are_explained(tmp_path):
    from idbooth_lib.identity.arcface_torch import load_iresnet

    path = tmp_path / "backbone.pth"
    torch.save(tiny_iresnet().state_dict(), path)
    with pytest.raises(IdentityCheckpointError, match=r"not an iResNet r50.*depth='r18'"):
        load_iresnet(path, depth="r50")
    other = tmp_path / "classifier.pt"
    torch.save(torch.nn.Linear(4, 2).state_dict(), other)
    with pytest.raises(IdentityCheckpointError, match=r"classifier\.pt.*not an iResNet"):
        load_identity_encoder(str(other))
    pickled = tmp_path / "whole_model.pt"
    torch.save(torch.nn.Linear(4, 2), pickled)
    with pytest.raises(IdentityCheckpointError, match=r"whole_model\.pt is not a plain state dict"):
        load_identity_encoder(str(pickled))
    with pytest.raises(FileNotFoundError, match=r"missing\.pth.*backbone\.pth"):
        load_identity_encoder(str(tmp_path / "missing.pth"))


# ----------------------------------------------------------------------------------------------
# ArcFace ONNX files, converted with onnx2torch
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cnn", "cnn_new", "iresnet"])
def test_onnx_file_converts_to_a_differentiable_encoder(onnx_models, name):
    path, original = onnx_models[name]
    encoder = load_identity_encoder(str(path))
    assert isinstance(encoder, ArcFaceTorchFromOnnx) and encoder.input_size == 112
    images = faces(3)
    with torch.no_grad():
        expected = F.normalize(original(images), dim=-1)
        torch.testing.assert_close(encoder(images), expected, atol=1e-4, rtol=0)
    assert_frozen_but_differentiable(encoder)
    with pytest.raises(ValueError, match=r"\(B, 3, 112, 112\)"):
        encoder(torch.zeros(1, 3, 64, 64))


def test_mxnet_style_graphs_get_raw_pixels():
    def graph(*names):
        return SimpleNamespace(graph=SimpleNamespace(node=[SimpleNamespace(name=n) for n in names]))

    assert insightface_input_normalisation(graph("_minus0", "_mul0", "conv0")) == (0.0, 1.0)
    assert insightface_input_normalisation(graph("Conv_0", "PRelu_1")) == (127.5, 127.5)
    network = torch.nn.Flatten()
    encoder = ArcFaceTorchFromOnnx(network, input_size=112, input_mean=0.0, input_std=1.0)
    images = faces(1)
    torch.testing.assert_close(encoder(images), F.normalize((images + 1).flatten(1) * 127.5))


def test_insightface_pack_resolves_by_name_under_the_face_model_root(onnx_models, tmp_path):
    path, original = onnx_models["cnn"]
    pack = tmp_path / "models" / "buffalo_l"
    pack.mkdir(parents=True)
    (pack / "w600k_r50.onnx").write_bytes(path.read_bytes())
    encoder = load_identity_encoder("buffalo_l", face_model_root=tmp_path, allow_download=False)
    assert isinstance(encoder, ArcFaceTorchFromOnnx)
    with torch.no_grad():
        expected = F.normalize(original(faces()), dim=-1)
        torch.testing.assert_close(encoder(faces()), expected, atol=1e-4, rtol=0)
    with pytest.raises(InsightFaceModelsMissingError, match="antelopev2"):
        load_identity_encoder("antelopev2", face_model_root=tmp_path, allow_download=False)


def test_an_insightface_2_package_loads_the_recogniser_its_manifest_names(tmp_path):
    """cheetah_s, the sd21 evaluation recogniser: the file comes from manifest.json, not routing."""
    import json

    from idbooth_lib.standin import save_person_package

    folder = save_person_package(tmp_path, "cheetah_s")
    encoder = load_identity_encoder("cheetah_s", face_model_root=tmp_path, allow_download=False)
    embeddings = encoder(faces())
    assert embeddings.shape == (len(faces()), 512)
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(len(faces())))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["tasks"]["recognition"]["preprocessing"] = {"mean": 0.0, "std": 1.0}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="preprocessing"):
        load_identity_encoder("cheetah_s", face_model_root=tmp_path, allow_download=False)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(InsightFaceModelsMissingError, match="reinstall the package"):
        load_identity_encoder("cheetah_s", face_model_root=tmp_path, allow_download=False)


def test_the_standin_person_package_is_what_insightface_s_own_loaders_accept(tmp_path):
    """The real cheetah_s declares four tasks (person detection and re-identification, face
    detection and recognition); insightface refuses a package with fewer. Its own loader checks
    the manifest and the SHA-256 sums; PersonAnalysis runs each model against its task's
    contract (node names, shapes), as a reader's download is run."""
    import numpy as np
    from insightface.app.person_analysis import PersonAnalysis
    from insightface.model_zoo.person_package import TASKS, load_person_package

    from idbooth_lib.standin import save_person_package

    save_person_package(tmp_path, "cheetah_s")
    package = load_person_package("cheetah_s", tmp_path)
    assert set(package["tasks"]) == set(TASKS)
    analysis = PersonAnalysis("cheetah_s", tmp_path)
    analysis.prepare()
    people = analysis.detector.detect(np.zeros((200, 300, 3), np.uint8))
    assert people.shape == (1, 5)
    np.testing.assert_allclose(people[0, :4], [75, 50, 225, 150], atol=0.01)  # the centre half
    assert analysis.face_recognizer.output_shape[-1] == 512


def test_each_kind_of_pack_is_downloaded_by_insightface_s_own_downloader(tmp_path, monkeypatch):
    """cheetah_s by the checked package installer, buffalo_l by the classic zip download."""
    from insightface.model_zoo import person_package
    from insightface.utils import storage

    from idbooth_lib.identity.arcface_onnx import insightface_pack_folder
    from idbooth_lib.standin import save_insightface_pack, save_person_package

    asked = []
    monkeypatch.setattr(person_package, "ensure_person_package",
                        lambda name, root: asked.append(("package", name)) or
                        save_person_package(root, name))  # fmt: skip
    monkeypatch.setattr(storage, "download",
                        lambda sub, name, force, root: asked.append(("zip", name)) or
                        save_insightface_pack(root, name))  # fmt: skip
    assert insightface_pack_folder("cheetah_s", tmp_path).name == "cheetah_s"
    assert insightface_pack_folder("buffalo_l", tmp_path).name == "buffalo_l"
    assert asked == [("package", "cheetah_s"), ("zip", "buffalo_l")]

    def offline(*arguments, **keywords):
        raise OSError("Failed downloading url")

    monkeypatch.setattr(person_package, "ensure_person_package", offline)
    with pytest.raises(InsightFaceModelsMissingError, match=r"cheetah_l.*Failed downloading"):
        insightface_pack_folder("cheetah_l", tmp_path)


def test_unknown_sources_list_the_accepted_forms(tmp_path):
    with pytest.raises(ValueError, match=r"unknown identity encoder source.*\.onnx.*buffalo_l"):
        load_identity_encoder(str(tmp_path / "weights.bin"))
    with pytest.raises(ValueError, match="unknown identity encoder source"):
        load_identity_encoder("")
    with pytest.raises(FileNotFoundError, match=r"absent\.onnx"):
        load_identity_encoder(str(tmp_path / "absent.onnx"))


# ----------------------------------------------------------------------------------------------
# The packaged toy recogniser
# ----------------------------------------------------------------------------------------------


def test_toy_recogniser_still_loads_frozen_and_differentiable():
    encoder = load_identity_encoder(load_profile("toy", environ={}).models.identity_encoder)
    assert type(encoder).__name__ == "ToyRecogniser"
    assert_frozen_but_differentiable(encoder)


def test_a_folder_without_a_recogniser_is_refused_with_the_fix(tmp_path):
    """An fr-train output passed where its backbone is meant is not taken for an insightface
    pack name (which would end in a failed download of ``.../model-zoo//that/path.zip``)."""
    from idbooth_lib.identity.encoders import load_identity_encoder
    from idbooth_lib.models import resolve_source

    trained = tmp_path / "fr-real"
    shutil.copytree(resolve_source("idbooth:toy/recogniser"), trained / "backbone")
    with pytest.raises(ValueError, match=r"holds no recogniser.*pass .*fr-real/backbone"):
        load_identity_encoder(str(trained), allow_download=False)
    assert load_identity_encoder(str(trained / "backbone"), allow_download=False) is not None
    with pytest.raises(ValueError, match="does not exist"):
        load_identity_encoder(str(tmp_path / "nowhere"), allow_download=False)


def test_a_recogniser_folder_may_have_a_dot_in_its_name(tmp_path):
    """``glint.r100/`` is a folder, not a file of an unknown format."""
    from idbooth_lib.identity.encoders import load_identity_encoder
    from idbooth_lib.identity.toy_recogniser import RecogniserConfig, ToyRecogniser

    folder = tmp_path / "glint.r100"
    ToyRecogniser(RecogniserConfig((8, 16, 16), 1, 16)).save(folder)
    encoder = load_identity_encoder(str(folder))
    assert encoder(torch.zeros(1, 3, 112, 112)).shape == (1, 16)
