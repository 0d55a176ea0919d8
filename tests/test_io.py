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
