"""Atomic writes: a failed write leaves the old file intact and no temporary file behind."""

import json
import os
import stat

import pytest
from PIL import Image

from idbooth_lib.io import atomic_path, save_image, write_json


def test_write_json_and_image(tmp_path):
    write_json(tmp_path / "a" / "meta.json", {"name": "é"})
    assert json.loads((tmp_path / "a" / "meta.json").read_text(encoding="utf-8")) == {"name": "é"}
    save_image(tmp_path / "face.png", Image.new("RGB", (4, 4), "red"))
    assert Image.open(tmp_path / "face.png").getpixel((0, 0)) == (255, 0, 0)
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["a", "face.png", "meta.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "meta.json"
    write_json(target, {"version": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("{half")
        raise RuntimeError("interrupted")
    assert json.loads(target.read_text()) == {"version": 1}
    assert [path.name for path in tmp_path.iterdir()] == ["meta.json"]


def test_finished_files_get_the_usual_permissions(tmp_path):
    """mkstemp makes private 0o600 files; a finished file follows the umask like any other."""
    previous = os.umask(0o027)
    try:
        write_json(tmp_path / "report.json", {"ok": True})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == 0o640


def test_a_results_file_that_cannot_be_read_names_itself_and_its_maker(tmp_path):
    from idbooth_lib.io import read_results

    broken = tmp_path / "results.json"
    broken.write_text('{"plan": ', encoding="utf-8")
    with pytest.raises(ValueError, match=r"results.json is not a readable .*run `make it`"):
        read_results(broken, ("plan",), "make it")
    with pytest.raises(ValueError, match="absent.json is not a readable"):
        read_results(tmp_path / "absent.json", ("plan",), "make it")
    broken.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="lacks plan: it was not written by `make it`"):
        read_results(broken, ("plan",), "make it")


def test_paths_are_shown_relative_to_the_readers_folders(tmp_path):
    from pathlib import Path

    from idbooth_lib.io import shown_path

    assert shown_path(tmp_path / "gen" / "a.png", relative_to=tmp_path) == "gen/a.png"
    assert shown_path(Path.home() / "idbooth" / "runs") == "~/idbooth/runs"
    assert shown_path("~/idbooth") == "~/idbooth"
    assert shown_path("/elsewhere/x", relative_to=tmp_path) == "/elsewhere/x"
    import idbooth_lib

    shipped = Path(idbooth_lib.__file__).parent / "toy" / "weights"
    assert shown_path(shipped) == "idbooth_lib/toy/weights"


def test_notebook_messages_name_files_relative_to_the_work_folder(tmp_path, capsys):
    from idbooth_lib.io import without_folder
    from idbooth_lib.logs import package_logger, set_verbosity, verbosity

    line = f"drew 3 images for 1 run into {tmp_path}/gen; report in {tmp_path}/gen/report.json"
    assert without_folder(line, tmp_path) == "drew 3 images for 1 run into gen; report in gen/report.json"
    set_verbosity("info", relative_to=tmp_path)
    try:
        package_logger("idbooth_lib.generation.generate").info(line)
        with verbosity("quiet"):
            package_logger("idbooth_lib.generation.generate").info("not shown")
    finally:
        set_verbosity("quiet")
    shown = capsys.readouterr().out
    assert shown == "drew 3 images for 1 run into gen; report in gen/report.json\n"
