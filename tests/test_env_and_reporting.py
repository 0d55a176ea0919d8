"""The environment report of chapter 00, seeding, and Markdown tables."""

import random

import numpy as np
import pytest
import torch

from idbooth_lib import env
from idbooth_lib.reporting import markdown_table


def test_environment_report_describes_this_machine():
    report = env.environment_report()
    assert report.cpu_count >= 1
    assert report.device in ("cpu", "cuda", "mps")
    # the distribution's version, as pip reports it: torch's own string less any "+cu…" suffix
    assert report.packages["torch"] == torch.__version__.split("+")[0]
    assert report.packages["idbooth-book"] == __import__("idbooth_lib").__version__
    rows = dict(report.rows())
    assert rows["in_colab"] in ("True", "False")
    assert "torch" in rows and "python" in rows


def test_missing_package_is_reported_as_such():
    assert env.package_version("surely-not-an-installed-distribution") is None


def test_colab_detection(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert env.in_colab() is False
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_2026")
    assert env.in_colab() is True


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    env.seed_everything(7)
    first = draw()
    env.seed_everything(7)
    assert draw() == first


def test_markdown_table():
    table = markdown_table(["a", "b"], [(1, "x|y")])
    assert str(table).splitlines() == ["| a | b |", "| --- | --- |", "| 1 | x\\|y |"]
    assert table._repr_markdown_() == str(table)
    with pytest.raises(ValueError):
        markdown_table(["a", "b"], [(1,)])


def test_each_process_gets_its_own_gpu(monkeypatch):
    """``cuda`` under ``accelerate launch`` means this process's GPU; ``cuda:1`` is kept; without
    a GPU everything runs on the CPU."""
    from types import SimpleNamespace

    def config(device):
        return SimpleNamespace(device=device)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert env.process_device(config("cuda")) == torch.device("cpu")
    assert env.process_device(config("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(env, "process_state", lambda config: SimpleNamespace(local_process_index=3))
    assert env.process_device(config("cuda")) == torch.device("cuda", 3)
    assert env.process_device(config("cuda:1")) == torch.device("cuda", 1)


def test_a_table_wider_than_the_page_is_refused_with_the_fix():
    from idbooth_lib.reporting import MAX_COLUMNS, markdown_table

    markdown_table([str(i) for i in range(MAX_COLUMNS)], [])
    with pytest.raises(ValueError, match="split it or join cells"):
        markdown_table([str(i) for i in range(MAX_COLUMNS + 1)], [])


def test_numbers_are_rounded_to_what_they_support():
    from idbooth_lib.reporting import number

    assert number(None) == "–" and number(0.34712) == "0.347" and number(0.5, 2) == "0.50"
    assert number(22381.87, 2) == "22,382" and number(-150.4) == "-150"


def test_a_chapter_shows_the_librarys_own_source():
    from idbooth_lib.reporting import show_source
    from idbooth_lib.training.losses import triplet_loss

    listing = show_source(triplet_loss)
    assert listing.name == "idbooth_lib.training.losses.triplet_loss"
    assert str(listing).startswith("def triplet_loss(") and "F.relu(" in str(listing)
    assert listing._repr_markdown_().count("```") == 2


def test_a_long_command_is_wrapped_into_lines_the_shell_joins():
    from idbooth_lib.reporting import wrapped_command

    command = "idbooth tradeoff --output STUDY " + " ".join(f"--set train.x{i}={i}" for i in range(12))
    wrapped = wrapped_command(command, width=60)
    lines = wrapped.splitlines()
    assert len(lines) > 2 and all(len(line) <= 60 for line in lines)
    assert all(line.endswith(" \\") for line in lines[:-1])
    assert " ".join(line.removesuffix(" \\").strip() for line in lines) == command
    assert wrapped_command("idbooth env") == "idbooth env"
    made_elsewhere = "idbooth tradeoff --set models.base_model=/work/exp/foundation-9000 --output /a/b"
    assert wrapped_command(made_elsewhere) == (
        "idbooth tradeoff --set models.base_model=foundation-9000 --output b")


def test_the_environment_report_names_the_system_not_the_kernel_release():
    import platform

    from idbooth_lib.env import environment_report

    shown = environment_report().platform
    assert shown == f"{platform.system()} {platform.machine()}"
    assert platform.release() not in shown  # the building machine's kernel stays off the page
