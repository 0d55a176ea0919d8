"""Recipes that train the toy models shipped in ``idbooth_lib/toy/weights``.

Each recipe is one seeded command that writes exactly the folder that is shipped::

    python -m idbooth_lib.toy.pretrain recogniser   --output idbooth_lib/toy/weights/recogniser
    python -m idbooth_lib.toy.pretrain recogniser_b --output idbooth_lib/toy/weights/recogniser_b
    python -m idbooth_lib.toy.pretrain detector     --output idbooth_lib/toy/weights/detector
    python -m idbooth_lib.toy.pretrain vae          --output idbooth_lib/toy/weights/foundation/vae
    python -m idbooth_lib.toy.pretrain text         --output idbooth_lib/toy/weights/foundation
    python -m idbooth_lib.toy.pretrain diffusion    --output idbooth_lib/toy/weights/foundation
    python -m idbooth_lib.toy.pretrain probe        --output idbooth_lib/toy/weights/probe

The VAE is trained first, with the recogniser's help, into the foundation pipeline's ``vae``
folder. The text recipe then trains the tokenizer's vocabulary and the text encoder, contrastively
like CLIP, into its ``tokenizer`` and ``text_encoder`` folders. Last, the diffusion recipe trains
the UNet on the VAE's latents, conditioned on the frozen text encoder, and writes the rest of the
pipeline around them. Long runs checkpoint into ``~/.cache/idbooth/checkpoints/`` every ``--checkpoint-every`` steps and resume from
there when started again, so an interrupted recipe loses minutes, not hours. The pretraining world
(``PRETRAIN_WORLD_SEED``) is disjoint from the book's world (seed 0) and from the benchmark's
unseen identities (``UNSEEN_WORLD_SEED``): the book fine-tunes on people the models never saw.

An experiment changes a recipe's fields on the command line, and ``recipe.json`` records them. The
foundation that chapter 06 compares with the shipped one was trained for 4500 more steps, starting
from the shipped UNet, into a copy of the shipped ``tokenizer`` and ``text_encoder`` folders::

    python -m idbooth_lib.toy.pretrain diffusion --output foundation-9000 --recipe steps=4500 \
        --recipe learning_rate=3e-4 --recipe continue_from=idbooth_lib/toy/weights/foundation
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from idbooth_lib.config import replace_fields
from idbooth_lib.logs import set_verbosity
from idbooth_lib.toy.pretrain.detector import DETECTOR_RECIPE, train_detector
from idbooth_lib.toy.pretrain.diffusion import DIFFUSION_RECIPE, train_diffusion
from idbooth_lib.toy.pretrain.probe import PROBE_RECIPE, train_probe
from idbooth_lib.toy.pretrain.recogniser import RECOGNISER_RECIPES, train_recogniser
from idbooth_lib.toy.pretrain.text import TEXT_RECIPE, train_text_encoder
from idbooth_lib.toy.pretrain.vae import VAE_RECIPE, train_vae

PACKAGED_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"

#: Every recipe by the name the command line gives it.
RECIPES = {
    **RECOGNISER_RECIPES,
    "vae": VAE_RECIPE,
    "text": TEXT_RECIPE,
    "diffusion": DIFFUSION_RECIPE,
    "detector": DETECTOR_RECIPE,
    "probe": PROBE_RECIPE,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m idbooth_lib.toy.pretrain",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "recipe", choices=list(RECIPES)
    )
    parser.add_argument("--output", type=Path, required=True, help="folder to write")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's step count")
    parser.add_argument(
        "--recipe",
        dest="recipe_changes",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change one field of the recipe, e.g. --recipe steps=9000 (repeatable)",
    )
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="diffusion: where to train (default: cuda when available)",
    )
    parser.add_argument(
        "--recogniser",
        type=Path,
        default=None,
        help="vae: the recogniser whose features guide the VAE (default: the loss recogniser); "
        "text: the image tower's identity network (default: the evaluation recogniser)",
    )
    parser.add_argument(
        "--vae",
        type=Path,
        default=PACKAGED_WEIGHTS / "foundation" / "vae",
        help="diffusion: the trained VAE folder (default: the shipped one)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run one recipe from the command line."""
    arguments = build_parser().parse_args(argv)
    set_verbosity("progress")  # a person or a log file follows a recipe's steps
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    output, steps, every = (
        arguments.output.expanduser(),
        arguments.steps,
        arguments.checkpoint_every,
    )
    try:
        recipe = replace_fields(RECIPES[arguments.recipe], arguments.recipe_changes)
    except ValueError as error:
        build_parser().error(f"--recipe {error}")
    if arguments.recipe in RECOGNISER_RECIPES:
        train_recogniser(recipe, output, steps, every)
    elif arguments.recipe == "detector":
        train_detector(recipe, output, steps, every)
    elif arguments.recipe == "probe":
        train_probe(recipe, output, steps, every)
    elif arguments.recipe == "vae":
        recogniser = arguments.recogniser or PACKAGED_WEIGHTS / "recogniser"
        train_vae(recipe, output, recogniser, steps, every)
    elif arguments.recipe == "text":
        recogniser = arguments.recogniser or PACKAGED_WEIGHTS / "recogniser_b"
        train_text_encoder(recipe, output, recogniser, steps, every)
    else:
        train_diffusion(
            recipe,
            output,
            arguments.vae.expanduser(),
            steps,
            every,
            device=arguments.device,
        )
