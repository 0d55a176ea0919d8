"""A deliberately messy photo folder: every kind of trouble real photo folders have.

Chapter 01 runs ``idbooth prepare`` on it to show the report, and the tests check that each
problem is reported and none stops the run. Each entry is made with Pillow from toy faces.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from idbooth_lib.toy_world.faces import ToyFaceWorld

#: Orientation 6 means "rotate 90° clockwise to display": the pixels are stored lying on their side.
EXIF_ORIENTATION_TAG = 0x0112


def _jpeg_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, **options)
    return buffer.getvalue()


def write_messy_folder(destination: str | Path, world_seed: int = 0) -> Path:
    """Write the messy folder (identities ``alice``, ``Zoë`` and ``empty``) into ``destination``."""
    world = ToyFaceWorld(seed=world_seed)

    def face(identity: int, image: int = 0) -> Image.Image:
        return world.face(identity, image, "constrained").image

    source = Path(destination)
    alice, zoe, empty = source / "alice", source / "Zoë", source / "empty"
    for folder in (alice, zoe, empty):
        folder.mkdir(parents=True)
    face(0).save(alice / "plain.png")
    face(0, 1).convert("L").save(alice / "gray.png")
    rgba = face(0, 2).convert("RGBA")
    rgba.putalpha(200)
    rgba.save(alice / "rgba.png")
    face(0, 3).convert("CMYK").save(alice / "cmyk.jpg", quality=95)
    deep = np.asarray(face(0, 4).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(deep).save(alice / "deep.png")
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = 6
    sideways = face(0, 5).transpose(Image.Transpose.ROTATE_90)
    (alice / "sideways.jpg").write_bytes(_jpeg_bytes(sideways, exif=exif.tobytes()))
    whole = _jpeg_bytes(face(0, 6))
    (alice / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (alice / "notes.txt").write_text("not a photo")
    face(0, 7).save(alice / "copy_a.png")
    shutil.copyfile(alice / "copy_a.png", alice / "copy_b.png")
    face(0, 8).save(alice / "Zoë_李.png")
    face(0, 9).save(alice / "Zoe_李.png")
    face(0).resize((8, 8)).save(alice / "tiny.png")
    strip = Image.new("RGB", (128, 64))
    strip.paste(face(1), (0, 0))
    strip.paste(face(2), (64, 0))
    strip.save(alice / "group.png")
    Image.new("RGB", (64, 64), (120, 140, 160)).save(alice / "blank.png")
    face(3).save(zoe / "portrait.png")
    (source / "README.md").write_text("one folder per person")
    (source / ".ipynb_checkpoints").mkdir()  # Jupyter leaves these everywhere
    (alice / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return source
