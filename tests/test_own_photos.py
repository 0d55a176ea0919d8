"""Chapter 08's photos: consent first; one person's photos gathered once, never mixed with another's."""

import json

import pytest

import idbooth_lib.data.own_photos as own_photos
from idbooth_lib.data.own_photos import (
    ConsentRequired,
    gather_photos,
    photo_source,
    require_consent,
)


def _photos(folder, count, shade=0):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.new("RGB", (8, 8), (shade, index * 20, 0)).save(folder / f"{index}.png")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_nothing_runs_without_the_confirmation_of_consent():
    with pytest.raises(ConsentRequired, match="I_HAVE_CONSENT"):
        require_consent(False)
    require_consent(True)


def test_photos_are_gathered_into_one_folder_for_the_person(tmp_path):
    source = _photos(tmp_path / "drive", 5)
    folder = gather_photos(source, tmp_path / "work" / "photos", "me")
    assert folder == tmp_path / "work" / "photos" / "me"
    assert sorted(path.name for path in folder.iterdir()) == [f"{i}.png" for i in range(5)]
    metadata = json.loads((tmp_path / "work" / "photos" / "metadata.json").read_text())
    assert metadata == {"identities": {"me": {"gender": "female"}}}  # prepare reads it
    uploaded = sorted(source.glob("*.png"))[:3]  # a list of files, as an upload gives
    assert len(list(gather_photos(uploaded, tmp_path / "other", "me").iterdir())) == 3


def test_the_same_photos_resume_and_other_photos_are_refused_untouched(tmp_path):
    source = _photos(tmp_path / "drive", 5)
    folder = gather_photos(source, tmp_path / "photos", "me")
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert gather_photos(source, tmp_path / "photos", "me") == folder  # a resumed run
    someone_else = _photos(tmp_path / "elsewhere", 5, shade=200)
    with pytest.raises(FileExistsError, match="another run"):
        gather_photos(someone_else, tmp_path / "photos", "me")
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def test_a_second_person_keeps_the_first_persons_gender(tmp_path):
    gather_photos(_photos(tmp_path / "a", 3), tmp_path / "photos", "ann", "female")
    gather_photos(_photos(tmp_path / "b", 3, shade=90), tmp_path / "photos", "bob", "male")
    metadata = json.loads((tmp_path / "photos" / "metadata.json").read_text())
    assert metadata["identities"] == {"ann": {"gender": "female"}, "bob": {"gender": "male"}}
    with pytest.raises(ValueError, match="male"):
        gather_photos(tmp_path / "a", tmp_path / "photos", "ann", "woman")


def test_too_few_photos_or_no_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="at least two"):
        gather_photos(_photos(tmp_path / "one", 1), tmp_path / "photos")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        gather_photos(tmp_path / "absent", tmp_path / "photos")
    assert not (tmp_path / "photos").exists()


def test_a_resumed_run_reuses_the_gathered_photos_without_the_upload_dialog(tmp_path, monkeypatch):
    def dialog(folder):
        raise AssertionError("the upload dialog opened again")

    monkeypatch.setattr(own_photos, "upload_photos", dialog)
    work = tmp_path / "work"
    folder = gather_photos(_photos(tmp_path / "drive", 5), work / "photos", "me")
    assert photo_source("", work / "photos", "me", work / "uploads") == folder
    assert gather_photos(folder, work / "photos", "me") == folder  # gathering it again is a no-op
    assert photo_source(tmp_path / "drive", work / "photos", "me", work / "uploads") == tmp_path / "drive"


def test_without_gathered_photos_the_upload_dialog_opens(tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr(own_photos, "upload_photos", lambda folder: opened.append(folder) or folder)
    assert photo_source("", tmp_path / "photos", "me", tmp_path / "uploads") == tmp_path / "uploads"
    assert opened == [tmp_path / "uploads"]


def test_stand_ins_follow_the_runtime_unless_chosen(monkeypatch, capsys):
    import torch

    from idbooth_lib.standin import use_standins

    monkeypatch.delenv("IDBOOTH_STANDIN", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert use_standins(None) is True and "no CUDA GPU is seen" in capsys.readouterr().out
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert use_standins(None) is False and "the real models" in capsys.readouterr().out
    assert use_standins(True) is True and "as set" in capsys.readouterr().out


def test_the_book_build_decides_for_stand_ins_through_the_environment(monkeypatch, capsys):
    import torch

    from idbooth_lib.standin import use_standins

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("IDBOOTH_STANDIN", "1")
    assert use_standins(None) is True and "IDBOOTH_STANDIN=1" in capsys.readouterr().out
    assert use_standins(False) is False  # a reader's own choice wins
