"""The ``idbooth`` console script: the installed entry point and each sub-command."""

import json
import shutil
import subprocess
import sys

import pytest

from idbooth_lib.cli import main


def test_console_script_is_installed():
    executable = shutil.which("idbooth") or str(
        __import__("pathlib").Path(sys.executable).with_name("idbooth")
    )
    result = subprocess.run([executable, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("idbooth ")


def test_config_prints_overridden_profile(capsys):
    assert main(["config", "--profile", "sd21", "--set", "train.max_steps=9"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["name"] == "sd21" and printed["train"]["max_steps"] == 9


def test_config_rejects_unknown_setting(capsys):
    assert main(["config", "--set", "train.nope=1"]) == 2
    assert "unknown setting 'train.nope'" in capsys.readouterr().err


def test_env_prints_report(capsys):
    assert main(["env"]) == 0
    assert "torch" in capsys.readouterr().out


def test_toy_data_writes_layout(tmp_path, capsys):
    destination = tmp_path / "faces"
    arguments = ["toy-data", str(destination), "--identities", "2", "--images-per-identity", "3"]
    assert main([*arguments, "--mode", "wild", "--seed", "4", "--quiet"]) == 0
    assert "wrote 6 wild toy faces" in capsys.readouterr().out
    assert len(list(destination.glob("*/*.png"))) == 6
    metadata = json.loads((destination / "metadata.json").read_text())
    assert metadata["seed"] == 4 and metadata["mode"] == "wild"


def test_toy_data_refuses_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "holiday.jpg").write_bytes(b"not ours")
    assert main(["toy-data", str(tmp_path), "--identities", "1", "--quiet"]) == 2
    assert str(tmp_path) in capsys.readouterr().err
    assert (tmp_path / "holiday.jpg").read_bytes() == b"not ours"


@pytest.mark.parametrize("count", ["0", "-1"])
def test_toy_data_rejects_bad_counts(tmp_path, capsys, count):
    assert main(["toy-data", str(tmp_path / "x"), "--identities", count, "--quiet"]) == 2
    assert "identities" in capsys.readouterr().err
