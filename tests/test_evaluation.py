"""Evaluating sets of face images: the measures on cases whose answer is known, and the CLI on
toy folders (real photos posing as synthetic, shuffled identities, copies, broken files)."""

import json
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idbooth_lib.evaluation.diversity import landmark_pose, mean_pairwise_distance, vendi_score
from idbooth_lib.evaluation.fidelity import (
    cmmd,
    frechet_distance,
    precision_recall_density_coverage,
)
from idbooth_lib.evaluation.memorisation import memorisation
from idbooth_lib.evaluation.separability import (
    cross_set_scores,
    d_prime,
    equal_error_rate,
    fisher_discriminant_ratio,
    fnmr_at_fmr,
    separability,
    within_set_scores,
)

RNG = np.random.default_rng(0)


def brute_force_rates(genuine, impostor):
    """FMR and FNMR at every threshold, counted pair by pair (no ROC code involved)."""
    thresholds = np.concatenate([np.unique(np.concatenate([genuine, impostor])), [np.inf]])
    fmr = np.array([(impostor >= t).mean() for t in thresholds])
    fnmr = np.array([(genuine < t).mean() for t in thresholds])
    return fmr, fnmr


@pytest.mark.parametrize("shift", [0.0, 0.3, 0.6, 3.0])
def test_error_rates_agree_with_counting_pairs(shift):
    genuine, impostor = RNG.normal(shift, 0.2, 4000), RNG.normal(0.0, 0.2, 9000)
    fmr, fnmr = brute_force_rates(genuine, impostor)
    eer = equal_error_rate(genuine, impostor)
    # at the counted crossing (the threshold where FMR first reaches FNMR) the EER lies between
    # the two rates of that threshold and of the one before it
    crossed = int(np.argmax(fmr <= fnmr))
    low, high = sorted([fmr[crossed], fnmr[crossed], fmr[crossed - 1], fnmr[crossed - 1]])[1:3]
    assert low - 1e-9 <= eer <= high + 1e-9
    # and the normal distributions' own EER: Φ(−shift / 0.4) for equal spreads of 0.2
    assert eer == pytest.approx(statistics.NormalDist().cdf(-shift / 0.4), abs=0.01)
    for limit in (1e-2, 1e-3):
        assert fnmr_at_fmr(genuine, impostor, limit) == pytest.approx(fnmr[fmr <= limit].min())


def test_separated_scores_have_no_errors_and_identical_ones_half():
    genuine, impostor = RNG.uniform(0.6, 1.0, 300), RNG.uniform(-1.0, 0.4, 3000)
    assert equal_error_rate(genuine, impostor) == 0
    assert fnmr_at_fmr(genuine, impostor, 1e-3) == 0
    same = RNG.normal(0.2, 0.1, 20000)
    assert equal_error_rate(same[:10000], same[10000:]) == pytest.approx(0.5, abs=0.02)
    assert fnmr_at_fmr(same[:10000], same[10000:], 1e-2) == pytest.approx(0.99, abs=0.01)


def test_one_person_keeps_the_genuine_scores_and_no_error_rate():
    """Your own photos (chapter 08): one identity, so no impostor pairs and no EER to read."""
    from idbooth_lib.evaluation.separability import separability

    result = separability(np.array([0.6, 0.8]), np.array([]))
    assert result["genuine_mean"] == pytest.approx(0.7) and result["genuine_pairs"] == 2
    assert result["eer"] is None and result["fdr"] is None and result["impostor_pairs"] == 0
    with pytest.raises(ValueError, match="genuine and impostor"):
        separability(np.array([]), np.array([0.1]))


def test_fdr_and_d_prime_match_their_formulas():
    genuine, impostor = RNG.normal(0.6, 0.1, 500), RNG.normal(0.1, 0.2, 700)
    variance_g, variance_i = statistics.pvariance(genuine), statistics.pvariance(impostor)
    gap = statistics.fmean(genuine) - statistics.fmean(impostor)
    assert fisher_discriminant_ratio(genuine, impostor) == pytest.approx(
        gap**2 / (variance_g + variance_i)
    )
    assert d_prime(genuine, impostor) == pytest.approx(gap / ((variance_g + variance_i) / 2) ** 0.5)
    result = separability(genuine, impostor)
    assert result["genuine_pairs"] == 500 and result["impostor_pairs"] == 700
    assert result["fnmr_at_fmr_1e-3"] is None  # 700 impostor pairs cannot resolve 1 in 1000
    flat = separability([0.9], [0.1])  # one pair each: no spread, so no FDR or d′
    assert flat["fdr"] is None and flat["d_prime"] is None and flat["eer"] == 0
    with pytest.raises(ValueError, match="genuine and impostor"):
        separability([], impostor)  # no impostors is one person (tested below); no genuine is not


def test_pairs_are_counted_once_within_a_set_and_all_across_sets():
    embeddings, labels = np.eye(5)[[0, 0, 1, 1, 2]], ["a", "a", "b", "b", "c"]
    genuine, impostor = within_set_scores(embeddings, labels)
    assert sorted(genuine) == [1.0, 1.0] and len(impostor) == 10 - 2 and not impostor.any()
    genuine, impostor = cross_set_scores(embeddings, labels, embeddings[:3], labels[:3])
    assert len(genuine) == 2 * 2 + 2 * 1 and len(impostor) == 15 - 6


def test_vendi_counts_distinct_items():
    assert vendi_score(np.ones((6, 4))) == pytest.approx(1.0)
    assert vendi_score(np.eye(6)) == pytest.approx(6.0)
    assert vendi_score(np.eye(3)[[0, 0, 1, 1, 2, 2]]) == pytest.approx(3.0)
    assert mean_pairwise_distance(np.eye(3)) == pytest.approx(1.0)
    assert mean_pairwise_distance(np.ones((3, 2))) == pytest.approx(0.0)


def test_landmark_pose_reads_roll_and_a_turned_nose():
    frontal = np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]])
    assert np.abs(landmark_pose(frontal)[0, :1]).max() < 0.02
    turned = frontal.copy()
    turned[2, 0] += 10  # the nose moves towards one eye
    assert landmark_pose(turned)[0, 0] == pytest.approx(10 / 35.2, abs=0.01)
    lowered = frontal.copy()
    lowered[2, 1] += 10.35  # the nose half-way further down towards the mouth line
    assert landmark_pose(lowered)[0, 1] - landmark_pose(frontal)[0, 1] == pytest.approx(
        10.35 / 40.6, abs=0.01
    )
    angle = np.radians(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    assert landmark_pose(frontal @ rotation.T)[0, 2] == pytest.approx(30, abs=0.5)


def test_fidelity_is_zero_for_one_distribution_and_grows_with_a_shift():
    real, same, shifted = (
        RNG.normal(0, 1, (400, 8)),
        RNG.normal(0, 1, (400, 8)),
        RNG.normal(2, 1, (400, 8)),
    )
    assert frechet_distance(real, same) < 0.5 < frechet_distance(real, shifted)
    assert frechet_distance(real, shifted) == pytest.approx(8 * 4, rel=0.2)  # |μ|² = 8 · 2²
    # the textbook formula with a general matrix square root gives the same number
    from scipy import linalg

    cov_r, cov_s = np.cov(real, rowvar=False), np.cov(shifted, rowvar=False)
    textbook = ((real.mean(0) - shifted.mean(0)) ** 2).sum() + np.trace(
        cov_r + cov_s - 2 * linalg.sqrtm(cov_r @ cov_s).real
    )
    assert frechet_distance(real, shifted) == pytest.approx(textbook, rel=1e-9)
    close, far = (
        precision_recall_density_coverage(real, same),
        precision_recall_density_coverage(real, shifted),
    )
    assert close["precision"] > 0.8 and close["coverage"] > 0.8
    assert far["precision"] < 0.3 and far["coverage"] < 0.3
    assert abs(cmmd(real, same)) < cmmd(real, shifted)
    small = precision_recall_density_coverage(real[:6], same[:6])
    assert small["nearest_k"] == 4  # k + 2 points per set at the least
    with pytest.raises(ValueError, match="at least 3 images"):
        precision_recall_density_coverage(real[:2], same[:2])


def test_cmmd_is_the_biased_mmd_of_unit_embeddings_times_1000():
    """Two points per set, worked by hand: unit rows a, b (real) and a, c (generated)."""
    a, b, c = np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([-1.0, 0.0])

    def k(x, y):
        return np.exp(-((x - y) ** 2).sum() / 200)

    within_r = (2 * k(a, a) + 2 * k(a, b)) / 4
    within_g = (2 * k(a, a) + 2 * k(a, c)) / 4
    across = (k(a, a) + k(a, c) + k(b, a) + k(b, c)) / 4
    expected = 1000 * (within_r + within_g - 2 * across)
    assert cmmd(np.stack([a, 3 * b]), np.stack([2 * a, c])) == pytest.approx(expected)


def test_copies_are_near_copies_even_when_the_real_set_repeats_itself():
    real = RNG.normal(0, 1, (40, 16))
    real[1], real[3] = real[0], real[2]  # two real photos twice: the baseline's low end is 0
    assert memorisation(real[:5], real)["near_copy_share"] == 1.0


def test_copies_are_near_copies_and_other_draws_are_not():
    real = RNG.normal(0, 1, (50, 16))
    copies = real[:10] + RNG.normal(0, 1e-3, (10, 16))
    others = RNG.normal(0, 1, (10, 16))
    assert memorisation(copies, real)["near_copy_share"] == 1.0
    assert memorisation(others, real)["near_copy_share"] == 0.0


# ----------------------------------------------------------------------------------------------
# The command line on toy folders
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_folders(tmp_path_factory):
    """Studio photos of 6 toy people (the real set) and wild photos of the same people."""
    from idbooth_lib.toy_world.dataset import write_toy_dataset

    root = tmp_path_factory.mktemp("evaluation")
    real = write_toy_dataset(root / "real", 6, 4, "constrained", seed=0)
    wild = write_toy_dataset(root / "wild", 6, 6, "wild", seed=0)
    return real, wild


def _evaluate(synthetic, real, output):
    from idbooth_lib.cli import main

    code = main(["evaluate", "--synthetic", str(synthetic), "--real", str(real), "--output",
                 str(output), "--quiet"])  # fmt: skip
    return code, json.loads(output.read_text())


@pytest.fixture(scope="module")
def real_photos_as_synthetic(toy_folders, tmp_path_factory):
    real, wild = toy_folders
    return _evaluate(wild, real, tmp_path_factory.mktemp("out") / "results.json")


def test_real_photos_posing_as_synthetic_separate_for_both_recognisers(real_photos_as_synthetic):
    code, results = real_photos_as_synthetic
    assert code == 0 and results["faces_found"]["synthetic"]["usable"] >= 30
    assert results["identities"]["matched"] == [f"id_{index:04d}" for index in range(6)]
    for role in ("identity_encoder", "evaluation_encoder"):
        for protocol in ("synthetic_vs_synthetic", "synthetic_vs_real", "real_vs_real"):
            measures = results["encoders"][role][protocol]
            assert measures["eer"] < 0.05, (role, protocol, measures["eer"])
            assert measures["fdr"] > 2 and measures["genuine_mean"] > measures["impostor_mean"]
    assert results["diversity"]["vendi_mean"] > 1 and results["fidelity"]["cmmd"] is None
    assert set(results["diversity"]["pose_spread"]) == {
        "yaw_proxy_std", "pitch_proxy_std", "roll_degrees_std"
    }  # fmt: skip
    # other photos of the same people are not copies
    assert results["memorisation"]["near_copy_share"] == 0.0


def test_shuffled_identities_do_not_separate(toy_folders, tmp_path):
    real, wild = toy_folders
    files = sorted(wild.glob("id_*/*.png"))
    order = np.random.default_rng(1).permutation(len(files))
    for rank, index in enumerate(order):
        folder = tmp_path / "shuffled" / f"id_{rank % 6:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(files[index], folder / f"{rank:04d}.png")
    code, results = _evaluate(tmp_path / "shuffled", real, tmp_path / "results.json")
    assert code == 0
    for role in ("identity_encoder", "evaluation_encoder"):
        for protocol in ("synthetic_vs_synthetic", "synthetic_vs_real"):
            eer = results["encoders"][role][protocol]["eer"]
            assert 0.3 < eer < 0.7, (role, protocol, eer)


def test_copies_of_the_real_photos_are_flagged(toy_folders, tmp_path):
    real, wild = toy_folders
    shutil.copytree(wild, tmp_path / "mixed", ignore=shutil.ignore_patterns("metadata.json"))
    for identity in range(3):
        for image in range(2):
            name = f"{image:04d}.png"
            shutil.copy(
                real / f"id_{identity:04d}" / name,
                tmp_path / "mixed" / f"id_{identity:04d}" / f"copy_{name}",
            )
    code, results = _evaluate(tmp_path / "mixed", real, tmp_path / "results.json")
    found = results["memorisation"]
    copied = [
        file.split("/")[-1].startswith("copy_")
        for file in _usable_files(results, tmp_path / "mixed")
    ]
    flagged = np.asarray(found["nearest_real_distance"]) < found["threshold"]
    assert code == 0 and sum(copied) == 6
    assert flagged[np.asarray(copied)].all() and not flagged[~np.asarray(copied)].any()
    assert found["near_copy_share"] == pytest.approx(6 / len(copied))


def _usable_files(results, root):
    """The synthetic files in the order the results list them (usable ones, sorted scan order)."""
    unusable = {item["file"] for item in results["unusable"]["synthetic"]}
    files = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*") if p.is_file())
    return [file for file in files if file not in unusable]


def test_bad_files_are_reported_and_the_rest_evaluated(
    toy_folders, real_photos_as_synthetic, tmp_path
):
    real, wild = toy_folders
    shutil.copytree(wild, tmp_path / "gen", ignore=shutil.ignore_patterns("metadata.json"))
    folder = tmp_path / "gen" / "id_0000"
    (folder / "broken.png").write_bytes((folder / "0000.png").read_bytes()[:60])
    (folder / "notes.txt").write_text("not an image")
    Image.new("RGB", (64, 64), (90, 120, 150)).save(folder / "blank.png")
    (tmp_path / "gen" / "stray.png").write_bytes(b"")
    code, results = _evaluate(tmp_path / "gen", real, tmp_path / "results.json")
    reasons = {item["file"]: item["reason"] for item in results["unusable"]["synthetic"]}
    assert code == 0
    assert (
        "truncated" in reasons["id_0000/broken.png"]
        or "not an image" in reasons["id_0000/broken.png"]
    )
    assert "not an image file" in reasons["id_0000/notes.txt"]
    assert reasons["id_0000/blank.png"] == "no face found"
    assert "not inside an identity folder" in reasons["stray.png"]
    clean = real_photos_as_synthetic[1]["faces_found"]["synthetic"]["usable"]
    assert results["faces_found"]["synthetic"]["usable"] == clean
    assert results["encoders"]["identity_encoder"]["synthetic_vs_synthetic"]["eer"] < 0.05


def test_the_figures_take_one_call_each():
    from idbooth_lib.evaluation.figures import plot_det_curves, plot_score_distributions

    scores = {"A": (RNG.normal(0.6, 0.1, 50), RNG.normal(0, 0.1, 200))}
    assert plot_score_distributions(scores).axes and plot_det_curves(scores).axes


def test_image_features_load_a_transformers_vision_model(tmp_path):
    """The sd21 path (DINOv2 by AutoModel, CLIP for CMMD) on tiny random models saved here."""
    from transformers import (
        BitImageProcessor,
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
        Dinov2Config,
        Dinov2Model,
    )

    from idbooth_lib.evaluation.features import load_clip_features, load_image_features

    dinov2 = tmp_path / "dinov2"
    Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=64, image_size=56, patch_size=14)).save_pretrained(dinov2)  # fmt: skip
    BitImageProcessor(
        crop_size={"height": 56, "width": 56}, size={"shortest_edge": 56}
    ).save_pretrained(dinov2)
    images = RNG.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    assert load_image_features(str(dinov2))(images).shape == (3, 32)
    clip = tmp_path / "clip"
    config = CLIPConfig(
        text_config={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64},
        vision_config={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "intermediate_size": 64, "image_size": 56, "patch_size": 14},
        projection_dim=16,
    )  # fmt: skip
    CLIPModel(config).save_pretrained(clip)
    from conftest import ROOT  # noqa: F401  (tests run from the repository root)

    from idbooth_lib.config import load_profile
    from idbooth_lib.models import resolve_source

    tokenizer = CLIPTokenizer.from_pretrained(
        resolve_source(load_profile("toy").models.base_model) + "/tokenizer"
    )
    processor = CLIPImageProcessor(
        crop_size={"height": 56, "width": 56}, size={"shortest_edge": 56}
    )
    CLIPProcessor(image_processor=processor, tokenizer=tokenizer).save_pretrained(clip)
    assert load_clip_features(str(clip))(images).shape == (3, 16)


def test_adherence_counts_what_agrees_with_each_prompt():
    from idbooth_lib.evaluation.adherence import adherence

    prompts = [
        "face portrait photo of male sks person, forest background",
        "face side-portrait photo of male sks person, beach background",
        "face portrait photo of male sks person",  # studio: no background to judge
        "a watercolour of a cat",  # outside the template
    ]
    result = adherence(prompts, ["forest", "office", "bus", "forest"], ["frontal", "side", "side", "side"], ["a", "a", "b", "b"])  # fmt: skip
    assert result["background"] == 0.5 and result["images_with_a_background"] == 2
    assert result["pose"] == pytest.approx(2 / 3) and result["prompts_outside_the_template"] == 1
    assert result["per_identity"]["b"] == {"background": None, "pose": 0.0}


def _write_manifest(folder, prompt_of):
    from idbooth_lib.toy_world.dataset import load_toy_metadata

    records = [
        {"file": image["file"], "prompt": prompt_of(image)}
        for image in load_toy_metadata(folder)["images"]
    ]
    (folder / "manifest.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))


def test_the_toy_probe_reads_the_scenes_real_photos_were_drawn_with(toy_folders, tmp_path):
    """Real wild toy photos, each with the caption of its own scene as its prompt: adherence is the
    probe's accuracy; the same photos with every background prompt moved on by one are judged
    wrong."""
    from idbooth_lib.generation.prompts import BACKGROUNDS, parse_prompt, portrait_prompt

    real, wild = toy_folders
    shutil.copytree(wild, tmp_path / "gen")
    _write_manifest(tmp_path / "gen", lambda image: image["caption"])
    code, results = _evaluate(tmp_path / "gen", real, tmp_path / "results.json")
    honest = results["adherence"]
    usable = results["faces_found"]["synthetic"]["usable"]
    assert code == 0 and honest["images"] == usable and honest["not_in_manifest"] == 0
    assert results["unusable"]["synthetic"] == []  # the manifest itself is no stray file
    assert honest["background"] > 0.85 and honest["pose"] > 0.85

    def wrong(image):
        asked = parse_prompt(image["caption"])
        background = (
            asked["background"] and BACKGROUNDS[(BACKGROUNDS.index(asked["background"]) + 1) % 10]
        )
        return portrait_prompt(asked["gender"], asked["pose"], background)

    _write_manifest(tmp_path / "gen", wrong)
    code, results = _evaluate(tmp_path / "gen", real, tmp_path / "results.json")
    assert (
        results["adherence"]["background"] < 0.2 and results["adherence"]["pose"] == honest["pose"]
    )


def test_a_broken_manifest_line_names_the_file_and_line(tmp_path):
    from idbooth_lib.evaluation.adherence import read_manifest

    (tmp_path / "manifest.jsonl").write_text(
        '{"file": "a/0.png", "prompt": "x"}\n{"prompt": "y"}\n'
    )
    with pytest.raises(ValueError, match="manifest.jsonl, line 2"):
        read_manifest(tmp_path)
    assert read_manifest(tmp_path / "elsewhere") is None


def test_an_unreachable_hub_model_is_one_line_that_names_the_setting(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from idbooth_lib.evaluation.features import load_image_features

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="models.image_features"):
        load_image_features("facebook/dinov2-base")


def test_other_studio_photos_of_the_same_people_are_no_copies(tmp_path):
    """The hard case: held-out studio photos of the very people in the real set (as close as two
    different photos get). Their nearest-real distances sit above the threshold; copies at 0."""
    from idbooth_lib.toy_world.dataset import write_toy_dataset

    studio = write_toy_dataset(tmp_path / "studio", 6, 8, "constrained", seed=0)
    for part, images in (("real", range(4)), ("held_out", range(4, 8))):
        for folder in sorted(studio.glob("id_*")):
            (tmp_path / part / folder.name).mkdir(parents=True)
            for image in images:
                shutil.copy(folder / f"{image:04d}.png", tmp_path / part / folder.name)
    code, results = _evaluate(tmp_path / "held_out", tmp_path / "real", tmp_path / "out.json")
    assert code == 0 and results["memorisation"]["near_copy_share"] == 0.0
    nearest = results["memorisation"]["nearest_real_file"]
    mine = [file.split("/")[0] for file in results["memorisation"]["synthetic_files"]]
    assert [file.split("/")[0] for file in nearest] == mine  # nearest photo: the same person's


def _strict(text):
    """``json.loads`` that refuses NaN and Infinity, as strict readers do."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in results.json"))


def test_small_and_unmatched_sets_are_reported_not_crashed(toy_folders, tmp_path):
    """One identity with one image, an empty identity folder, an identity only in GEN."""
    real, wild = toy_folders
    (tmp_path / "gen" / "id_0000").mkdir(parents=True)
    shutil.copy(wild / "id_0000" / "0000.png", tmp_path / "gen" / "id_0000")
    (tmp_path / "gen" / "empty").mkdir()
    code, results = _evaluate(tmp_path / "gen", real, tmp_path / "out.json")
    strict = _strict((tmp_path / "out.json").read_text())
    assert code == 0 and strict["faces_found"]["synthetic"]["usable"] == 1
    one_image = results["encoders"]["identity_encoder"]["synthetic_vs_synthetic"]
    assert "genuine and impostor pairs" in one_image["error"]  # reported, not raised
    assert {"file": "empty/", "reason": "empty identity folder: no images in it"} in results[
        "unusable"
    ]["synthetic"]
    assert "error" in results["fidelity"]["prdc"]
    shutil.copytree(wild / "id_0001", tmp_path / "gen" / "stranger")
    code, results = _evaluate(tmp_path / "gen", real, tmp_path / "out.json")
    assert results["identities"]["synthetic_only"] == ["stranger"]
    _strict((tmp_path / "out.json").read_text())


def test_a_bad_manifest_stops_before_anything_is_measured(toy_folders, tmp_path, capsys):
    real, wild = toy_folders
    shutil.copytree(wild, tmp_path / "gen")
    (tmp_path / "gen" / "manifest.jsonl").write_text(
        '{"file": "id_0000/0000.png", "prompt": null}\n'
    )
    from idbooth_lib.cli import main

    code = main(["evaluate", "--synthetic", str(tmp_path / "gen"), "--real", str(real),
                 "--output", str(tmp_path / "out.json"), "--quiet"])  # fmt: skip
    error = capsys.readouterr().err
    assert code == 2 and "manifest.jsonl, line 1" in error and "Traceback" not in error
    assert not (tmp_path / "out.json").exists()


def test_raw_identity_names_match_the_safe_names_generation_writes(toy_folders, tmp_path):
    """SRC keeps the raw folder name ("Zoë K"); training and generation use prepare's safe name."""
    from idbooth_lib.data.scan import safe_name

    real, wild = toy_folders
    shutil.copytree(real, tmp_path / "real", ignore=shutil.ignore_patterns("metadata.json"))
    shutil.copytree(wild, tmp_path / "gen", ignore=shutil.ignore_patterns("metadata.json"))
    (tmp_path / "real" / "id_0000").rename(tmp_path / "real" / "Zoë K")
    (tmp_path / "gen" / "id_0000").rename(tmp_path / "gen" / safe_name("Zoë K"))
    code, results = _evaluate(tmp_path / "gen", tmp_path / "real", tmp_path / "out.json")
    assert safe_name("Zoë K") in results["identities"]["matched"]
    assert results["identities"]["synthetic_only"] == results["identities"]["real_only"] == []


def test_kept_embeddings_give_back_the_evaluations_error_rates(toy_folders, tmp_path):
    """What a set-level interval recomputes on resampled people starts from the same EER as the
    evaluation itself, for both recognisers and both protocols."""
    from idbooth_lib.config import load_profile
    from idbooth_lib.evaluation.comparisons import load_people_scores, weighted_separability
    from idbooth_lib.evaluation.run import evaluate_folders

    real, wild = toy_folders
    kept = tmp_path / "kept.embeddings.safetensors"
    results = evaluate_folders(wild, real, load_profile("toy"), embeddings_file=kept)
    people = results["identities"]["matched"]
    for role in ("identity_encoder", "evaluation_encoder"):
        for protocol, scores in load_people_scores(kept, role, people).items():
            recomputed = weighted_separability(scores, np.ones(len(people), int))
            assert recomputed["eer"] == pytest.approx(results["encoders"][role][protocol]["eer"])


def test_kept_embeddings_name_each_rows_file(toy_folders, tmp_path):
    """Each kept embedding row carries its image file and identity, in the same order, so a
    per-image reading (the foundation benchmark's) needs no second pass of the detector."""
    from idbooth_lib.config import load_profile
    from idbooth_lib.evaluation.embedding_store import read_embeddings
    from idbooth_lib.evaluation.run import evaluate_folders

    real, wild = toy_folders
    kept = tmp_path / "kept.embeddings.safetensors"
    evaluate_folders(wild, real, load_profile("toy"), embeddings_file=kept)
    stored = read_embeddings(kept)
    for side in ("synthetic", "real"):
        files, labels = stored[f"{side}_files"], stored[f"{side}_labels"]
        assert len(files) == len(labels) == len(stored["evaluation_encoder"][side == "real"])
        assert [Path(file).parts[0] for file in files] == labels
