"""``idbooth evaluate``: every measure of a synthetic set against a real one, in one results file.

The synthetic folder ``GEN`` and the real folder ``SRC`` are matched by identity-folder name. The
faces of both are found and aligned as data preparation does (:mod:`~idbooth_lib.evaluation.faces`), then measured:

- ``encoders.<role>``: identity separability (:mod:`~idbooth_lib.evaluation.separability`) synthetic vs synthetic,
  synthetic vs real and real vs real, and per identity the mean similarity of its synthetic
  images to its real photos, for the recogniser in the loss (``identity_encoder``) *and*
  the independent one (``evaluation_encoder``) — the paper scores only with the first, which the
  identity methods were trained to please;
- ``diversity``: per-identity Vendi score and mean pairwise distance of the generic image
  features, and the spread of head pose (:mod:`~idbooth_lib.evaluation.diversity`);
- ``fidelity``: Fréchet distance and precision / recall / density / coverage against the real
  set, and CMMD where a CLIP model is configured (:mod:`~idbooth_lib.evaluation.fidelity`);
- ``memorisation``: each synthetic image's nearest real image in the generic feature space,
  judged against the real-vs-real baseline (:mod:`~idbooth_lib.evaluation.memorisation`);
- ``adherence`` (when ``GEN/manifest.jsonl`` gives each image's prompt): how often the background
  and the pose asked for are the ones shown (:mod:`~idbooth_lib.evaluation.adherence`);
- ``faces_found`` and ``unusable``: what could not be measured, file by file, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from idbooth_lib.config import ProfileConfig
from idbooth_lib.data.crop import CropSettings
from idbooth_lib.data.prepare import embed_aligned
from idbooth_lib.evaluation.adherence import MANIFEST_FILE, adherence, read_manifest
from idbooth_lib.evaluation.comparisons import PROTOCOL_NAMES, ROLE_NAMES
from idbooth_lib.evaluation.diversity import mean_pairwise_distance, pose_spread, vendi_score
from idbooth_lib.evaluation.embedding_store import write_embeddings
from idbooth_lib.evaluation.faces import FaceSet, read_face_set
from idbooth_lib.evaluation.fidelity import (
    cmmd,
    frechet_distance,
    precision_recall_density_coverage,
)
from idbooth_lib.evaluation.memorisation import memorisation
from idbooth_lib.evaluation.separability import (
    cross_set_scores,
    separability,
    similarity_to_real,
    within_set_scores,
)
from idbooth_lib.io import write_json
from idbooth_lib.models import ModelBundle, as_bundle
from idbooth_lib.preflight import check_profile

ENCODER_ROLES = ("identity_encoder", "evaluation_encoder")
#: What evaluation reads from its bundle (the scene scorer only when a manifest gives prompts).
EVALUATION_MODELS = ("detector", *ENCODER_ROLES, "image_features", "clip_features")


def _guarded(measure: Callable[[], Any]) -> Any:
    """A measure's value, or ``{"error": why}`` when the sets are too small for it."""
    try:
        return measure()
    except ValueError as error:
        return {"error": str(error)}


def identity_measures(
    synthetic: np.ndarray, real: np.ndarray, faces: tuple[FaceSet, FaceSet]
) -> dict:
    """Separability of one recogniser's embeddings, the three protocols, and each identity's
    mean similarity to its own real photos."""
    generated, photos = faces
    return {
        "similarity_to_real": similarity_to_real(synthetic, generated.labels, real, photos.labels),
        "synthetic_vs_synthetic": _guarded(
            lambda: separability(*within_set_scores(synthetic, generated.labels))
        ),
        "synthetic_vs_real": _guarded(
            lambda: separability(
                *cross_set_scores(synthetic, generated.labels, real, photos.labels)
            )
        ),
        "real_vs_real": _guarded(lambda: separability(*within_set_scores(real, photos.labels))),
    }


def diversity_measures(features: np.ndarray, faces: FaceSet) -> dict:
    """Vendi score and mean pairwise distance per identity (and their means), pose spread."""
    vendi, distance = {}, {}
    for identity in sorted(set(faces.identities)):
        rows = faces.of(identity)
        vendi[identity] = vendi_score(features[rows])
        if len(rows) > 1:
            distance[identity] = mean_pairwise_distance(features[rows])
    return {
        "vendi": vendi,
        "vendi_mean": float(np.mean(list(vendi.values()))),
        "mean_pairwise_distance": distance,
        "mean_pairwise_distance_mean": float(np.mean(list(distance.values())))
        if distance
        else None,
        "pose_spread": pose_spread(np.stack(faces.landmarks)),
        "pose_spread_per_identity": {
            identity: pose_spread(np.stack(faces.landmarks)[faces.of(identity)])
            for identity in sorted(set(faces.identities))
        },
    }


def evaluate_folders(
    synthetic: str | Path,
    real: str | Path,
    config: ProfileConfig,
    models: ModelBundle | dict[str, Any] | None = None,
    embeddings_file: str | Path | None = None,
) -> dict:
    """Measure ``synthetic`` against ``real`` with the models of ``models``, a
    :class:`~idbooth_lib.models.ModelBundle` (an experiment passes one bundle to every
    evaluation, so each model loads once) or a dict of models to use instead of the profile's
    (tests and notebooks pass small ones). Every model is loaded before any image is measured,
    so a model that cannot be loaded fails at once; before that, the preflight checks every
    source that will be loaded. With ``embeddings_file``, both
    recognisers' embeddings of both sets are kept there (:func:`~idbooth_lib.evaluation.embedding_store.write_embeddings`), for the
    intervals of :mod:`~idbooth_lib.evaluation.comparisons`."""
    manifest = read_manifest(synthetic)
    models = as_bundle(config, models)
    check_profile(config, "evaluate", given=settings_not_loaded(models, manifest)).raise_for_failures()
    load_evaluation_models(models, with_scene_scorer=manifest is not None)
    settings = CropSettings.from_config(config)
    generated = read_face_set(
        synthetic,
        models.detector,
        settings,
        keep_images=manifest is not None,
        own_files=(MANIFEST_FILE,),
    )
    photos = read_face_set(real, models.detector, settings, own_files=(MANIFEST_FILE,))
    results: dict[str, Any] = {
        "synthetic": str(synthetic),
        "real": str(real),
        "profile": config.name,
        "faces_found": {"synthetic": generated.summary(), "real": photos.summary()},
        "unusable": {"synthetic": generated.unusable, "real": photos.unusable},
        "identities": _matching(generated, photos),
    }
    if not len(generated) or not len(photos):
        results["error"] = "no usable face in the synthetic or the real folder: see unusable"
        return results
    results["encoders"], embedded = {}, {}
    for role in ENCODER_ROLES:
        encoder = getattr(models, role)
        embedded[role] = embed_aligned(encoder, generated.aligned), embed_aligned(encoder, photos.aligned)
        results["encoders"][role] = {
            "source": getattr(config.models, role),
            **identity_measures(*embedded[role], (generated, photos)),
        }
    if embeddings_file is not None:
        write_embeddings(embeddings_file, embedded, generated.labels, photos.labels,
                         files=(generated.files, photos.files))
    features_g = models.image_features(np.stack(generated.crops))
    features_r = models.image_features(np.stack(photos.crops))
    results["diversity"] = {"features": config.models.image_features} | _guarded(
        lambda: diversity_measures(features_g, generated)
    )
    results["fidelity"] = {"features": config.models.image_features} | _fidelity(
        features_r, features_g, generated, photos, models.clip_features
    )
    results["memorisation"] = {"features": config.models.image_features} | _guarded(
        lambda: _memorisation(features_g, features_r, generated, photos)
    )
    results["adherence"] = _adherence(generated, manifest, models, config)
    return results


def _memorisation(features_g, features_r, generated: FaceSet, photos: FaceSet) -> dict:
    """:func:`~idbooth_lib.evaluation.memorisation.memorisation` with each synthetic file and its nearest real file."""
    found = memorisation(features_g, features_r)
    found["synthetic_files"] = list(generated.files)
    found["nearest_real_file"] = [photos.files[index] for index in found.pop("nearest_real_index")]
    return found


def _adherence(generated: FaceSet, manifest: dict | None, models: ModelBundle, config) -> dict | None:
    """Prompt adherence when ``GEN/manifest.jsonl`` gives the prompts; None without one."""
    if manifest is None:
        return None
    known = [row for row, file in enumerate(generated.files) if file in manifest]
    unusable = sum(item["file"] in manifest for item in generated.unusable)
    if not known:
        return {"error": f"no usable image of {MANIFEST_FILE} is listed in it by its file name"}
    scorer = models.scene_scorer
    images = [generated.images[row] for row in known]
    landmarks = np.stack([generated.landmarks[row] for row in known])
    backgrounds, poses = scorer(images, landmarks)
    prompts = [manifest[generated.files[row]]["prompt"] for row in known]
    identities = [generated.identities[row] for row in known]
    return {
        "scorer": config.models.scene_scorer,
        "not_in_manifest": len(generated) - len(known),
        # a side view the detector missed is not judged at all: this says how many were lost
        "manifest_images_unusable": unusable,
    } | (adherence(prompts, backgrounds, poses, identities))


def _fidelity(features_r, features_g, generated: FaceSet, photos: FaceSet, clip) -> dict:
    values: dict[str, Any] = {
        "frechet_distance": _guarded(lambda: frechet_distance(features_r, features_g)),
        "prdc": _guarded(lambda: precision_recall_density_coverage(features_r, features_g)),
    }
    if clip is None:
        values["cmmd"] = None  # no CLIP model configured (models.clip_features)
    else:
        values["cmmd"] = _guarded(
            lambda: cmmd(clip(np.stack(photos.crops)), clip(np.stack(generated.crops)))
        )
    return values


def _matching(generated: FaceSet, photos: FaceSet) -> dict[str, list[str]]:
    ours, theirs = set(generated.identities), set(photos.identities)
    return {
        "matched": sorted(ours & theirs),
        "synthetic_only": sorted(ours - theirs),
        "real_only": sorted(theirs - ours),
    }


def settings_not_loaded(models: ModelBundle, manifest: dict | None) -> set[str]:
    """The model settings evaluation will not load, so the preflight leaves alone: those whose
    models are passed in code, and the scene scorer when no manifest gives prompts to judge."""
    return models.settings_given() | ({"scene_scorer"} if manifest is None else set())


def load_evaluation_models(models: ModelBundle, with_scene_scorer: bool = False) -> ModelBundle:
    """Load what evaluation reads from ``models`` now, with the loading libraries' progress bars
    off: the detector, both recognisers, the generic image features, the CLIP features (None
    when ``models.clip_features`` is empty) and, when asked for, the scene scorer."""
    from idbooth_lib.diffusion.pipeline import quiet_loading

    with quiet_loading():
        return models.load(*EVALUATION_MODELS, *(["scene_scorer"] if with_scene_scorer else []))


def summary_table(results: dict):
    """The identity rows of the paper's table for each recogniser and protocol, plus the counts."""
    from idbooth_lib.reporting import markdown_table, number

    rows = []
    for role, measures in results.get("encoders", {}).items():
        for protocol in ("synthetic_vs_synthetic", "synthetic_vs_real", "real_vs_real"):
            values = measures[protocol]
            described = (ROLE_NAMES.get(role, role), PROTOCOL_NAMES[protocol])
            if "error" in values:
                rows.append((*described, values["error"], "", "", ""))
                continue
            rows.append((*described, number(values["eer"]), number(values["fnmr_at_fmr_1e-2"]),
                         f"{number(values['genuine_mean'])} ± {number(values['genuine_std'])}",
                         number(values["fdr"], 2)))  # fmt: skip
    found = results["faces_found"]
    rows.append(("faces found", f"synthetic {found['synthetic']['usable']}/{found['synthetic']['total']}",
                 f"real {found['real']['usable']}/{found['real']['total']}", "", "", ""))  # fmt: skip
    return markdown_table(["recogniser", "protocol", "EER", "FMR100", "genuine μ ± σ", "FDR"], rows)


def write_results(path: str | Path, results: dict) -> None:
    """``results.json``, written atomically (a reader never sees half a file); a value that is not
    a finite number (a measure undefined on these sets) is written as null, since strict JSON
    readers reject NaN and Infinity."""
    write_json(path, finite(results))


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None, at any depth."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
