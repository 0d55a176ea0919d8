"""The method registry (#22): a method is one record, and a fourth one registered in test code
runs through training, the trade-off study, the tables and the figures without any change to
the library; an enumerated setting with a wrong value fails when the profile is loaded."""

import dataclasses

import pytest
import torch.nn.functional as F
from matplotlib.colors import to_hex

from idbooth_lib.config import CHOICES, load_profile, setting_choices
from idbooth_lib.methods import (
    BUILT_IN,
    PAPER_METHODS,
    Method,
    get_method,
    method_names,
    register_method,
    unregister_method,
)


def push_away_from_the_prior(anchor, positive, negative, margin):
    """A made-up identity term: only push the sample away from its prior image (no pull)."""
    return F.relu(margin - (1 - F.cosine_similarity(anchor, negative, dim=-1)))


@pytest.fixture
def pushbooth():
    method = register_method(Method("pushbooth", "PushBooth", "PU", "#882255", "D",
                                    push_away_from_the_prior, uses_prior_embeddings=True))  # fmt: skip
    yield method
    unregister_method("pushbooth")
    assert method_names() == PAPER_METHODS


def test_the_built_in_methods_are_the_papers_and_their_terms_load():
    assert PAPER_METHODS == ("dreambooth", "portraitbooth", "idbooth")
    assert [m.has_identity_term for m in BUILT_IN] == [False, True, True]
    from idbooth_lib.training.losses import term_of

    assert term_of(get_method("idbooth")).__name__ == "triplet_loss"
    assert term_of(get_method("portraitbooth")).__name__ == "identity_loss"
    assert term_of(get_method("dreambooth")) is None
    with pytest.raises(ValueError, match="already registered"):
        register_method(BUILT_IN[0])
    with pytest.raises(ValueError, match="built in"):
        unregister_method("idbooth")
    with pytest.raises(ValueError, match="already idbooth's colour"):
        register_method(Method("copycat", "Copycat", "CC", "#009E73", "x"))
    assert "copycat" not in method_names()


def test_a_fourth_method_runs_through_train_the_study_tables_and_figures(pushbooth, tmp_path):
    from idbooth_lib.cli import build_parser
    from idbooth_lib.evaluation.comparisons import comparisons_table, per_person_comparisons
    from idbooth_lib.evaluation.figures import plot_tradeoff
    from idbooth_lib.evaluation.tables import identity_table, quality_table
    from idbooth_lib.experiments.study import write_study_photos
    from idbooth_lib.experiments.tradeoff import COMPARED_PER_PERSON, StudyPlan, run_tradeoff
    from idbooth_lib.training.finetune import LOSS_LOG_FILE

    assert build_parser().parse_args(["train", "--method", "pushbooth", "--data", "d",
                                      "--output", "o"]).method == "pushbooth"  # fmt: skip
    config = load_profile("toy", {"train.method": "pushbooth", "train.num_class_images": "2",
                                  "generate.num_inference_steps": "2"}, environ={})  # fmt: skip
    plan = StudyPlan(snapshot_steps=(1,), methods=("dreambooth", "pushbooth"), images_per_identity=2)
    study = tmp_path / "study"
    photos = write_study_photos(study, config, identities=2, photos=3)
    results = run_tradeoff(study, config, photos, plan)

    assert {(r["method"], r["step"]) for r in results["rows"] if r["step"]} == {
        ("dreambooth", 1), ("pushbooth", 1)}  # fmt: skip
    loss_log = study / "runs" / "pushbooth" / "id_0000" / LOSS_LOG_FILE
    assert "identity" in loss_log.read_text().splitlines()[0]  # its term entered the loss

    compared = per_person_comparisons(results["rows"], COMPARED_PER_PERSON,
                                      pairs=[("pushbooth", "dreambooth")], step=1)  # fmt: skip
    assert any("PushBooth − DreamBooth" in row for row in map(str, comparisons_table(compared).rows))
    evaluations = {m: results["evaluations"][f"1/{m}"] for m in plan.methods}
    assert quality_table(evaluations).rows[1][0] == "PushBooth"
    # four methods in the paper's table (the two missing ones stand in with DreamBooth's results)
    four = {m: evaluations["dreambooth"] for m in PAPER_METHODS} | {"pushbooth": evaluations["pushbooth"]}
    table = identity_table(four, "identity_encoder", base=results["evaluations"]["0/base"])
    assert len(table.headers) == 6 and table.headers[4] == "PushBooth (paper)"
    figure = plot_tradeoff(results["summary"])
    colours = {line.get_label(): to_hex(line.get_color()) for line in figure.axes[0].lines}
    assert colours["PushBooth, mean over people"] == "#882255"


def test_a_profile_with_a_value_outside_its_choices_fails_when_loaded():
    for dotted in ("train.method", *CHOICES):
        with pytest.raises(ValueError, match=f"{dotted}='nonsense' is not a choice: use one of "
                                             f"{setting_choices(dotted)[0]}"):  # fmt: skip
            load_profile("toy", {dotted: "nonsense"}, environ={})
    config = load_profile("sd21", environ={})
    for dotted, allowed in CHOICES.items():
        section, field = dotted.split(".")
        assert getattr(getattr(config, section), field) in allowed


def test_the_toy_worlds_modes_are_the_profiles_choices():
    from idbooth_lib.toy_world.faces import MODES

    assert CHOICES["data.toy_mode"] == MODES


def test_a_method_record_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_method("idbooth").colour = "red"
