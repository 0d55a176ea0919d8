"""Checkpoint averaging: one UNet whose weights are the mean of several UNets of one training run.

Why average rather than pick one: the foundation's later training stages each traded one
measure for another (identity and backgrounds rose, faces found and pose fell a little), and a
single checkpoint keeps its stage's trade. UNets taken from one run, each trained on from the last,
lie along one path of weights; their mean behaves like a model between them and often better than
each, because the averaging cancels part of the noise that the last steps of every stage left
behind. Stochastic weight averaging (Izmailov et al., 2018) averages along one run for the same
reason, and the EMA of the diffusion recipe is the same idea over a few hundred steps; this
averages over thousands.

Only UNets of one architecture that continue one another should be averaged: two independently
trained networks are not aligned unit by unit, and their mean is no model at all. The averaged
folder's ``recipe.json`` therefore continues from the longest-trained source, so that the
training compute summed along ``continue_from`` counts every stage once.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from idbooth_lib.models import resolve_source
from idbooth_lib.toy.pretrain.common import write_recipe_record
from idbooth_lib.toy.pretrain.diffusion import start_from_trained_unet


@dataclass(frozen=True)
class AveragedUNet:
    """What ``recipe.json`` records of an average: its sources, and the one it continues."""

    sources: list[str] = field(default_factory=list)
    continue_from: str | None = None


def training_steps(folder: Path) -> int:
    """Steps of training behind a pipeline folder, summed along its ``continue_from`` chain."""
    steps = 0
    while (folder / "recipe.json").is_file():
        record = json.loads((folder / "recipe.json").read_text())
        steps += record["steps"]
        parent = record["recipe"].get("continue_from")
        if not parent:
            break
        folder = Path(resolve_source(parent)).expanduser()
    return steps


def mean_state(folders: Sequence[Path]) -> dict[str, torch.Tensor]:
    """The mean, tensor by tensor in float32, of the UNets in ``folders`` (same architecture)."""
    from diffusers import UNet2DConditionModel

    states = []
    for folder in folders:
        if not (folder / "unet" / "config.json").is_file():
            raise FileNotFoundError(f"{folder} holds no unet/config.json: name pipeline folders "
                                    "that the diffusion recipe wrote, or carried UNets")  # fmt: skip
        unet = UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=torch.float32)
        states.append(unet.state_dict())
    if any(state.keys() != states[0].keys() or any(state[k].shape != states[0][k].shape
                                                     for k in state) for state in states[1:]):  # fmt: skip
        raise ValueError("the UNets to average have different architectures: average only "
                         "checkpoints of one run")  # fmt: skip
    return {name: torch.stack([state[name] for state in states]).mean(0) for name in states[0]}


def average_unets(sources: Sequence[str | Path], output: Path, base: str | Path) -> Path:
    """Write ``output``: the pipeline folder ``base`` (its VAE, text encoder, tokenizer and
    scheduler) with a UNet that is the mean of the ``sources``' UNets, in fp16 as shipped.
    The folder appears whole or not at all."""
    from diffusers import UNet2DConditionModel

    began = time.time()
    folders = [Path(resolve_source(str(source))).expanduser() for source in sources]
    if len(folders) < 2:
        raise ValueError("averaging needs at least two UNets")
    state = mean_state(folders)
    longest = max(folders, key=training_steps)
    unet = UNet2DConditionModel.from_pretrained(longest / "unet", torch_dtype=torch.float32)
    unet.load_state_dict(state)
    staging = output.with_name(output.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(Path(resolve_source(str(base))).expanduser(), staging)
    shutil.rmtree(staging / "unet")
    unet.half().save_pretrained(staging / "unet")
    start_from_trained_unet(UNet2DConditionModel.from_config(unet.config), staging)  # loads back
    recipe = AveragedUNet(sources=[str(source) for source in sources],
                          continue_from=str(sources[folders.index(longest)]))  # fmt: skip
    write_recipe_record(staging, recipe, steps=0, minutes=(time.time() - began) / 60)
    if output.exists():
        shutil.rmtree(output)
    staging.rename(output)
    return output



def main(argv: list[str] | None = None) -> None:
    """``python -m idbooth_lib.toy.pretrain.average --output X --base PIPELINE UNET UNET ...``"""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m idbooth_lib.toy.pretrain.average",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("sources", nargs="+", help="pipeline folders (or carried UNets) of one run")
    parser.add_argument("--output", type=Path, required=True, help="the pipeline folder to write")
    parser.add_argument("--base", default="idbooth:toy/foundation",
                        help="whose VAE, text encoder, tokenizer and scheduler to keep")  # fmt: skip
    arguments = parser.parse_args(argv)
    try:
        written = average_unets(arguments.sources, arguments.output.expanduser(), arguments.base)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    print(f"wrote {written}")


if __name__ == "__main__":
    main()
