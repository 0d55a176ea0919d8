"""One logger per package, one verbosity switch, progress bars only where a person watches."""

import logging

import pytest

from idbooth_lib.logs import package_logger, progress_bar, set_verbosity, verbosity


@pytest.fixture(autouse=True)
def _quiet_again():
    yield
    set_verbosity("quiet")


def test_each_module_logs_as_its_package():
    assert package_logger("idbooth_lib.training.run").name == "idbooth_lib.training"
    assert package_logger("idbooth_lib.checkpoints").name == "idbooth_lib.checkpoints"


def test_the_switch_decides_what_is_shown_and_a_block_can_change_it(capsys):
    log = package_logger("idbooth_lib.data.prepare")
    set_verbosity("quiet")
    log.info("hidden")
    log.warning("a warning")
    set_verbosity("info")
    log.info("shown")
    with verbosity("quiet"):
        log.info("hidden in the block")
    log.info("shown after it")
    shown = capsys.readouterr().out.splitlines()
    assert shown == ["a warning", "shown", "shown after it"]
    assert logging.getLogger("idbooth_lib").getEffectiveLevel() == logging.INFO


def test_progress_bars_only_at_the_progress_verbosity():
    set_verbosity("info")
    assert progress_bar(range(3)).disable
    set_verbosity("progress")
    assert not progress_bar(range(3)).disable
    with pytest.raises(ValueError, match="quiet, info, progress"):
        set_verbosity("loud")


def test_a_command_line_run_shows_the_librarys_lines(tmp_path, capsys):
    from idbooth_lib.cli import main

    assert main(["toy-data", str(tmp_path / "faces"), "--identities", "2",
                 "--images-per-identity", "1", "--quiet"]) == 0  # fmt: skip
    prepared = tmp_path / "prepared"
    assert main(["prepare", str(tmp_path / "faces"), str(prepared), "--quiet"]) == 0
    assert "prepared 2 images of" in capsys.readouterr().out
