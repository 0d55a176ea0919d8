"""What the chapters say about their results, written from the results.

A sentence beside a table that says "hurts", "all three", "well above" or a number is a second copy
of the table, and it drifts when the experiment is rerun. The chapters therefore show such
readings as the output of these functions: every number and every comparative word below comes
from the results file, and a rerun that changes the numbers changes the words. What stays typed
in a chapter is what no rerun changes: the method, the protocol, why a measure is read the way
it is.

Each function returns :class:`~idbooth_lib.reporting.MarkdownText`, which a notebook shows
rendered and ``print`` shows as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from idbooth_lib.evaluation.comparisons import find
from idbooth_lib.experiments.report import path_side
from idbooth_lib.methods import PAPER_METHODS, display_name
from idbooth_lib.reporting import MarkdownText, number


def _side_of_zero(record: dict[str, Any]) -> str:
    """Where a difference's interval lies: ``below zero``, ``above zero`` or ``across zero``."""
    if record["high"] < 0:
        return "below zero"
    if record["low"] > 0:
        return "above zero"
    return "across zero"


def _than(value: float, reference: float) -> str:
    return "above" if value > reference else "below" if value < reference else "level with"


def _count_words(count: int, total: int) -> str:
    """``all three``, ``two of the three``, ``none of the three``."""
    words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
    whole = words.get(total, str(total))
    if count == total:
        return f"all {whole}" if total > 2 else ("both" if total == 2 else "the one")
    return f"{'none' if count == 0 else words.get(count, str(count))} of the {whole}"


def live_reading(scored: dict[str, dict], trained: str, untrained: str, record: dict) -> MarkdownText:
    """One recogniser trained in the chapter against the backbone it started from, on the
    chapter's benchmark: one seed, so the sentence says how far one draw is to be trusted."""
    found, start = scored[trained], scored[untrained]
    gap = found["accuracy_mean"] - start["accuracy_mean"]
    return MarkdownText(
        f"Trained live here (one seed; epoch {record['selected_epoch']} chosen on the held-out "
        f"people), the recogniser reaches {number(found['accuracy_mean'])} on this chapter's "
        f"benchmark ({found['pairs']} pairs), {_than(found['accuracy_mean'], start['accuracy_mean'])} "
        f"the untrained backbone's {number(start['accuracy_mean'])} ({gap:+.3f}). The folds' "
        f"spread of {number(found['accuracy_std'])} says how much one benchmark of this size "
        "moves by chance; the seeds of section 4 say how much a training does."
    )


def studio_reading(reproduction: dict) -> MarkdownText:
    """What the recognisers trained on the real photos alone reached, against the untrained
    backbone they started from (``make reproduce``'s results)."""
    first = next(row for row in reproduction["recognition"] if row["setting"] == "real")
    summary = {row["setting"]: row for row in reproduction["recognition_summary"]}
    reference = {row["model"]: row for row in reproduction["reference_recognisers"]}
    untrained = reference["untrained toy backbone"]["accuracy_mean"]
    real = summary["real"]["accuracy_mean"]
    train, validation = first["train"], first["validation"]
    each = ""
    if train.get("posed"):
        each = (f" ({train['data'] // train['classes']} studio and "
                f"{train['posed'] // train['classes']} posed each)")
    return MarkdownText(
        f"**The studio session against no training.** Trained on it alone — {train['images']} photos "
        f"of {train['classes']} people{each}, {validation['classes']} more people held out for "
        f"validation — the recognisers reach {number(real)} on the toy benchmark of `make "
        f"reproduce` ({first['pairs']} pairs; mean over {summary['real']['seeds']} seeds), "
        f"{_than(real, untrained)} the untrained backbone's {number(untrained)}. Recogniser training "
        "on the CPU is not bit-for-bit repeatable, so a rerun of the same command moves these means "
        "by a few hundredths: read differences with their intervals."
    )


def synthetic_reading(reproduction: dict) -> MarkdownText:
    """What adding each method's images did to the recogniser, seed by seed against the real
    photos alone, and how close the synthetic images are to their people."""
    from idbooth_lib.experiments.reproduce import recognition_comparisons

    summary = {row["setting"]: row for row in reproduction["recognition_summary"]}
    compared = recognition_comparisons(reproduction["recognition"])
    methods = [m for m in PAPER_METHODS if f"real+{m}" in summary]
    against_real = {m: find(compared, first=f"real+{m}", second="real") for m in methods}
    sides = [_side_of_zero(record) for record in against_real.values()]
    below, above = sides.count("below zero"), sides.count("above zero")
    verdict = ("hurt here" if below > above else "help here" if above > below
               else "change little here")  # fmt: skip
    spreads = [summary[f"real+{m}"]["accuracy_seed_std"] for m in methods]
    accuracies = ", ".join(f"{number(summary[f'real+{m}']['accuracy_mean'])} with {display_name(m)}'s"
                           for m in methods)  # fmt: skip
    plan = reproduction["plan"]
    real_images = summary["real"]["train_images"]
    added = min(summary[f"real+{m}"]["train_images"] for m in methods) - real_images
    genuine = [found["identity_encoder"]["synthetic_vs_real"]["genuine_mean"]
               for found in reproduction["methods"].values()]  # fmt: skip
    real_genuine = next(iter(reproduction["methods"].values()))["identity_encoder"]["real_vs_real"]["genuine_mean"]
    return MarkdownText(
        f"**Synthetic images {verdict}.** With {plan['images_per_identity']} synthetic images of each "
        f"person added ({added} synthetic beside {real_images} real training images), the benchmark "
        f"accuracy is {accuracies} images, against {number(summary['real']['accuracy_mean'])} for the "
        f"real photos alone (means over {summary['real']['seeds']} seeds; the seeds' standard "
        f"deviations are {number(min(spreads))}–{number(max(spreads))}). Of the differences from "
        f"the real photos alone, {_count_words(below, len(sides))} intervals lie below zero and "
        f"{_count_words(above, len(sides))} above. The synthetic images outnumber the real ones "
        f"{added / real_images:.0f} to one, and a synthetic image and a real photo of one person "
        f"score {number(min(genuine), 2)} to {number(max(genuine), 2)} by the loss's recogniser (the "
        f"*genuine μ, syn–real* row below), where two real photos score {number(real_genuine, 2)}."
    )


def utility_order_reading(reproduction: dict) -> MarkdownText:
    """Which method's images helped the recogniser most and least, with the intervals of the
    differences between them, and the shipped recognisers as the scale."""
    from idbooth_lib.experiments.reproduce import recognition_comparisons

    summary = {row["setting"]: row for row in reproduction["recognition_summary"]}
    compared = recognition_comparisons(reproduction["recognition"])
    methods = [m for m in PAPER_METHODS if f"real+{m}" in summary]
    ranked = sorted(methods, key=lambda m: summary[f"real+{m}"]["accuracy_mean"])
    worst, best = ranked[0], ranked[-1]
    against = []
    for other in methods:
        if other == worst:
            continue
        record = find(compared, first=f"real+{worst}", second=f"real+{other}") or \
            find(compared, first=f"real+{other}", second=f"real+{worst}")  # fmt: skip
        if record is not None:
            if record["first"] != f"real+{worst}":  # the worst method's difference, minus first
                record = dict(record, low=-record["high"], high=-record["low"])
            against.append(f"{_side_of_zero(record)} against {display_name(other)}'s "
                           f"({record['low']:+.3f} to {record['high']:+.3f})")
    shipped = [row for row in reproduction["reference_recognisers"] if row["model"] != "untrained toy backbone"]
    scale = " and ".join(number(row["accuracy_mean"]) for row in shipped)
    return MarkdownText(
        f"**Which images helped least.** {display_name(worst)}'s images gave the lowest accuracy "
        f"and {display_name(best)}'s the highest; the interval of its difference lies "
        f"{' and '.join(against)}. **The scale.** All of them stay below the shipped "
        f"recognisers ({scale}), trained on thousands of images of many more people: synthetic "
        "images of the same people add views of them, not people."
    )




# ----------------------------------------------------------------------------------------------
# Chapter 04, section 7: one training step at Stable Diffusion 2.1's shapes on a GPU
# ----------------------------------------------------------------------------------------------

#: The results files of ``benchmarks/train_step.py --sd21-shaped`` the chapter reads, by role.
TRAIN_STEP_FILES = {
    "main": "train_step_sd21_shaped_cuda.json",
    "checkpointing": "train_step_sd21_shaped_cuda_checkpointing.json",
    "batch4": "train_step_sd21_shaped_cuda_batch4.json",
    "rerun": "train_step_sd21_shaped_cuda_rerun.json",
    "tuned": "train_step_sd21_shaped_cuda_channels_last_cudnn.json",
}
#: Free Colab's T4, in GB as its memory is sold.
T4_GB = 15


def read_train_steps(results_folder: str | Path) -> dict[str, dict] | None:
    """The GPU step benchmarks by role, or None where the folder lacks any (a Colab runtime holds
    the notebook, not the repository's ``benchmarks/results``)."""
    import json

    folder = Path(results_folder)
    paths = {role: folder / name for role, name in TRAIN_STEP_FILES.items()}
    if not all(path.is_file() for path in paths.values()):
        return None
    return {role: json.loads(path.read_text(encoding="utf-8")) for role, path in paths.items()}


def _step(run: dict, variant: str) -> dict:
    return run["variants"][variant]


def train_step_table(runs: dict[str, dict]) -> Any:
    """Seconds, ratio to DreamBooth and peak memory of one step per method and setting."""
    from idbooth_lib.reporting import markdown_table

    rows = []
    for role, label, variants in (
        ("main", "", (("dreambooth", "DreamBooth"), ("portraitbooth", "PortraitBooth"),
                      ("idbooth", "ID-Booth (the paper's settings)"),
                      ("idbooth_detector_crop", "ID-Booth, detector on x̂0 in the loop"),
                      ("idbooth_identity_below_t600", "ID-Booth, `identity_max_timestep=600`"))),
        ("checkpointing", "*with gradient checkpointing:* ", (("dreambooth", "DreamBooth"), ("idbooth", "ID-Booth"))),
        ("batch4", "*batch of four pairs:* ", (("dreambooth", "DreamBooth"), ("idbooth", "ID-Booth"))),
    ):  # fmt: skip
        for variant, name in variants:
            found = _step(runs[role], variant)
            rows.append((f"{label}{name}", f"{found['seconds_per_step']:.3f}",
                         f"{found['ratio_to_dreambooth']:.2f}", f"{found['peak_memory_gib']:.1f} GiB"))  # fmt: skip
    return markdown_table(["one step, batch of one pair (the paper's)", "seconds", "× DreamBooth",
                           "peak GPU memory"], rows)  # fmt: skip


def train_step_reading(runs: dict[str, dict]) -> MarkdownText:
    """How to read :func:`train_step_table`, every number and comparison from the runs."""
    main, rerun, tuned = runs["main"], runs["rerun"], runs["tuned"]
    db, idb = _step(main, "dreambooth"), _step(main, "idbooth")
    late = _step(main, "idbooth_identity_below_t600")
    peak = max(v["peak_memory_gib"] for v in main["variants"].values())
    fits = peak * 2**30 / 1e9 < T4_GB
    four_db = _step(runs["batch4"], "dreambooth")["seconds_per_step"] / db["seconds_per_step"]
    four_id = _step(runs["batch4"], "idbooth")["ratio_to_dreambooth"]
    ck_db, ck_id = _step(runs["checkpointing"], "dreambooth"), _step(runs["checkpointing"], "idbooth")
    slower_db = ck_db["seconds_per_step"] / db["seconds_per_step"]
    slower_id = ck_id["seconds_per_step"] / idb["seconds_per_step"]
    re_db, re_id = _step(rerun, "dreambooth"), _step(rerun, "idbooth")
    tuned_id = _step(tuned, "idbooth")["seconds_per_step"]
    detector = main["ratio_idbooth_detector_to_landmark_crop"]
    lines = [
        f"- **Memory {'fits' if fits else 'does not fit'} a free Colab T4** (about {T4_GB} GB) for "
        f"every method at the paper's batch of one, without gradient checkpointing: "
        f"{peak:.1f} GiB at most. The identity term multiplies the peak by "
        f"{idb['peak_memory_gib'] / db['peak_memory_gib']:.1f}: x̂0 is decoded to 512 px *with "
        "gradients*, and the VAE decoder's activations at that size are large.",
        f"- **Time.** At the paper's settings an ID-Booth step takes {idb['ratio_to_dreambooth']:.2f} "
        "DreamBooth steps; the extra is the identity branch, decoding x̂0 to 512 px and the backward "
        "pass through the decoder and the recogniser (which sees only a 112 px crop, so the decoder "
        f"is the likely bulk). At a batch of four pairs, DreamBooth's step takes {four_db:.2f}× its "
        f"time at one pair, while ID-Booth's is {four_id:.2f}× DreamBooth's: at a batch of one the "
        "GPU waits on kernel launches more than it computes, and the decodes are what grows. A T4 "
        "has far less compute than an H200, so expect a ratio nearer the batch-of-four one there. "
        f"Leaving the identity term out above t = 600, where its weight w(t) is small anyway, brings "
        f"a step to {late['ratio_to_dreambooth']:.2f}×.",
        f"- **These ratios move from machine to machine.** The same benchmark on a second "
        f"{rerun['device']} ({rerun['rounds']} rounds of {rerun['steps_per_round']} steps) gave "
        f"DreamBooth {re_db['seconds_per_step']:.3f} s and ID-Booth {re_id['seconds_per_step']:.3f} s "
        f"({re_id['ratio_to_dreambooth']:.2f}×), and "
        f"{_step(rerun, 'idbooth_identity_below_t600')['ratio_to_dreambooth']:.2f}× with the limit "
        "at 600: a step at a batch of one is so short that launch overheads, which differ between "
        f"machines, weigh on it. NHWC layout and cuDNN's autotuner together (`--channels-last "
        f"--cudnn-benchmark`) gave ID-Booth {tuned_id:.3f} s on that machine, "
        f"{'faster' if tuned_id < re_id['seconds_per_step'] else 'no faster'} than without them.",
        f"- **Gradient checkpointing** cuts ID-Booth's peak from {idb['peak_memory_gib']:.1f} to "
        f"{ck_id['peak_memory_gib']:.1f} GiB but recomputes activations: DreamBooth's step gets "
        f"{slower_db:.1f}× slower and ID-Booth's {slower_id:.1f}×, so the ratio between them shrinks "
        "while both are slower.",
        f"- **The detector in the loop** takes {detector:.2f}× the time of the landmark crop: every "
        "decoded image goes to the CPU and back.",
    ]
    return MarkdownText("\n".join(lines))


def small_gpu_switches(runs: dict[str, dict] | None) -> Any:
    """The switches for small GPUs, with what each saves and costs as measured (or as known,
    where ``runs`` is None)."""
    from idbooth_lib.reporting import markdown_table

    measured = runs is not None
    if measured:
        main, rerun, ck = runs["main"], runs["rerun"], runs["checkpointing"]
        idb = _step(main, "idbooth")
        checkpointing = (f"most activation memory of the UNet and of the VAE decoder that x̂0 passes "
                         f"through: {idb['peak_memory_gib']:.1f} → {_step(ck, 'idbooth')['peak_memory_gib']:.1f} "
                         "GiB for ID-Booth")  # fmt: skip
        checkpointing_cost = (f"{_step(ck, 'idbooth')['seconds_per_step'] / idb['seconds_per_step']:.1f}× "
                              "the time of an ID-Booth step")  # fmt: skip
        late = (f"time, not peak memory: {idb['ratio_to_dreambooth']:.2f}× → "
                f"{_step(main, 'idbooth_identity_below_t600')['ratio_to_dreambooth']:.2f}× a DreamBooth "
                f"step ({_step(rerun, 'idbooth')['ratio_to_dreambooth']:.2f}× → "
                f"{_step(rerun, 'idbooth_identity_below_t600')['ratio_to_dreambooth']:.2f}× on a second machine)")
    else:
        checkpointing = "most activation memory of the UNet and of the VAE decoder that x̂0 passes through"
        checkpointing_cost = "slower steps (recomputed activations)"
        late = "time, not peak memory"
    weight_left_out = (1 - 600 / 1000) ** 3
    rows = [
        ("`train.mixed_precision=fp16` (default on `sd21`)",
         "half the memory of frozen weights and activations", "LoRA weights stay fp32"),
        ("`train.gradient_checkpointing=true`", checkpointing, checkpointing_cost),
        ("`train.use_8bit_adam=true`", "optimiser state (small for a LoRA)", "needs `bitsandbytes`"),
        ("`train.identity_crop=landmarks` (default)", "no detector in the loop", "—"),
        ("`train.identity_max_timestep=600`",
         f"the decode of x̂0 and the recogniser for the instances drawn with t ≥ 600: {late}",
         f"leaves out {weight_left_out:.1%} of the identity term's weight, (1 − 600/1000)³; not "
         "the paper's setting (1000)"),
    ]  # fmt: skip
    return markdown_table(["switch", "what it saves", "cost"], rows)


# ----------------------------------------------------------------------------------------------
# Chapter 04, section 5: one person's samples, measured
# ----------------------------------------------------------------------------------------------


def _order(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=scores.get)


def one_person_reading(measured: dict[str, dict[str, tuple[float, float]]], base: str = "base model") -> MarkdownText:
    """What chapter 04's one-person table shows: ``measured[model][recogniser] = (identity,
    variety)`` for the base model and each method. Says how far each method moved from the base
    model by each recogniser, whether the two recognisers order the methods alike, and which
    way ID-Booth's variety lies from PortraitBooth's (the paper's direction: more)."""
    recognisers = list(next(iter(measured.values())))
    methods = [m for m in measured if m != base]
    loss, independent = recognisers[0], recognisers[-1]
    gains = {r: {m: measured[m][r][0] - measured[base][r][0] for m in methods} for r in recognisers}
    same_order = _order(gains[loss]) == _order(gains[independent])
    moved = all(gain > 0 for found in gains.values() for gain in found.values())
    told = ", ".join(f"{display_name(m)} {gains[loss][m]:+.2f}" for m in _order(gains[loss]))
    told_independent = ", ".join(f"{display_name(m)} {gains[independent][m]:+.2f}"
                                 for m in _order(gains[independent]))  # fmt: skip
    lines = [
        f"- **Identity.** From the base model's {measured[base][loss][0]:+.2f} "
        f"({measured[base][independent][0]:+.2f} by the {independent} recogniser), "
        f"{'every fine-tuned model moves towards this person' if moved else 'not every model moves towards this person'}"
        f": by the {loss}, {told}; by the {independent} one, {told_independent}. "
        + ("The two recognisers order the methods alike for this person; whether that holds beyond "
           "one person, and whether the loss's recogniser flatters the methods trained on it, is "
           "chapter 06's question over eight people." if same_order else
           "The two recognisers order the methods differently: one person and a dozen samples "
           "cannot rank them."),
    ]
    if "idbooth" in measured and "portraitbooth" in measured:
        ours = {r: measured["idbooth"][r][1] for r in recognisers}
        pull = {r: measured["portraitbooth"][r][1] for r in recognisers}
        more = [r for r in recognisers if ours[r] > pull[r]]
        direction = ("more than PortraitBooth's by both recognisers, the paper's direction" if len(more) == len(recognisers)
                     else "less than PortraitBooth's by both recognisers, the opposite of the paper's direction"
                     if not more else "more by one recogniser and less by the other")  # fmt: skip
        lines.append(
            f"- **Variety.** Here ID-Booth's samples vary {direction} ("
            + "; ".join(f"{ours[r]:.2f} against {pull[r]:.2f} by the {r}" for r in recognisers) + ")."
        )
    return MarkdownText("\n".join(lines))



# ----------------------------------------------------------------------------------------------
# Chapter 06: the trade-off study, read from its results
# ----------------------------------------------------------------------------------------------

#: The paper's order of the methods, in which every reading lists them (so that a reader can
#: set the toy's numbers beside the paper's without reordering them).
PAPER_ORDER = ("idbooth", "portraitbooth", "dreambooth")


def _listed(values: dict[str, float], digits: int = 2) -> str:
    """``ID-Booth 0.35, PortraitBooth 0.32, DreamBooth 0.35``, in the paper's order."""
    return ", ".join(f"{display_name(m)} {values[m]:.{digits}f}" for m in PAPER_ORDER if m in values)


def _leader(values: dict[str, float]) -> str:
    return max(values, key=values.get)


def curves_reading(study: dict, step: int) -> MarkdownText:
    """What the trade-off curves of chapter 06 show, from the study's means: how much of the
    prompt the base model keeps, how fast each method gives it up for identity, who leads at
    each step, how many people get both, and where ID-Booth lies against the other paths."""
    from idbooth_lib.experiments.tradeoff import balanced_step, gap_to_path, people_with_both

    mean = {(s["method"], s["step"]): s for s in study["summary"]}
    methods = [m for m in PAPER_ORDER if (m, step) in mean]
    steps = sorted({s["step"] for s in study["summary"] if s["step"] > 0})
    first, late = steps[0], [t for t in steps if t >= 100]
    base = mean[(methods[0], 0)]

    def at(t: int, measure: str) -> dict[str, float]:
        return {m: mean[(m, t)][measure] for m in methods}

    late_backgrounds = [mean[(m, t)]["background"] for m in methods for t in late]
    top = max(steps, key=lambda t: max(at(t, "identity_independent_gained").values()))
    leaders = {_leader(at(t, "identity_independent_gained")) for t in steps}
    laggards = {min(at(t, "identity_independent_gained"), key=at(t, "identity_independent_gained").get) for t in steps}
    keeper = {t: _leader(at(t, "background")) for t in steps[:2]}
    both = {m: len(people_with_both(study["rows"], m)) for m in methods}
    people = mean[(methods[0], first)]["identities"]
    chosen = balanced_step(study["summary"])
    at_chosen = at(chosen, "background")
    lines = [
        f"- **Identity is bought with the prompt.** The base model draws the asked-for background in "
        f"{base['background']:.2f} of the images and the asked-for pose in {base['pose']:.2f}. After "
        f"{first} steps the methods keep {_listed(at(first, 'background'))} of the backgrounds, "
        f"while their images have come {_listed(at(first, 'identity_independent_gained'))} closer to "
        f"the person. From step {late[0]} on, every method draws the asked-for background in "
        f"{min(late_backgrounds):.2f} to {max(late_backgrounds):.2f} of the images; identity peaks at "
        f"step {top} ({_listed(at(top, 'identity_independent_gained'))}). People with a step that "
        "keeps half of the base model's backgrounds *and* reaches half of their largest identity "
        f"gain: {_listed(both, 0)} of the {people}.",
        f"- **Where the methods differ** (means over the {people} people; the tables above give the "
        "paired intervals at the book's step). "
        + (f"At every step {display_name(leaders.pop())} gains the most identity"
           if len(leaders) == 1 else "No method gains the most identity at every step")
        + (f" and {display_name(laggards.pop())} the least." if len(laggards) == 1 else ".")
        + (f" {display_name(next(iter(keeper.values())))} keeps the most background at steps "
           f"{' and '.join(map(str, keeper))}." if len(set(keeper.values())) == 1 else
           " The most background is kept by "
           + "; ".join(f"{display_name(keeper[t])} at step {t}" for t in keeper) + "."),
    ]
    gaps = {other: gap_to_path(study["rows"], "idbooth", other, step) for other in ("portraitbooth", "dreambooth")}
    if all(gap["interval"] is not None for gap in gaps.values()):
        lines[-1] += (" In the trade-off plane at step " + str(step) + ", ID-Booth's identity gain "
                      + " and ".join(f"{path_side(gap['interval'])} {display_name(other)}'s path "
                                     f"({gap['interval'].estimate:+.3f}, {gap['interval'].low:+.3f} to "
                                     f"{gap['interval'].high:+.3f})" for other, gap in gaps.items())
                      + f" at the same share of backgrounds ({gaps['portraitbooth']['compared']} people).")
    lines.append(
        f"- **The book's toy setting** is the step `balanced_step` scores best: it scores each step "
        "by the worse of two shares — of the method's largest identity gain reached, and of the base "
        f"model's backgrounds kept — and step {chosen} wins, with {min(at_chosen.values()):.2f}–"
        f"{max(at_chosen.values()):.2f} of the backgrounds. The constant learning rate makes the "
        f"study's step-{chosen} snapshot the same training as a {chosen}-step run, the runs chapter 05 "
        "draws from."
    )
    return MarkdownText("\n".join(lines))


def against_the_paper_reading(study: dict, step: int) -> MarkdownText:
    """Chapter 06's "against the paper", from the study: separability at the book's step and at
    the step where identity peaks, each pair of methods with its interval and the status of the
    paper's claim; whether the two recognisers reach the same verdicts; the level against the
    paper's; diversity; fidelity; memorisation. The methods are listed in the paper's order."""
    reading = _StudyAt(study, step)
    lines = [_separability_line(reading), _level_line(reading), _diversity_line(reading),
             _fidelity_line(reading), _memorisation_line(reading)]  # fmt: skip
    return MarkdownText("\n".join(lines))


class _StudyAt:
    """The study seen from the book's step: its methods in the paper's order, the steps with
    samples, the step where identity peaks, and each method's evaluation at a step."""

    def __init__(self, study: dict, step: int) -> None:
        self.study, self.step = study, step
        self.mean = {(r["method"], r["step"]): r for r in study["summary"]}
        self.methods = [m for m in PAPER_ORDER if (m, step) in self.mean]
        self.steps = sorted({r["step"] for r in study["summary"] if r["step"] > 0})
        self.peak = max(self.steps, key=lambda t: max(
            self.mean[(m, t)]["identity_independent_gained"] for m in self.methods))  # fmt: skip

    def evaluation(self, step: int, method: str) -> dict:
        from idbooth_lib.experiments.tradeoff import evaluation_at

        return evaluation_at(self.study, step, method)

    def eer(self, step: int) -> dict[str, float]:
        """The loss's recogniser's EER, synthetic vs synthetic, of each method at ``step``."""
        return {m: self.evaluation(step, m)["encoders"]["identity_encoder"]
                ["synthetic_vs_synthetic"]["eer"] for m in self.methods}  # fmt: skip


def _judged(study: dict, step: int) -> str:
    """Each pair of methods' EER difference at ``step`` with its interval and the claim's status."""
    from idbooth_lib.evaluation.comparisons import claim_status

    records = study.get("comparisons", {}).get(str(step), [])
    said = []
    for first, second in (("idbooth", "dreambooth"), ("portraitbooth", "dreambooth"), ("idbooth", "portraitbooth")):
        record = find(records, first=first, second=second, measure="eer", protocol="synthetic_vs_synthetic",
                      role="identity_encoder")  # fmt: skip
        if record is not None:
            said.append(f"{SHORT_NAMES[first]} − {SHORT_NAMES[second]} {record['estimate']:+.3f} "
                        f"({record['low']:+.3f} to {record['high']:+.3f}): "
                        f"{claim_status(record, lower_is_better=True)}")  # fmt: skip
    return "; ".join(said) if said else "no intervals in the results file: resume the study"


def _recognisers_agree(study: dict) -> tuple[int, int]:
    """In how many of the set-level comparisons (EER, FDR; every step and protocol) the two
    recognisers put the same method ahead, or neither, and of how many."""
    from idbooth_lib.evaluation.comparisons import LOWER_IS_BETTER, ahead

    agree = total = 0
    for records in study.get("comparisons", {}).values():
        for record in records:
            if record.get("role") != "identity_encoder" or record["measure"] not in ("eer", "fdr"):
                continue
            other = find(records, first=record["first"], second=record["second"], measure=record["measure"],
                         protocol=record["protocol"], role="evaluation_encoder")  # fmt: skip
            if other is not None:
                total += 1
                lower = LOWER_IS_BETTER[record["measure"]]
                agree += ahead(record, lower) == ahead(other, lower)
    return agree, total


def _separability_line(reading: _StudyAt) -> str:
    from idbooth_lib.evaluation import paper

    published = paper.IDENTITY["synthetic_vs_synthetic"]["eer"]
    step, peak = reading.step, reading.peak
    agree, total = _recognisers_agree(reading.study)
    return (
        f"- **Separability.** The paper's EERs, synthetic vs synthetic, are {_listed(published, 3)}. "
        f"The toy's at the book's step {step} are {_listed(reading.eer(step), 3)} by the loss's "
        f"recogniser; the intervals: {_judged(reading.study, step)}. At step {peak}, where identity "
        f"peaks: {_listed(reading.eer(peak), 3)}; {_judged(reading.study, peak)}. Over every step, "
        f"protocol and set-level measure (EER, FDR), the two recognisers put the same method "
        f"ahead, or neither, in {agree} of {total} comparisons"
        + (": on the toy world the loss's recogniser does not flatter the identity methods."
           if agree == total else ".")
    )


def _level_line(reading: _StudyAt) -> str:
    from idbooth_lib.evaluation import paper

    published = paper.IDENTITY["synthetic_vs_synthetic"]["eer"]
    best = min(min(reading.eer(t).values()) for t in reading.steps)
    at_step = [reading.evaluation(reading.step, m)["encoders"]["identity_encoder"] for m in reading.methods]
    impostors = [encoders["synthetic_vs_synthetic"]["impostor_mean"] for encoders in at_step]
    real = at_step[0]["real_vs_real"]
    return (
        f"- **Level.** The toy's best EER, {best:.2f}, is far from the paper's "
        f"{min(published.values()):.2f}: the toy foundation draws faces of different people that its "
        f"recognisers find alike (impostor mean {min(impostors):.2f}–{max(impostors):.2f} at step "
        f"{reading.step}, against {real['impostor_mean']:.2f} between the real photos), and the five "
        f"studio photos of a person are nearly one image (real-vs-real genuine mean "
        f"{real['genuine_mean']:.3f}; Tufts: {paper.REAL_VS_REAL['genuine_mean']})."
    )


def _diversity_line(reading: _StudyAt) -> str:
    steps, step = reading.steps, reading.step
    vendi = {t: {m: reading.mean[(m, t)]["vendi"] for m in reading.methods} for t in steps}
    more_varied = [t for t in steps if vendi[t]["idbooth"] > vendi[t]["portraitbooth"]]
    base_vendi = reading.mean[(reading.methods[0], 0)]["vendi"]
    halved = next((t for t in steps if all(v <= base_vendi / 2 for v in vendi[t].values())), None)
    return (
        f"- **Diversity.** The paper finds ID-Booth more diverse than PortraitBooth. By Vendi on the "
        f"toy VAE's features it is at steps {', '.join(map(str, more_varied)) or 'none'} of "
        f"{', '.join(map(str, steps))} ({vendi[step]['idbooth']:.2f} against "
        f"{vendi[step]['portraitbooth']:.2f} at step {step}); the base model's is {base_vendi:.1f}"
        + (f", and every method has lost half of it by step {halved}." if halved else ".")
    )


def _fidelity_line(reading: _StudyAt) -> str:
    frechet = {m: [reading.evaluation(t, m)["fidelity"]["frechet_distance"] for t in reading.steps]
               for m in reading.methods}  # fmt: skip
    falls = all(values[-1] < values[0] for values in frechet.values())
    return (
        "- **Fidelity** " + ("rewards losing the prompt: the Fréchet distance to the five studio "
                             "photos per person falls from the first step to the last for every "
                             "method, as the images look more and more like those photos."
                             if falls else "does not fall along training for every method here.")
        + " A large, varied real set (the paper's CMMD is measured against FFHQ) would not reward "
        "that; against the training photos, this book reads fidelity only beside adherence."
    )


def _memorisation_line(reading: _StudyAt) -> str:
    step = reading.step
    audits = [reading.evaluation(t, m)["memorisation"] for t in reading.steps for m in reading.methods]
    copies = sum(audit["near_copies"] for audit in audits)
    at_step = [reading.evaluation(step, m)["memorisation"] for m in reading.methods]
    closest = min(min(audit["nearest_real_distance"]) for audit in at_step)
    threshold = max(audit["threshold"] for audit in at_step)
    return (
        f"- **Memorisation.** {copies} images of any method at any step are near copies of a "
        f"training photo. The threshold only catches near-exact copies (section 4); at step {step} "
        + (f"the closest synthetic image of any method lies {closest / threshold:.0f} times farther "
           "from every training photo than the threshold." if threshold > 0 else
           "the threshold is zero: two of the real photos are the same image, so only exact "
           "copies could count.")
    )


#: Short names for intervals in running text.
SHORT_NAMES = {"idbooth": "ID", "portraitbooth": "PB", "dreambooth": "DB"}



def _curve_verdict(moved: list[tuple[float, str]]) -> str:
    """One sentence from where the intervals put a curve at each share of backgrounds."""
    up = [share for share, side in moved if side == "up"]
    down = [share for share, side in moved if side == "down"]
    if not up and not down:
        return ("The curve does not move beyond noise: the setting changes where a step lands on "
                "it, not what it exchanges.")
    if up and down:
        return "The curves cross: more identity at some shares of the prompt, less at others."
    direction, shares = ("up", up) if up else ("down", down)
    more = "more" if up else "less"
    if len(shares) == len(moved):
        return f"The curve moves {direction}: {more} identity for the same share of the prompt."
    return (f"The curve moves {direction} at {' and '.join(map(str, shares))} of the backgrounds "
            f"({more} identity for the same share of the prompt), not beyond noise elsewhere.")


def variant_reading(baseline: list[dict], variant: list[dict], baseline_as: str, variant_as: str) -> MarkdownText:
    """How a variant setting moves ID-Booth's trade-off curve against the shipped one, on the same
    people: the identity gained where each keeps half and 0.3 of the backgrounds (each person's
    path interpolated between its steps, the difference paired over the people), and both
    curves at steps 50 and 200. Whether the curve moved is read from the intervals."""
    from idbooth_lib.evaluation.intervals import paired_difference
    from idbooth_lib.experiments.tradeoff import curve_reading, gain_on_path, person_paths

    ours, theirs = ({person: [(b, g) for _, b, g in points] for person, points in person_paths(rows, "idbooth").items()}
                    for rows in (variant, baseline))
    people = sorted(set(ours) & set(theirs))
    said, moved = [], []
    for share in (0.5, 0.3):
        pairs = [(gain_on_path(ours[p], share), gain_on_path(theirs[p], share)) for p in people]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        if len(pairs) < 2:
            said.append(f"at {share} of the backgrounds too few people reach it on both curves")
            continue
        interval = paired_difference([a for a, _ in pairs], [b for _, b in pairs])
        side = "up" if interval.low > 0 else "down" if interval.high < 0 else "not beyond noise"
        moved.append((share, side))
        said.append(f"at {share} of the backgrounds kept, {interval.estimate:+.2f} ({interval.low:+.2f} to "
                    f"{interval.high:+.2f}, {len(pairs)} people): {side}")  # fmt: skip
    kept = {name: curve_reading(rows, "idbooth", steps=(0, 50, 200)) for name, rows in
            ((variant_as, variant), (baseline_as, [r for r in baseline if r["identity"] in people]))}  # fmt: skip
    a, b = kept[variant_as], kept[baseline_as]
    verdict = _curve_verdict(moved)
    text = (
        f"ID-Booth's identity gained, {variant_as} minus {baseline_as}, on the same people: "
        f"{'; '.join(said)}. {verdict} The base model draws {a['step 0'][1]:.2f} of the backgrounds "
        f"({variant_as}) and {b['step 0'][1]:.2f} ({baseline_as}); at step 50 ID-Booth draws "
        f"{a['step 50'][1]:.2f} against {b['step 50'][1]:.2f} for a gain of {a['step 50'][0]:.2f} "
        f"against {b['step 50'][0]:.2f}, and at step 200 {a['step 200'][1]:.2f} against "
        f"{b['step 200'][1]:.2f} for {a['step 200'][0]:.2f} against {b['step 200'][0]:.2f}."
    )
    return MarkdownText(text)



# ----------------------------------------------------------------------------------------------
# Chapter 07, section 3: what a few photos teach a recogniser (benchmarks/recognition_training.py)
# ----------------------------------------------------------------------------------------------

#: The results files of ``benchmarks/recognition_training.py`` the chapter reads.
RECOGNITION_TRAINING_FILES = ("recognition_training.json", "recognition_training_session.json")


def read_recognition_training(results_folder: str | Path) -> dict[str, dict] | None:
    """Every candidate training set of the recognition-training benchmark, by name; None where the
    files are not at hand (a Colab runtime)."""
    import json

    found: dict[str, dict] = {}
    for name in RECOGNITION_TRAINING_FILES:
        path = Path(results_folder) / name
        if not path.is_file():
            return None
        found |= json.loads(path.read_text(encoding="utf-8"))["candidates"]
    return found


def _gain(candidate: dict, interval: bool = True) -> str:
    told = f"{candidate['gain']:+.3f}"
    if interval:
        told += f" ({candidate['gain_low']:+.3f} to {candidate['gain_high']:+.3f})"
    return told


def recognition_training_reading(candidates: dict[str, dict]) -> MarkdownText:
    """What a few real photos per person teach the toy recogniser, seed by seed against the
    untrained backbone: the studio photos, more of them, more people, augmentation, the studio
    session (studio and posed photos) and wild photos, each with its interval over the seeds."""
    studio, session = candidates["studio-24x5"], candidates["studio+posed-24x5"]
    seeds = len(studio["trained"])
    more = {name: candidates[name] for name in ("studio-24x5-augmented", "studio-24x10-augmented",
                                                "studio-48x5-augmented")}  # fmt: skip
    above = session["gain_low"] > studio["gain_high"]
    return MarkdownText(
        f"Over {seeds} seeds, each recogniser minus the untrained backbone it started from: "
        f"{studio['photos_per_person']} frontal studio photos of {studio['people']} people buy "
        f"{_gain(studio)} on the toy benchmark; colour jitter and small shifts "
        f"{_gain(more['studio-24x5-augmented'], False)}, twice as many studio photos "
        f"{_gain(more['studio-24x10-augmented'], False)}, twice as many people "
        f"{_gain(more['studio-48x5-augmented'])}. The studio session — {session['photos_per_person']} "
        f"studio and {session['photos_per_person']} posed photos each, the head turned and the light "
        f"moved — buys {_gain(session)}"
        + (", its interval wholly above the studio photos' alone" if above else "")
        + f"; {candidates['wild-24x5']['photos_per_person']} wild photos buy {_gain(candidates['wild-24x5'])}."
    )


# ----------------------------------------------------------------------------------------------
# Chapter 08: what the paper's training costs on a GPU
# ----------------------------------------------------------------------------------------------


def gpu_training_time(runs: dict[str, dict] | None, steps: tuple[int, ...] = (6400, 800)) -> MarkdownText:
    """An ID-Booth step at SD 2.1's shapes as measured (``benchmarks/train_step.py``), multiplied
    out to the paper's steps and to the colab setting's; what to do where nothing is measured."""
    if runs is None:
        return MarkdownText("The GPU step benchmark's results (`benchmarks/results/train_step_sd21_shaped_cuda.json`) "
                            "are in the repository, not on this runtime.")  # fmt: skip
    main = runs["main"]
    step = _step(main, "idbooth")["seconds_per_step"]
    minutes = " and ".join(f"{count:,} steps about {count * step / 60:.0f} minutes" for count in steps)
    return MarkdownText(
        f"**Time on a GPU.** An ID-Booth step of SD 2.1-base at 512 px in {main['mixed_precision']} "
        f"took {step:.2f} s on an {main['device']} (`benchmarks/results/train_step_sd21_shaped_cuda.json`, "
        f"random weights at full size), so {minutes} there. A free Colab T4 is several times slower "
        "than an H200; its time has not been measured for this book."
    )


__all__ = ["gpu_training_time", "read_recognition_training", "recognition_training_reading", "variant_reading", "against_the_paper_reading", "curves_reading", "live_reading", "one_person_reading", "read_train_steps", "small_gpu_switches", "studio_reading", "synthetic_reading",
           "train_step_reading", "train_step_table", "utility_order_reading"]
