"""Method against method, with intervals: every comparison a study makes, as a difference and its
paired bootstrap interval over people (:mod:`~idbooth_lib.evaluation.intervals`).

Two kinds of measure are compared:

- **per person** (identity similarity or gain, background and pose adherence, Vendi): one number
  per person and method, so the difference is the mean of per-person differences
  (:func:`per_person_comparisons`);
- **per set** (the paper's EER, FMR100 and FDR): one number per method from every genuine and
  impostor pair of the set. A resample of people brings each drawn person's images along, and
  the measure is computed again (:func:`set_level_comparisons`).

Recomputing the EER on thousands of resamples would mean rebuilding hundreds of thousands of pairs
each time. :class:`PeopleScores` avoids that: every pair's score is computed and sorted once and
tagged with the people of its two images. Drawing person *p* ``c_p`` times then simply weighs
each of *p*'s genuine pairs by ``c_p`` and each impostor pair of *p* and *q* by ``c_p · c_q``;
pairs between two copies of the same person count as neither, as a drawn copy is the same person,
not a new one. With every weight 1 the measures equal those of
:mod:`~idbooth_lib.evaluation.separability` (a test holds them to it).

Each study keeps its recognisers' embeddings beside its evaluation files
(:func:`~idbooth_lib.evaluation.embedding_store.write_embeddings`) and stores the intervals in its results, so
a chapter reads them without recomputing anything.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from idbooth_lib.evaluation.diversity import unit_rows
from idbooth_lib.evaluation.embedding_store import read_embeddings
from idbooth_lib.evaluation.intervals import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    Interval,
    paired_difference,
    paired_set_differences,
    verdict,
)
from idbooth_lib.evaluation.separability import interpolated_crossing
from idbooth_lib.methods import display_name as method_display_name

#: The paper's order, better first: each pair is one of its claims (ID-Booth ≥ PortraitBooth >
#: DreamBooth), compared as ``first − second``.
PAPER_PAIRS = (
    ("portraitbooth", "dreambooth"),
    ("idbooth", "dreambooth"),
    ("idbooth", "portraitbooth"),
)
#: The set-level measures of the paper's identity table, and whether lower is better.
SET_MEASURES = {"eer": True, "fnmr_at_fmr_1e-2": True, "fdr": False}
PROTOCOLS = ("synthetic_vs_synthetic", "synthetic_vs_real")
#: A study resamples fewer times for set-level measures: each resample recomputes every measure.
SET_RESAMPLES = 1_000


@dataclass(frozen=True)
class PeopleScores:
    """Every pair score of one protocol, sorted from the highest, each tagged with its *block*:
    the people (indices into ``people``) of its two images, ``first · P + second``. The sums of
    each block's scores and squares are kept too, so that means and spreads under a draw cost
    one small product instead of a pass over every pair."""

    scores: np.ndarray
    genuine: np.ndarray
    block: np.ndarray
    last_of_score: np.ndarray  # indices where a run of equal scores ends: one threshold each
    block_moments: np.ndarray  # (P², 3): count, sum, sum of squares of each block's scores
    people: tuple[str, ...]

    @classmethod
    def from_pairs(cls, scores, first, second, people) -> PeopleScores:
        order = np.argsort(-scores, kind="stable")
        scores, first, second = scores[order], first[order], second[order]
        block = first * len(people) + second
        blocks = len(people) ** 2
        moments = np.stack([np.bincount(block, weights=scores**k, minlength=blocks)
                            for k in (0, 1, 2)], axis=1)  # fmt: skip
        last = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
        return cls(scores, first == second, block, last, moments, tuple(people))

    def block_weights(self, counts: np.ndarray) -> np.ndarray:
        """Each block's weight when person k is drawn ``counts[k]`` times: ``c_p`` for a
        person's genuine pairs, ``c_p · c_q`` for the impostor pairs of p and q."""
        counts = np.asarray(counts, float)
        weights = np.outer(counts, counts)
        np.fill_diagonal(weights, counts)
        return weights.ravel()


def _person_index(labels, people: Sequence[str]) -> np.ndarray:
    index = {person: k for k, person in enumerate(people)}
    return np.array([index.get(str(label), -1) for label in labels])


def within_set(embeddings: np.ndarray, labels, people: Sequence[str]) -> PeopleScores:
    """Every unordered pair of one set (synthetic vs synthetic), of the images of ``people``."""
    tags = _person_index(labels, people)
    kept = tags >= 0
    vectors, tags = unit_rows(np.asarray(embeddings)[kept]), tags[kept]
    rows, columns = np.triu_indices(len(tags), k=1)
    scores = np.einsum("ij,ij->i", vectors[rows], vectors[columns])
    return PeopleScores.from_pairs(scores, tags[rows], tags[columns], people)


def cross_set(
    synthetic: np.ndarray, synthetic_labels, real: np.ndarray, real_labels, people: Sequence[str]
) -> PeopleScores:
    """Every synthetic image of ``people`` against every real photo of theirs."""
    tags_s, tags_r = _person_index(synthetic_labels, people), _person_index(real_labels, people)
    kept_s, kept_r = tags_s >= 0, tags_r >= 0
    scores = unit_rows(np.asarray(synthetic)[kept_s]) @ unit_rows(np.asarray(real)[kept_r]).T
    first = np.repeat(tags_s[kept_s], kept_r.sum())
    second = np.tile(tags_r[kept_r], kept_s.sum())
    return PeopleScores.from_pairs(scores.ravel(), first, second, people)


def weighted_separability(pairs: PeopleScores, counts: np.ndarray) -> dict[str, float | None]:
    """EER, FNMR at FMR 1e-2 and FDR of the pairs under the draw ``counts`` (None where a measure
    is undefined: no impostor pair, or too few to resolve an FMR of 1e-2)."""
    block_weights = pairs.block_weights(counts)
    genuine_blocks = np.diag(np.arange(len(pairs.people) ** 2).reshape(len(pairs.people), -1))
    is_genuine = np.zeros(len(block_weights), bool)
    is_genuine[genuine_blocks] = True
    count, total, squares = (pairs.block_moments * block_weights[:, None]).T
    genuine_total, impostor_total = count[is_genuine].sum(), count[~is_genuine].sum()
    if genuine_total == 0 or impostor_total == 0:
        return dict.fromkeys(SET_MEASURES)
    weights = block_weights[pairs.block]
    genuine_so_far = np.cumsum(weights * pairs.genuine)[pairs.last_of_score]
    impostor_so_far = np.cumsum(weights)[pairs.last_of_score] - genuine_so_far
    fmr = np.r_[0.0, impostor_so_far / impostor_total]
    fnmr = np.r_[1.0, 1.0 - genuine_so_far / genuine_total]
    return {
        "eer": interpolated_crossing(fmr, fnmr),
        "fnmr_at_fmr_1e-2": float(fnmr[fmr <= 1e-2].min()) if impostor_total >= 100 else None,
        "fdr": _fdr(*(np.array([part[is_genuine].sum(), part[~is_genuine].sum()])
                      for part in (count, total, squares))),  # fmt: skip
    }


def _fdr(count: np.ndarray, total: np.ndarray, squares: np.ndarray) -> float | None:
    """Fisher's ratio from the genuine and impostor scores' weighted count, sum and sum of
    squares (each ``[genuine, impostor]``)."""
    mean = total / count
    variance = squares / count - mean**2
    spread = variance.sum()
    return float((mean[0] - mean[1]) ** 2 / spread) if spread > 0 else None


def set_level_comparisons(
    scores: dict[str, dict[str, PeopleScores]],
    pairs: Sequence[tuple[str, str]] = PAPER_PAIRS,
    resamples: int = SET_RESAMPLES,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """``scores[method][protocol]`` (the same people, in the same order, for every method) → one
    record per method pair, protocol and measure: ``first − second`` with its interval. Every
    method is scored once per draw of people, and every pair is compared on the same draws."""
    methods = sorted({m for pair in pairs for m in pair})
    protocols = sorted(set.intersection(*(set(scores[m]) for m in methods)))
    people = next(iter(scores[methods[0]].values())).people
    if any(found.people != people for m in methods for found in scores[m].values()):
        raise ValueError("set-level comparisons need the same people, in the same order, per method")

    def differences(drawn: Sequence[int]) -> dict[str, float | None]:
        counts = np.bincount(np.asarray(drawn, int), minlength=len(people))
        measured = {
            (m, p): weighted_separability(scores[m][p], counts) for m in methods for p in protocols
        }
        found = {}
        for (first, second), protocol, measure in itertools.product(pairs, protocols, SET_MEASURES):
            a, b = measured[first, protocol][measure], measured[second, protocol][measure]
            found[f"{first}|{second}|{protocol}|{measure}"] = None if a is None or b is None else a - b
        return found

    intervals = paired_set_differences(differences, len(people), resamples, seed)
    records = []
    for key, interval in intervals.items():
        first, second, protocol, measure = key.split("|")
        records.append({"first": first, "second": second, "protocol": protocol,
                        "measure": measure} | interval.to_dict())  # fmt: skip
    return records


def per_person_comparisons(
    rows: Sequence[dict],
    measures: Sequence[str],
    pairs: Sequence[tuple[str, str]] = PAPER_PAIRS,
    step: int | None = None,
) -> list[dict[str, Any]]:
    """From a study's rows (one per method, person and step): ``first − second`` per pair and
    measure, paired by person, at ``step`` (None: rows without steps, as the reproduction's)."""
    chosen = [row for row in rows if step is None or row.get("step") == step]
    value = {(row["method"], row["identity"], m): row.get(m) for row in chosen for m in measures}
    people = sorted({row["identity"] for row in chosen})
    records = []
    for (first, second), measure in itertools.product(pairs, measures):
        a = [_missing_as_nan(value.get((first, p, measure))) for p in people]
        b = [_missing_as_nan(value.get((second, p, measure))) for p in people]
        interval = paired_difference(a, b)
        records.append({"first": first, "second": second, "measure": measure}
                       | interval.to_dict())  # fmt: skip
    return records


def _missing_as_nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def as_interval(record: dict[str, Any]) -> Interval:
    """The :class:`~idbooth_lib.evaluation.intervals.Interval` of a stored comparison record."""
    return Interval(record["estimate"], record["low"], record["high"], record["units"],
                    record.get("level", 0.95))  # fmt: skip


def claim_status(record: dict[str, Any], lower_is_better: bool) -> str:
    """Whether a comparison reproduces the paper's order (``first`` is the paper's better method):
    reproduced, not reproduced or inconclusive."""
    return verdict(as_interval(record), -1 if lower_is_better else +1)


def ahead(record: dict[str, Any], lower_is_better: bool) -> str:
    """For a measure the paper makes no claim on: which method the interval puts ahead, if any."""
    interval = as_interval(record)
    if interval.contains_zero():
        return "no difference shown"
    first_ahead = (interval.high < 0) if lower_is_better else (interval.low > 0)
    return f"{display_name(record['first'] if first_ahead else record['second'])} ahead"


def combined_status(statuses: Sequence[str]) -> str:
    """One status for a claim that rests on several comparisons: not reproduced when any
    contradicts the paper, reproduced when all agree with it, inconclusive otherwise."""
    if NOT_REPRODUCED in statuses:
        return NOT_REPRODUCED
    return REPRODUCED if statuses and all(s == REPRODUCED for s in statuses) else INCONCLUSIVE


def find(records: Sequence[dict], **wanted: Any) -> dict[str, Any] | None:
    """The one record whose fields have the ``wanted`` values, or None."""
    hits = [r for r in records if all(r.get(k) == v for k, v in wanted.items())]
    return hits[0] if hits else None


#: Whether lower is better for each measure a study compares: which side of zero is better.
LOWER_IS_BETTER = {"eer": True, "fnmr_at_fmr_1e-2": True, "fdr": False, "vendi": False,
                   "identity_independent_gained": False, "identity_loss_gained": False,
                   "background": False, "pose": False, "accuracy_mean": False}  # fmt: skip
#: The comparisons the paper makes a claim on, per measure: its better method first. Separability
#: follows its order ID-Booth ≥ PortraitBooth > DreamBooth; diversity puts ID-Booth above
#: PortraitBooth and DreamBooth above PortraitBooth (the pull-only identity term costs variety);
#: a recogniser trained on real + ID-Booth images beats one trained on the real photos alone, and
#: those trained with the other methods' images.
PAPER_CLAIMS = {
    **{measure: PAPER_PAIRS for measure in SET_MEASURES},
    "vendi": (("idbooth", "portraitbooth"), ("dreambooth", "portraitbooth")),
    "accuracy_mean": tuple(("real+idbooth", other) for other in
                           ("real", "real+dreambooth", "real+portraitbooth")),  # fmt: skip
}
MEASURE_NAMES = {"eer": "EER", "fnmr_at_fmr_1e-2": "FMR100", "fdr": "FDR", "vendi": "Vendi",
                 "genuine_mean": "genuine μ", "impostor_mean": "impostor μ",
                 "identity_independent_gained": "identity gained (independent recogniser)",
                 "identity_loss_gained": "identity gained (loss recogniser)",
                 "background": "background kept", "pose": "pose kept",
                 "accuracy_mean": "benchmark accuracy"}  # fmt: skip


def display_name(compared: str) -> str:
    """A method's display name (:mod:`idbooth_lib.methods`), or a recogniser's training set
    (``real+idbooth``: real + ID-Booth)."""
    if compared.startswith("real+"):
        return "real + " + method_display_name(compared.removeprefix("real+"))
    return method_display_name(compared)


def reading(record: dict[str, Any]) -> str:
    """What a comparison says: for a claim of the paper, its status (the record may list the
    pair either way round); for any other measure, which method the interval puts ahead."""
    lower = LOWER_IS_BETTER[record["measure"]]
    pair = (record["first"], record["second"])
    claimed = PAPER_CLAIMS.get(record["measure"], ())
    if pair in claimed:
        return claim_status(record, lower)
    if pair[::-1] in claimed:
        return claim_status(record, not lower)
    return ahead(record, lower)


def comparisons_table(records: Sequence[dict], digits: int = 3) -> Any:
    """A Markdown table of comparison records, four columns wide: the measure (with its protocol
    and recogniser where the records have them), the pair, the difference with its 95 % interval,
    and :func:`reading`."""
    from idbooth_lib.reporting import markdown_table

    rows = []
    for record in records:
        interval = as_interval(record)
        rows.append([measure_label(record), f"{display_name(record['first'])} − "
                                           f"{display_name(record['second'])}",
                     f"{interval.estimate:+.{digits}f} ({interval.low:+.{digits}f} … "
                     f"{interval.high:+.{digits}f})",
                     reading(record)])  # fmt: skip
    return markdown_table(["measure", "comparison", "difference (95 % interval)", "reading"], rows)


#: How a protocol and a recogniser are named in a table.
PROTOCOL_NAMES = {"synthetic_vs_synthetic": "syn–syn", "synthetic_vs_real": "syn–real",
                  "real_vs_real": "real–real"}  # fmt: skip
ROLE_NAMES = {"identity_encoder": "loss recogniser", "evaluation_encoder": "independent"}


def measure_label(record: dict[str, Any]) -> str:
    """``EER, syn–real (independent)``: a measure named for a reader, with its protocol and
    recogniser when the record has them."""
    label = MEASURE_NAMES.get(record["measure"], record["measure"])
    if record.get("protocol"):
        label += f", {PROTOCOL_NAMES.get(record['protocol'], record['protocol'])}"
    if record.get("role"):
        label += f" ({ROLE_NAMES.get(record['role'], record['role'])})"
    return label


def load_people_scores(embeddings_file: Path, role: str, people: Sequence[str]) -> dict[str, PeopleScores]:
    """Both protocols' :class:`PeopleScores` of one recogniser, from an evaluation's embeddings
    file (:func:`~idbooth_lib.evaluation.embedding_store.write_embeddings`)."""
    stored = read_embeddings(embeddings_file)
    synthetic, real = stored[role]
    return {
        "synthetic_vs_synthetic": within_set(synthetic, stored["synthetic_labels"], people),
        "synthetic_vs_real": cross_set(synthetic, stored["synthetic_labels"], real,
                                       stored["real_labels"], people),  # fmt: skip
    }


__all__ = [
    "LOWER_IS_BETTER",
    "PAPER_CLAIMS",
    "PAPER_PAIRS",
    "PeopleScores",
    "ahead",
    "as_interval",
    "claim_status",
    "combined_status",
    "comparisons_table",
    "display_name",
    "measure_label",
    "PROTOCOL_NAMES",
    "ROLE_NAMES",
    "cross_set",
    "find",
    "load_people_scores",
    "per_person_comparisons",
    "reading",
    "set_level_comparisons",
    "weighted_separability",
    "within_set",
]
