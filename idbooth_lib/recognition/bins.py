"""insightface's verification benchmark files (``lfw.bin``, ``cfp_fp.bin``, ...): read and write.

A ``.bin`` file is a pickle of ``(images, same)``: ``images`` a list of 2n encoded pictures (JPEG
or PNG bytes, 112×112 aligned faces), pair i being pictures 2i and 2i+1, and ``same`` a list of n
booleans, True where the pair shows one person. The five benchmarks of the paper (LFW, CFP-FP,
CPLFW, AgeDB-30, CALFW) come in this form with insightface's training sets.

Why not ``pickle.load``: unpickling runs whatever callable the file names, so a benchmark file
from a mirror could run code on the reader's machine. The files hold only lists, bytes and
booleans, which pickle restores without naming any callable — with one exception: Python 3
writes ``bytes`` under pickle protocol 2 as a call to ``_codecs.encode``. So :func:`read_bin` uses
an unpickler that resolves that one function and refuses every other name *before* importing or
calling anything, and then checks the shape of what it read.
"""

from __future__ import annotations

import codecs
import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from idbooth_lib.io import atomic_path


class BenchmarkFileError(ValueError):
    """A file that is not a verification benchmark of insightface's form, or not a safe one."""


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of bytes call it, and no other way: any other
    codec (whose lookup imports a module) or argument is refused."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise BenchmarkFileError(f"calls _codecs.encode with {type(text).__name__}, {encoding!r}")
    return codecs.encode(text, "latin1")


#: The only global a benchmark file may name: how protocol-2 pickles of Python 3 restore bytes.
ALLOWED_GLOBALS = {("_codecs", "encode"): _latin1_bytes}


class _BenchmarkUnpickler(pickle.Unpickler):
    """Resolves :data:`ALLOWED_GLOBALS` and nothing else; nothing named is ever imported."""

    def find_class(self, module: str, name: str):
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise BenchmarkFileError(
                f"names {module}.{name}, which a verification benchmark never holds: the file "
                "may run code when unpickled, so it was not read"
            )
        return allowed


@dataclass
class VerificationPairs:
    """The pairs of one benchmark: ``images`` (2n, H, W, 3) uint8 RGB, pair i = rows 2i, 2i+1."""

    name: str
    images: np.ndarray
    same: np.ndarray

    def __len__(self) -> int:
        return len(self.same)


def read_bin(path: str | Path) -> VerificationPairs:
    """Read a ``.bin`` benchmark safely; a ``BenchmarkFileError`` names the file and the problem."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            loaded = _BenchmarkUnpickler(handle, encoding="bytes").load()
    except BenchmarkFileError as error:
        raise BenchmarkFileError(f"{path} {error}") from None
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, KeyError,
            IndexError, AttributeError, MemoryError) as error:  # fmt: skip
        raise BenchmarkFileError(
            f"{path} is not a readable verification benchmark ({error}); download it again"
        ) from None
    images, same = _check_layout(path, loaded)
    return VerificationPairs(path.stem, _decode_all(path, images), np.asarray(same, bool))


def _check_layout(path: Path, loaded) -> tuple[list[bytes], list]:
    if not (isinstance(loaded, tuple | list) and len(loaded) == 2):
        raise BenchmarkFileError(f"{path} does not hold the pair (images, same) of a benchmark")
    images, same = loaded
    if not isinstance(images, list | tuple) or not all(isinstance(i, bytes) for i in images):
        raise BenchmarkFileError(f"{path}: the first item is not a list of encoded images")
    if not isinstance(same, list | tuple) or not all(s in (0, 1) for s in same):
        raise BenchmarkFileError(f"{path}: the second item is not a list of booleans")
    if not same or len(images) != 2 * len(same):
        raise BenchmarkFileError(
            f"{path} holds {len(images)} images for {len(same)} pairs; a benchmark holds two "
            "images per pair"
        )
    return list(images), list(same)


#: The largest side a benchmark picture may have: the benchmarks hold 112×112 aligned faces, and
#: the size is read from the header before anything is decoded, so a crafted file cannot make the
#: reader decode huge images.
MAX_SIDE = 1024


def _decode_all(path: Path, images: list[bytes]) -> np.ndarray:
    decoded = []
    for index, data in enumerate(images):
        try:
            with Image.open(io.BytesIO(data)) as image:
                if max(image.size) > MAX_SIDE:
                    raise BenchmarkFileError(
                        f"{path}: image {index} is {image.size[0]}×{image.size[1]}, larger than "
                        f"any face benchmark ({MAX_SIDE} px at most)"
                    )
                decoded.append(np.asarray(image.convert("RGB")))
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
            raise BenchmarkFileError(f"{path}: image {index} cannot be decoded ({error})") from None
    shapes = {image.shape for image in decoded}
    if len(shapes) != 1:
        raise BenchmarkFileError(f"{path}: the images differ in size ({sorted(shapes)})")
    return np.stack(decoded)


def write_bin(path: str | Path, images: np.ndarray, same) -> Path:
    """Write ``images`` (2n, H, W, 3) uint8 and ``same`` (n,) as a ``.bin`` benchmark, the
    pictures PNG-encoded (lossless), pickle protocol 4 (no global is named), atomically."""
    images, same = np.asarray(images, np.uint8), [bool(s) for s in same]
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) != 2 * len(same):
        raise ValueError(
            f"expected (2n, H, W, 3) images for n = {len(same)} pairs, got {images.shape}"
        )
    encoded = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_bytes(pickle.dumps((encoded, same), protocol=4))
    return path


__all__ = [
    "ALLOWED_GLOBALS",
    "BenchmarkFileError",
    "VerificationPairs",
    "read_bin",
    "write_bin",
]
