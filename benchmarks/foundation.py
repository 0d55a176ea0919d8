"""The toy foundation's own benchmark: how well a UNet draws the people it was trained on.

    .venv/bin/python benchmarks/foundation.py                         # the shipped foundation
    .venv/bin/python benchmarks/foundation.py --model FOLDER --name longer

Every result of chapters 04-07 rests on the foundation's UNet, and fine-tuning can only bind a
new face to ``sks`` as well as the foundation draws faces at all. So, as Stable Diffusion is asked
for famous people, the foundation is asked for ``--people`` of its *pretraining* people by their
made-up names, with the paper's 20 prompts each (ten backgrounds, frontal and side), drawn the way
every chapter draws (the toy profile's sampler: DDPM, 30 steps, guidance 5, the paper's negative
prompt). The toy profile's own evaluation then measures:

- **identity**: mean cosine of each drawing to the person's own studio photos, by the independent
  recogniser (``models.evaluation_encoder``), averaged over people;
- **rank-1**: the share of drawings whose nearest person, among the ``--people`` (the centroids of
  their studio photos), is the one asked for;
- **faces found**: the share of drawings in which the toy detector finds a face;
- **by condition**: identity, rank-1 and faces found per pose and per background, to see where
  a UNet loses the people (side views? dark scenes?);
- **background** and **pose**: the share drawn as asked, judged by the toy scene probe;
- **Fréchet distance** between the drawings and real wild photos of the same people (the same
  backgrounds and poses, 20 each), in one fixed feature space: the shipped foundation's VAE
  latents (``models.image_features``), whatever UNet is measured;
- **training compute**: steps and CPU minutes, summed along the ``continue_from`` chain of
  ``recipe.json`` files.

Every measure but the Fréchet distance is also kept per person, and ``--against FILE`` adds, for
each, this UNet minus the other's with a paired bootstrap 95 % interval over the people: eight
people are few, and a difference whose interval contains zero is not one.

``--set SECTION.FIELD=VALUE`` measures under another toy-profile setting (the sampler's guidance,
say); the results file records the settings. ``--keep-drawings FOLDER`` keeps the drawings to
look at (which people, which scenes fail, and how). Results go to
``benchmarks/results/foundation_<name>.json`` with the date and the commit.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_report import publish
from PIL import Image

from idbooth_lib.config import load_profile
from idbooth_lib.diffusion.pipeline import load_base_pipeline
from idbooth_lib.env import source_commit
from idbooth_lib.evaluation.diversity import unit_rows
from idbooth_lib.evaluation.embedding_store import read_embeddings
from idbooth_lib.evaluation.fidelity import frechet_distance
from idbooth_lib.evaluation.intervals import paired_difference
from idbooth_lib.evaluation.run import evaluate_folders
from idbooth_lib.generation.generate import MANIFEST_FILE, draw, write_identity_manifest
from idbooth_lib.generation.prompts import prompt_plan
from idbooth_lib.io import save_image
from idbooth_lib.models import ModelBundle, resolve_source
from idbooth_lib.toy.pretrain.common import PRETRAIN_WORLD_SEED
from idbooth_lib.toy.tokenizer import identity_names
from idbooth_lib.toy_world.render import render_faces

SHIPPED = "idbooth:toy/foundation"
PROMPTS_PER_PERSON = 20  # the paper's ten backgrounds, each frontal and side


def draw_named_people(config, people: int, folder: Path) -> None:
    """``folder/pNN/NNNN.png`` and a manifest per person: each pretraining person by name."""
    pipeline = load_base_pipeline(config)
    studio = render_faces(PRETRAIN_WORLD_SEED, range(people), 1, "constrained")
    for person, name in enumerate(identity_names(people)):
        gender = studio.genders[int(np.flatnonzero(studio.identities == person)[0])]
        plan = prompt_plan(f"p{person:02d}", gender, PROMPTS_PER_PERSON, config.seed,
                           config.generate.negative_prompt, token=name)  # fmt: skip
        records = [{"file": f"p{person:02d}/{image.index:04d}.png", **image.to_dict()}
                   for image in plan]  # fmt: skip
        for start in range(0, len(records), config.generate.batch_size):
            batch = records[start : start + config.generate.batch_size]
            for record, image in zip(batch, draw(pipeline, batch, config), strict=True):
                save_image(folder / record["file"], image)
        write_identity_manifest(folder / f"p{person:02d}" / MANIFEST_FILE, records)


def write_real_photos(people: int, per_person: int, mode: str, folder: Path) -> None:
    """``folder/pNN/NNNN.png``: ``per_person`` real photos of each pretraining person."""
    faces = render_faces(PRETRAIN_WORLD_SEED, range(people), per_person, mode)
    for index, (person, image) in enumerate(zip(faces.identities, faces.images, strict=True)):
        save_image(folder / f"p{int(person):02d}" / f"{index:04d}.png", Image.fromarray(image))


def drawings_measured(stored: dict, unusable: list[dict]) -> list[dict]:
    """One record per drawing: its person, pose and background, whether a face was found, and
    (when found) its mean cosine to the person's own studio photos and whether the nearest studio
    centroid among the people is theirs (the independent recogniser). ``stored`` is what the
    evaluation kept (:func:`~idbooth_lib.evaluation.embedding_store.read_embeddings`), ``unusable``
    its drawings without a face: no face is found or embedded twice."""
    drawn_embeddings, real_embeddings = (unit_rows(np.asarray(rows, float))
                                         for rows in stored["evaluation_encoder"])  # fmt: skip
    real_labels = np.asarray(stored["real_labels"])
    people = sorted(set(real_labels))
    centroids = unit_rows(np.stack([real_embeddings[real_labels == p].mean(0) for p in people]))
    nearest = np.asarray(people)[(drawn_embeddings @ centroids.T).argmax(1)]
    conditions = {image.index: (image.pose, image.background or "studio")
                  for image in prompt_plan("any", "male", PROMPTS_PER_PERSON, 0, "")}  # fmt: skip
    records = []
    for row, (file, person) in enumerate(zip(stored["synthetic_files"], stored["synthetic_labels"],
                                             strict=True)):  # fmt: skip
        own = real_embeddings[real_labels == person]
        records.append({"file": file, "person": person, "found": True,
                        "identity": float((own @ drawn_embeddings[row]).mean()),
                        "rank1": bool(nearest[row] == person)})  # fmt: skip
    for item in unusable:
        records.append({"file": item["file"], "person": Path(item["file"]).parts[0],
                        "found": False, "identity": None, "rank1": False})  # fmt: skip
    for record in records:
        record["pose"], record["background"] = conditions[int(Path(record["file"]).stem)]
    return records


def share_per_person(records: list[dict], key: str) -> dict[str, float]:
    """Per person, the share of their drawings whose record says ``key`` (``found``, ``rank1``)."""
    people = sorted({record["person"] for record in records})
    return {person: float(np.mean([r[key] for r in records if r["person"] == person]))
            for person in people}  # fmt: skip


def rank1(records: list[dict]) -> dict[str, float]:
    """Per person, the share of drawings whose nearest studio centroid is their own; a drawing
    with no face found is a miss."""
    return share_per_person(records, "rank1")


def by_condition(records: list[dict]) -> dict:
    """Identity, rank-1 and faces found per pose and per background: where a UNet loses people.
    Identity is over the drawings with a face found (None where none was)."""

    def summary(chosen: list[dict]) -> dict:
        found = [record for record in chosen if record["found"]]
        return {"drawings": len(chosen),
                "faces_found": len(found) / len(chosen),
                "identity": float(np.mean([r["identity"] for r in found])) if found else None,
                "rank1": float(np.mean([r["rank1"] for r in chosen]))}  # fmt: skip

    return {
        key: {value: summary([r for r in records if r[key] == value])
              for value in sorted({record[key] for record in records})}  # fmt: skip
        for key in ("pose", "background")
    }


def frechet_to_wild(models, drawn: Path, wild: Path) -> float:
    """Fréchet distance of the drawings to real wild photos in the fixed image features."""

    def features(folder: Path) -> np.ndarray:
        paths = sorted(folder.glob("p*/*.png"))
        return np.asarray(models.image_features(np.stack([np.asarray(Image.open(p))
                                                             for p in paths])))  # fmt: skip

    return frechet_distance(features(wild), features(drawn))


def training_compute(model: str) -> dict:
    """Steps and minutes of training, summed along the ``continue_from`` chain."""
    steps, minutes, folder = 0, 0.0, Path(resolve_source(model))
    while (folder / "recipe.json").is_file():
        record = json.loads((folder / "recipe.json").read_text())
        steps, minutes = steps + record["steps"], minutes + record["minutes"]
        parent = record["recipe"].get("continue_from")
        if not parent:
            break
        folder = Path(resolve_source(parent)).expanduser()
    return {"training_steps": steps, "training_minutes": round(minutes, 1)}


#: The measures kept per person, so that two UNets are compared with paired intervals.
PER_PERSON = ("identity", "rank1", "faces_found", "background", "pose")


def measure(
    model: str, people: int, settings: dict[str, str] | None = None, keep: Path | None = None
) -> dict:
    """Every measure of ``model`` drawing ``people`` pretraining people by name; with ``keep``,
    the drawings (and their manifests) are copied there to be looked at."""
    config = load_profile("toy", {"models.base_model": model, **(settings or {})}, environ={})
    with tempfile.TemporaryDirectory(prefix="foundation-") as scratch:
        scratch = Path(scratch)
        draw_named_people(config, people, scratch / "drawn")
        write_real_photos(people, 4, "constrained", scratch / "studio")
        write_real_photos(people, PROMPTS_PER_PERSON, "wild", scratch / "wild")
        models = ModelBundle(config)  # loaded once, used twice
        kept = scratch / "drawn.embeddings.safetensors"
        results = evaluate_folders(scratch / "drawn", scratch / "studio", config, models, kept)
        adherence = results["adherence"]["per_identity"]
        records = drawings_measured(read_embeddings(kept), results["unusable"]["synthetic"])
        found, right = share_per_person(records, "found"), rank1(records)
        per_person = {
            person: {
                "identity": similarity,
                "faces_found": found[person],
                "background": adherence[person]["background"],
                "pose": adherence[person]["pose"],
                "rank1": right[person],
            }
            for person, similarity in
            results["encoders"]["evaluation_encoder"]["similarity_to_real"].items()
        }  # fmt: skip
        if keep is not None:
            shutil.copytree(scratch / "drawn", keep, dirs_exist_ok=True)
        drawings = results["faces_found"]["synthetic"]
        return {
            "identity": float(np.mean([row["identity"] for row in per_person.values()])),
            "rank1": float(np.mean([row["rank1"] for row in per_person.values()])),
            "faces_found": drawings["usable"] / drawings["total"],
            "background": results["adherence"]["background"],
            "pose": results["adherence"]["pose"],
            "frechet_distance": frechet_to_wild(models, scratch / "drawn", scratch / "wild"),
            "per_person": per_person,
            "by_condition": by_condition(records),
            **training_compute(model),
        }


def compare(report: dict, other: dict) -> dict:
    """Per measure, this UNet minus ``other``'s, with the paired bootstrap interval over the
    people both were asked for (the same prompts and seeds)."""
    people = sorted(set(report["per_person"]) & set(other["per_person"]))

    def values(source, measure):
        return [source["per_person"][person].get(measure) for person in people]

    return {measure: paired_difference(values(report, measure), values(other, measure)).to_dict()
            for measure in PER_PERSON}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=SHIPPED, help="a pipeline folder (default: shipped)")
    parser.add_argument("--name", default="shipped", help="results file: foundation_NAME.json")
    parser.add_argument("--people", type=int, default=8, help="pretraining people (>= 8)")
    parser.add_argument("--against", type=Path, action="append", default=[],
                        help="a results file of another UNet: paired intervals against it")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="change a toy-profile setting for this measurement, e.g. "
                             "generate.guidance_scale=7.5 (the results file records it)")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--keep-drawings", type=Path, default=None, metavar="FOLDER",
                        help="copy the drawings there (pNN/NNNN.png), to look at what failed")
    arguments = parser.parse_args(argv)
    if any("=" not in assignment for assignment in arguments.set):
        parser.error("--set takes SECTION.FIELD=VALUE, e.g. --set generate.guidance_scale=7.5")
    settings = dict(assignment.split("=", 1) for assignment in arguments.set)
    report = {
        "date": datetime.date.today().isoformat(),
        "commit": source_commit(),
        "model": arguments.model,
        "people": arguments.people,
        "drawings": arguments.people * PROMPTS_PER_PERSON,
        "settings": settings,
        **measure(arguments.model, arguments.people, settings, arguments.keep_drawings),
    }
    report["against"] = {
        str(path): compare(report, json.loads(path.read_text())) for path in arguments.against
    }
    publish(report, arguments.output, f"foundation_{arguments.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
