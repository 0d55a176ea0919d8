"""The ``idbooth`` command line: the same library calls the notebooks make, for scripts and clusters.

Each sub-command is a thin layer over one library function, so the notebook and the command line
cannot drift apart. Heavy imports happen inside the commands, so ``idbooth --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from idbooth_lib import __version__
from idbooth_lib.logs import verbosity
from idbooth_lib.methods import method_names


def add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    """``--profile`` and ``--set`` — the CLI's equivalent of a notebook's parameters cell."""
    parser.add_argument("--profile", default="toy", choices=["toy", "sd21"], help="profile name")
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override one setting, e.g. --set train.max_steps=10 (repeatable)",
    )


def profile_from_arguments(arguments: argparse.Namespace):
    """Load the profile named on the command line with its ``--set`` overrides applied."""
    from idbooth_lib.config import load_profile, parse_assignments

    return load_profile(arguments.profile, parse_assignments(arguments.assignments))


def run_toy_data(arguments: argparse.Namespace) -> int:
    """Write a ToyFaces dataset: one folder per identity plus ``metadata.json``."""
    from idbooth_lib.toy_world.dataset import write_toy_dataset

    destination = write_toy_dataset(
        arguments.destination,
        identities=arguments.identities,
        images_per_identity=arguments.images_per_identity,
        mode=arguments.mode,
        seed=arguments.seed,
        size=arguments.size,
    )
    total = arguments.identities * arguments.images_per_identity
    print(f"wrote {total} {arguments.mode} toy faces to {destination}")
    return 0


def run_prepare(arguments: argparse.Namespace) -> int:
    """Prepare raw photos (one folder per identity) into the layout every later stage reads."""
    from idbooth_lib.data.prepare import prepare_dataset

    config = profile_from_arguments(arguments)
    report = prepare_dataset(
        arguments.source, arguments.destination, config
    )
    return 0 if report.identities else 1


def run_train(arguments: argparse.Namespace) -> int:
    """Fine-tune one LoRA per identity; under ``accelerate launch`` identities split across GPUs."""
    from idbooth_lib.config import load_profile, parse_assignments
    from idbooth_lib.training.run import train_identities

    overrides = parse_assignments(arguments.assignments)
    if arguments.method:
        overrides["train.method"] = arguments.method
    if arguments.max_steps is not None:
        overrides["train.max_steps"] = str(arguments.max_steps)
    config = load_profile(arguments.profile, overrides)
    written = train_identities(
        config,
        arguments.data,
        arguments.identity or None,
        arguments.output,
        resume=not arguments.no_resume,
    )
    for identity, path in written.items():
        print(f"{identity}: {path}")
    return 0


def run_generate(arguments: argparse.Namespace) -> int:
    """Draw the paper's prompts from trained LoRAs into GEN/<method>/<identity>/ with manifests."""
    from idbooth_lib.generation.generate import generate_images

    config = profile_from_arguments(arguments)
    generate_images(
        arguments.runs,
        arguments.output,
        config,
        images_per_identity=arguments.images_per_identity,
    )
    return 0


def run_evaluate(arguments: argparse.Namespace) -> int:
    """Measure a folder of synthetic faces against the real ones; write one results file."""
    from idbooth_lib.evaluation.run import evaluate_folders, summary_table, write_results

    config = profile_from_arguments(arguments)
    results = evaluate_folders(
        arguments.synthetic, arguments.real, config
    )
    write_results(arguments.output, results)
    print(summary_table(results))
    print(f"wrote {arguments.output}")
    return 0 if "error" not in results else 1


def run_tradeoff(arguments: argparse.Namespace) -> int:
    """Fine-tune, sample along training and evaluate: the identity–prompt trade-off study."""
    from idbooth_lib.experiments.tradeoff import StudyPlan, run_tradeoff, summarise
    from idbooth_lib.reporting import markdown_table, number

    config = profile_from_arguments(arguments)
    plan = StudyPlan(
        snapshot_steps=tuple(arguments.steps),
        methods=tuple(arguments.methods.split(",")),
        images_per_identity=arguments.images_per_identity,
    )
    photos = arguments.photos
    if photos is None:  # the toy people, written into the study folder
        from idbooth_lib.experiments.study import write_study_photos

        photos = write_study_photos(arguments.output, config, arguments.identities)
    command = _tradeoff_command(arguments)
    results = run_tradeoff(
        arguments.output, config, photos, plan, command=command
    )

    rows = [
        (s["method"], s["step"], number(s["identity_independent_gained"], sign=True),
         number(s["background"], 2), number(s["pose"], 2), number(s["vendi"], 2))
        for s in summarise(results["rows"])
    ]  # fmt: skip
    headers = ["method", "step", "identity gained", "background", "pose", "Vendi"]
    print(markdown_table(headers, rows))
    return 0


def _tradeoff_command(arguments: argparse.Namespace) -> str:
    """The command line that repeats this study, for its results file."""
    import shlex

    words = [
        "idbooth",
        "tradeoff",
        "--output",
        str(arguments.output),
        "--profile",
        arguments.profile,
    ]
    if arguments.photos is None:
        words += ["--identities", str(arguments.identities)]
    else:
        words += ["--photos", str(arguments.photos)]
    words += ["--steps", ",".join(map(str, arguments.steps))]
    words += ["--methods", arguments.methods]
    words += ["--images-per-identity", str(arguments.images_per_identity)]
    for assignment in arguments.assignments:
        words += ["--set", assignment]
    return shlex.join(words)


def _step_list(text: str) -> list[int]:
    try:
        steps = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        steps = []
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive steps separated by commas, got {text!r}"
        )
    return steps


#: fr-train's shortcut flags → the RecognitionConfig fields they set (every field is a --set).
FR_TRAIN_FLAGS = {"backbone": "backbone", "head": "head", "embedding_dim": "embedding_dim",
                  "epochs": "epochs", "batch_size": "batch_size", "lr": "learning_rate",
                  "mixed_precision": "mixed_precision", "seed": "seed"}  # fmt: skip


def recognition_config(arguments: argparse.Namespace):
    """``RecognitionConfig``'s own defaults, changed by the shortcut flags given and then by
    ``--set NAME=VALUE`` (any field), each converted to the field's type."""
    from idbooth_lib.config import replace_fields
    from idbooth_lib.recognition.train import RecognitionConfig

    given = [f"{field}={getattr(arguments, flag)}" for flag, field in FR_TRAIN_FLAGS.items()
             if getattr(arguments, flag) is not None]  # fmt: skip
    return replace_fields(RecognitionConfig(), [*given, *arguments.set])


def run_fr_train(arguments: argparse.Namespace) -> int:
    """Train a recogniser on a prepared dataset, plus prepared synthetic sets of the same people."""
    from idbooth_lib.recognition.train import train_on_real_and_synthetic

    record = train_on_real_and_synthetic(
        [arguments.data], arguments.synthetic, recognition_config(arguments), arguments.output,
        arguments.validation_share, arguments.device,
    )  # fmt: skip
    print(f"chose epoch {record['selected_epoch']} (validation accuracy "
          f"{record['validation_accuracy']:.4f}); wrote {arguments.output}")  # fmt: skip
    return 0


def run_fr_eval(arguments: argparse.Namespace) -> int:
    """Verification accuracy of a recogniser on ``.bin`` benchmarks."""
    from idbooth_lib.evaluation.run import write_results
    from idbooth_lib.recognition.benchmarks import benchmark_table, evaluate_benchmarks

    results = evaluate_benchmarks(
        arguments.model, arguments.bins, arguments.device, arguments.protocol
    )
    write_results(arguments.output, results)
    print(benchmark_table(results))
    print(f"wrote {arguments.output}")
    return 0


def run_toy_bin(arguments: argparse.Namespace) -> int:
    """Write the toy verification benchmark as an insightface .bin file."""
    from idbooth_lib.toy.benchmark import write_toy_benchmark

    print(f"wrote {write_toy_benchmark(arguments.output, pairs_per_fold=arguments.pairs_per_fold)}")
    return 0


def run_config(arguments: argparse.Namespace) -> int:
    """Print the resolved profile as JSON (after environment variables and ``--set``)."""
    print(profile_from_arguments(arguments).to_json())
    return 0


def run_env(arguments: argparse.Namespace) -> int:
    """Print the environment report of chapter 00."""
    from idbooth_lib.env import environment_report

    for name, value in environment_report().rows():
        print(f"{name:>16}  {value}")
    return 0


def run_doctor(arguments: argparse.Namespace) -> int:
    """Check the device, the disk and every model source a stage needs, before a long run; exit 1
    when something would stop it (the table's fix column says what to do)."""
    from idbooth_lib.preflight import check_profile

    report = check_profile(profile_from_arguments(arguments), arguments.stage)
    print(report.table())
    failures = len(report.failures())
    print("ready" if report.ok else f"{failures} problem(s): see the fix column")
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per pipeline step."""
    parser = argparse.ArgumentParser(prog="idbooth", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"idbooth {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    toy = commands.add_parser("toy-data", help="generate a ToyFaces dataset")
    toy.add_argument("destination", type=Path, metavar="DST", help="output folder")
    toy.add_argument("--identities", type=int, default=8, help="number of identities")
    toy.add_argument("--images-per-identity", type=int, default=5, help="images per identity")
    toy.add_argument(
        "--mode",
        choices=["constrained", "posed", "wild"],
        default="constrained",
        help="studio shots; the studio with poses and light; or anything (toy_world.faces.MODES)",
    )
    toy.add_argument("--seed", type=int, default=0, help="world seed (identities depend on it)")
    toy.add_argument("--size", type=int, default=64, help="image side in pixels")
    toy.add_argument("--quiet", action="store_true", help="no progress bar (the lines stay)")
    toy.set_defaults(handler=run_toy_data)

    prepare = commands.add_parser(
        "prepare", help="crop, align and embed raw photos (one folder per identity)"
    )
    prepare.add_argument("source", type=Path, metavar="SRC", help="one sub-folder per identity")
    prepare.add_argument("destination", type=Path, metavar="DST", help="prepared dataset folder")
    add_profile_arguments(prepare)
    prepare.add_argument("--quiet", action="store_true", help="no progress bar (the lines stay)")
    prepare.set_defaults(handler=run_prepare)

    train = commands.add_parser("train", help="fine-tune a LoRA per identity of a prepared dataset")
    add_profile_arguments(train)
    train.add_argument("--method", choices=method_names())
    train.add_argument("--data", type=Path, required=True, metavar="DST", help="prepared dataset")
    train.add_argument(
        "--identity",
        action="append",
        default=[],
        metavar="ID",
        help="identity to fine-tune (repeatable; default: every identity of the dataset)",
    )
    train.add_argument(
        "--output",
        type=Path,
        required=True,
        metavar="OUT",
        help="one identity: OUT/pytorch_lora_weights.safetensors; several: OUT/<ID>/...",
    )
    train.add_argument("--max-steps", type=int, default=None, help="sets train.max_steps")
    train.add_argument(
        "--no-resume",
        action="store_true",
        help="discard what OUT holds of an earlier run (checkpoints, a finished LoRA's record) "
        "and start over",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar (the lines stay)")
    train.set_defaults(handler=run_train)

    generate = commands.add_parser(
        "generate", help="draw the paper's prompts from trained LoRAs, with a manifest"
    )
    generate.add_argument(
        "--runs",
        type=Path,
        action="append",
        required=True,
        metavar="RUNS",
        help="an `idbooth train` output: one run folder or a folder of them (repeatable)",
    )
    generate.add_argument("--output", type=Path, required=True, metavar="GEN")
    generate.add_argument(
        "--images-per-identity", type=int, default=None, help="sets generate.images_per_identity"
    )
    add_profile_arguments(generate)
    generate.add_argument("--quiet", action="store_true", help="no progress bar (the lines stay)")
    generate.set_defaults(handler=run_generate)

    evaluate = commands.add_parser(
        "evaluate", help="measure synthetic faces against real ones (identity, diversity, ...)"
    )
    evaluate.add_argument(
        "--synthetic", type=Path, required=True, metavar="GEN", help="one sub-folder per identity"
    )
    evaluate.add_argument(
        "--real", type=Path, required=True, metavar="SRC", help="one sub-folder per identity"
    )
    evaluate.add_argument("--output", type=Path, required=True, metavar="RESULTS.json")
    add_profile_arguments(evaluate)
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar (the lines stay)")
    evaluate.set_defaults(handler=run_evaluate)

    tradeoff = commands.add_parser(
        "tradeoff", help="the identity-prompt trade-off study: fine-tune, sample along, evaluate"
    )
    tradeoff.add_argument("--output", type=Path, required=True, metavar="STUDY")
    tradeoff.add_argument(
        "--photos", type=Path, default=None, metavar="SRC",
        help="one sub-folder of photos per identity (default: toy studio photos)",
    )  # fmt: skip
    tradeoff.add_argument(
        "--identities", type=int, default=8, help="toy identities without --photos (default 8)"
    )
    tradeoff.add_argument(
        "--steps", type=_step_list, default=[25, 50, 100, 200, 300], metavar="S1,S2,...",
        help="training steps at which to sample (default 25,50,100,200,300); 0 is always added",
    )  # fmt: skip
    tradeoff.add_argument(
        "--methods", default="dreambooth,portraitbooth,idbooth", metavar="M1,M2,...",
        help="methods to study (default: all three)",
    )  # fmt: skip
    tradeoff.add_argument("--images-per-identity", type=int, default=21)
    add_profile_arguments(tradeoff)
    tradeoff.add_argument("--quiet", action="store_true", help="no progress bars (the lines stay)")
    tradeoff.set_defaults(handler=run_tradeoff)

    fr_train = commands.add_parser(
        "fr-train", help="train a face recogniser on real (+ synthetic) prepared data"
    )
    fr_train.add_argument("--data", type=Path, required=True, metavar="DST",
                          help="the real photos, prepared (idbooth prepare)")  # fmt: skip
    fr_train.add_argument(
        "--synthetic", type=Path, action="append", default=[], metavar="PREPARED",
        help="a prepared synthetic set of the same people (repeatable)",
    )  # fmt: skip
    fr_train.add_argument("--output", type=Path, required=True, metavar="FR")
    # Shortcuts for the most used fields; their defaults are RecognitionConfig's own (None here).
    fr_train.add_argument("--backbone", help="toy, iresnet18 or iresnet50")
    fr_train.add_argument("--head", help="arcface or cosface")
    fr_train.add_argument("--embedding-dim", type=int)
    fr_train.add_argument("--epochs", type=int)
    fr_train.add_argument("--batch-size", type=int)
    fr_train.add_argument("--lr", type=float, help="learning rate")
    fr_train.add_argument("--mixed-precision", help="no, fp16 or bf16")
    fr_train.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="any field of RecognitionConfig (colour_jitter=0.4, margin=28.6, ...); repeatable",
    )  # fmt: skip
    fr_train.add_argument(
        "--validation-share", type=float, default=0.1,
        help="share of the real people held out to choose the epoch (never a test benchmark)",
    )  # fmt: skip
    fr_train.add_argument("--seed", type=int)
    fr_train.add_argument("--device", default="cpu")
    fr_train.add_argument("--quiet", action="store_true", help="no progress bar (the lines stay)")
    fr_train.set_defaults(handler=run_fr_train)

    fr_eval = commands.add_parser("fr-eval", help="verification accuracy on .bin benchmarks")
    fr_eval.add_argument("--model", required=True, metavar="M",
                         help="an fr-train output, or any recogniser source (idbooth:toy/..., "
                              ".onnx, .pth)")  # fmt: skip
    fr_eval.add_argument("--bins", type=Path, nargs="+", required=True, metavar="A.bin")
    fr_eval.add_argument("--output", type=Path, required=True, metavar="RESULTS.json")
    fr_eval.add_argument("--device", default="cpu")
    fr_eval.add_argument(
        "--protocol", default="insightface", choices=["insightface", "midpoint"],
        help="threshold search of the 10-fold accuracy: insightface's grid on squared distance "
             "(as published numbers are computed) or midpoints between cosine scores",
    )  # fmt: skip
    fr_eval.set_defaults(handler=run_fr_eval)

    toy_bin = commands.add_parser("toy-bin", help="write the toy verification benchmark (.bin)")
    toy_bin.add_argument("output", type=Path, metavar="OUT.bin")
    toy_bin.add_argument(
        "--pairs-per-fold", type=int, default=60,
        help="pairs in each of the 10 folds (default 60: 600 pairs; fewer for a quick check)",
    )  # fmt: skip
    toy_bin.set_defaults(handler=run_toy_bin)

    config = commands.add_parser("config", help="print the resolved profile as JSON")
    add_profile_arguments(config)
    config.set_defaults(handler=run_config)

    env = commands.add_parser("env", help="report Python, packages, GPU and memory")
    env.set_defaults(handler=run_env)

    doctor = commands.add_parser(
        "doctor", help="check GPU, disk and every model source before a long run"
    )
    add_profile_arguments(doctor)
    doctor.add_argument(
        "--stage", default="all", choices=["all", "train", "generate", "evaluate"],
        help="check only what this stage loads (default: all)",
    )  # fmt: skip
    doctor.set_defaults(handler=run_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``idbooth`` console script; user errors exit with status 2 and one line."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        with verbosity("info" if getattr(arguments, "quiet", False) else "progress"):
            return arguments.handler(arguments)
    except (ValueError, KeyError, FileExistsError, FileNotFoundError, ImportError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"idbooth {arguments.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
