"""The figure house rules (``idbooth_lib.viz``): every figure helper of the library, drawn from the
shipped results where they exist, reads at the book's column width, labels its axes, draws each
method in its own colour, and keeps its legend off the data; and the check itself catches each
kind of breach."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from PIL import Image  # noqa: E402

from idbooth_lib.methods import BUILT_IN, display_name, find_method, get_method  # noqa: E402
from idbooth_lib.viz import (  # noqa: E402
    MAX_WIDTH_PIXELS,
    house_rule_problems,
    image_grid,
    panels,
    people_grid,
    plot_loss_terms,
    series_style,
)

RNG = np.random.default_rng(0)
METHODS = [method.name for method in BUILT_IN]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _method_colours(figure) -> dict[str, set[str]]:
    """Per method label found on the figure's lines, the colours it is drawn in."""
    found: dict[str, set[str]] = {}
    for axis in figure.axes:
        for line in axis.lines:
            method = find_method(line.get_label().split(",")[0])
            if method is not None:
                found.setdefault(method.name, set()).add(to_hex(line.get_color()))
    return found


def _assert_house_rules(figure, methods=()):
    assert house_rule_problems(figure) == []
    colours = _method_colours(figure)
    for name in methods:
        assert colours.get(name) == {get_method(name).colour}, name


def _study():
    from idbooth_lib.experiments.study import shipped_results
    from idbooth_lib.experiments.tradeoff import read_tradeoff

    path = shipped_results()
    if path is None:
        pytest.skip("the study's results are not shipped")
    return read_tradeoff(path)


def test_methods_have_one_record_each():
    assert len({m.colour for m in BUILT_IN}) == len({m.marker for m in BUILT_IN}) == len(BUILT_IN)
    assert display_name("idbooth") == "ID-Booth" and display_name("real") == "real"
    assert find_method("ID-Booth") is get_method("idbooth")
    with pytest.raises(ValueError, match="choose one of dreambooth, portraitbooth, idbooth"):
        get_method("textual-inversion")


def test_loss_terms_keep_each_methods_colour_in_every_panel():
    from idbooth_lib.training.finetune import LossHistory

    histories = {}
    for method in METHODS:
        history = LossHistory()
        for step in range(100):
            terms = {"diffusion": float(RNG.random())}
            if method != "dreambooth":
                terms["identity"] = float(RNG.random())
            if method == "idbooth":
                terms["triplet"] = float(RNG.random())
            history.append(step, terms)
        histories[method] = history
    figure = plot_loss_terms(histories)
    _assert_house_rules(figure, METHODS)
    assert len(figure.axes) == 3
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["DreamBooth", "PortraitBooth", "ID-Booth"]  # the registry's order


def test_tradeoff_figures_follow_the_house_rules():
    from idbooth_lib.evaluation.figures import plot_along_training, plot_tradeoff

    study = _study()
    _assert_house_rules(plot_tradeoff(study["summary"], study["rows"], highlight_step=50), METHODS)
    five = ("identity_independent_gained", "identity_loss_gained", "background", "pose", "vendi")
    figure = plot_along_training(study["summary"], five)
    _assert_house_rules(figure, METHODS)
    assert len({round(axis.get_position().y0, 2) for axis in figure.axes if axis.get_visible()}) == 2


def test_evaluation_figures_follow_the_house_rules():
    from idbooth_lib.evaluation.figures import (
        plot_det_curves,
        plot_nearest_real,
        plot_score_distributions,
    )

    scores = {m: (RNG.normal(0.6, 0.1, 80), RNG.normal(0.0, 0.1, 300)) for m in METHODS}
    _assert_house_rules(plot_score_distributions(scores))
    _assert_house_rules(plot_det_curves(scores), METHODS)
    audits = {m: {"nearest_real_distance": RNG.random(40), "real_baseline_quantile": 0.2,
                  "threshold": 0.1} for m in METHODS}  # fmt: skip
    _assert_house_rules(plot_nearest_real(audits))


def test_recognition_figures_follow_the_house_rules():
    from idbooth_lib.experiments.reproduce import read_reproduction, shipped_reproduction
    from idbooth_lib.recognition.figures import plot_setting_accuracy, plot_training_curves

    curves = [{"epoch": e, "loss": 1 / e, "validation_accuracy": 0.6 + e / 50} for e in range(1, 9)]
    records = {name: {"curves": curves, "selected_epoch": 8} for name in ("real only", "real + ID-Booth")}
    _assert_house_rules(plot_training_curves(records))
    path = shipped_reproduction()
    if path is None:
        pytest.skip("the reproduction's results are not shipped")
    reproduction = read_reproduction(path)
    figure = plot_setting_accuracy(reproduction["recognition"], reproduction["reference_recognisers"])
    _assert_house_rules(figure)
    assert figure.axes[0].get_ylim()[0] == 0.5  # bars start at chance, not at the lowest bar


def test_grids_fit_the_column_and_start_with_the_real_person():
    faces = [Image.fromarray(RNG.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(12)]
    wide = image_grid([faces] * 3, row_labels=["a", "b", "c"])
    assert house_rule_problems(wide) == []
    real = faces[:2]
    grid = people_grid(real, [faces[2:7], faces[7:12]], ["base model", "idbooth"],
                       ["forest", "beach", "city", "office", "studio"])  # fmt: skip
    first_column = [axes for index, axes in enumerate(grid.axes) if index % 6 == 0]
    assert [np.asarray(a.images[0].get_array()).tolist() for a in first_column] == [
        np.asarray(photo).tolist() for photo in real
    ]
    assert grid.axes[0].get_title() == "real photo"
    assert to_hex(grid.axes[6].yaxis.label.get_color()) == get_method("idbooth").colour.lower()
    assert grid.axes[6].get_ylabel() == "ID-Booth"
    with pytest.raises(ValueError, match="real photo"):
        people_grid([], [faces], ["idbooth"])


def test_the_check_catches_each_breach():
    figure, axis = plt.subplots(figsize=(14, 3))
    axis.plot([0, 1], [0, 1], color="red", label="idbooth")
    axis.plot([0, 1], [1, 0], label="dreambooth", color=series_style("dreambooth")["color"])
    axis.legend(loc="center")  # over the crossing of the two lines
    problems = " | ".join(house_rule_problems(figure))
    assert "px wide" in problems and "no x-axis label" in problems and "no y-axis label" in problems
    assert "idbooth drawn in" in problems and "legend covers" in problems
    figure, axis = plt.subplots()
    axis.plot([0, 1], [0, 1], label="one")
    axis.plot([0, 1], [1, 2], label="two")
    axis.set(xlabel="x", ylabel="y")
    assert any("legend leaves out" in p for p in house_rule_problems(figure))


def test_panels_wrap_into_rows_within_the_column():
    figure, axes = panels(5, (3.2, 2.7))
    assert len(axes) == 5 and figure.get_size_inches()[0] * 100 <= MAX_WIDTH_PIXELS
    assert sum(not axis.get_visible() for axis in figure.axes) == 1


def test_a_setting_of_a_method_keeps_the_methods_colour_and_changes_its_line():
    from idbooth_lib.methods import get_method
    from idbooth_lib.viz import series_style

    first, second = series_style("ID-Booth, paper's LoRA", 0), series_style("ID-Booth, lr 1e-3", 1)
    assert first["color"] == second["color"] == get_method("idbooth").colour
    assert first["linestyle"] != second["linestyle"] and first["marker"] != second["marker"]


def test_the_memorisation_histogram_shows_its_lines_and_an_exact_copy():
    import matplotlib.pyplot as plt

    from idbooth_lib.evaluation.figures import plot_nearest_real

    audit = {"nearest_real_distance": [0.0, 0.2, 0.3, 0.5], "real_baseline_quantile": 0.004, "threshold": 0.002}
    figure = plot_nearest_real({"idbooth": audit})
    axis = figure.axes[0]
    assert axis.get_xscale() == "log"
    assert sum(patch.get_height() for patch in axis.patches) == 4  # the copy at 0 is counted
    low, high = axis.get_xlim()
    assert low < 0.002 and high > 0.5  # both lines and every image inside the axis
    plt.close(figure)
