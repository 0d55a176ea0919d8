"""``idbooth fr-eval``: a recogniser on verification benchmarks, in one results file (chapter 07).

``M`` is an ``idbooth fr-train`` output folder or any source
:func:`~idbooth_lib.identity.encoders.load_identity_encoder` takes (a packaged toy recogniser, an
ArcFace ``.onnx``, an arcface_torch checkpoint). Each ``.bin`` file is read safely
(:mod:`~idbooth_lib.recognition.bins`), every face embedded with its mirror image, and scored with
the 10-fold protocol in file order and TAR at FAR 1e-3
(:mod:`~idbooth_lib.recognition.verification`). The threshold search is insightface's by default,
so that the accuracies compare with published ones; ``protocol="midpoint"`` is the alternative.
"""

from __future__ import annotations

from pathlib import Path

from idbooth_lib.recognition.bins import VerificationPairs, read_bin
from idbooth_lib.recognition.train import TRAINING_FILE, embed_images, trained_backbone_source
from idbooth_lib.recognition.verification import check_protocol, verify_pairs


def model_source(model: str | Path) -> str:
    """The recogniser source of ``model``: an fr-train folder's chosen backbone, or ``model``."""
    return trained_backbone_source(model) if (Path(model) / TRAINING_FILE).is_file() else str(model)


def evaluate_benchmarks(
    model: str | Path, bins: list[str | Path], device: str = "cpu", protocol: str = "insightface"
) -> dict:
    """``{"model": ..., "benchmarks": {name: accuracy mean/std, TAR@FAR 1e-3, pairs, protocol}}``
    under the verification ``protocol``; every benchmark and the protocol's name are checked
    before the model is loaded, so a bad file or a misspelt protocol fails at once."""
    from idbooth_lib.identity.encoders import load_identity_encoder

    check_protocol(protocol)
    benchmarks = [read_bin(path) for path in bins]
    source = model_source(model)
    encoder = load_identity_encoder(source, device)
    return {"model": source,
            "benchmarks": {pairs.name: score_benchmark(encoder, pairs, protocol)
                           for pairs in benchmarks}}  # fmt: skip


def score_benchmark(encoder, pairs: VerificationPairs, protocol: str = "insightface") -> dict:
    """The ``protocol`` on one benchmark already read: any module that embeds aligned crops (a
    loaded recogniser, or a backbone fresh from ``build_backbone``)."""
    return verify_pairs(embed_images(encoder, pairs.images), pairs.same, protocol)


def benchmark_table(results: dict):
    """One row per benchmark: accuracy mean ± std, TAR at FAR 1e-3, pairs, and the protocol the
    accuracy was measured with (protocols differ, so a number is read with its protocol)."""
    from idbooth_lib.reporting import markdown_table

    rows = [
        (name, f"{found['accuracy_mean']:.4f} ± {found['accuracy_std']:.4f}",
         f"{found['tar_at_far_1e-3']:.4f}", found["pairs"], found.get("protocol", "not recorded"))
        for name, found in results["benchmarks"].items()
    ]  # fmt: skip
    header = ["benchmark", "accuracy (10-fold)", "TAR @ FAR 1e-3", "pairs", "protocol"]
    return markdown_table(header, rows)


__all__ = ["benchmark_table", "evaluate_benchmarks", "model_source"]
