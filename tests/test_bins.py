"""insightface ``.bin`` benchmarks: round trip, the files Python 2 and 3 wrote, and refusing pickles
that would run code."""

import pickle
import pickletools
import sys

import numpy as np
import pytest

from idbooth_lib.recognition.bins import BenchmarkFileError, read_bin, write_bin


def _pairs(count=3, size=16, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(2 * count, size, size, 3), dtype=np.uint8)
    return images, [index % 2 == 0 for index in range(count)]


def test_written_benchmark_reads_back_exactly(tmp_path):
    images, same = _pairs()
    path = write_bin(tmp_path / "toy.bin", images, same)
    pairs = read_bin(path)
    assert pairs.name == "toy" and len(pairs) == 3
    np.testing.assert_array_equal(pairs.images, images)
    assert pairs.same.tolist() == same
    opcodes = {op.name for op, _, _ in pickletools.genops(path.read_bytes())}
    assert not opcodes & {"GLOBAL", "STACK_GLOBAL", "REDUCE"}  # nothing for a reader to resolve


def test_a_protocol_2_file_of_python_3_reads(tmp_path):
    """Protocol 2 pickles bytes as a call of _codecs.encode: the one name that is admitted."""
    images, same = _pairs(2)
    write_bin(tmp_path / "p4.bin", images, same)
    encoded, flags = pickle.loads((tmp_path / "p4.bin").read_bytes())
    data = pickle.dumps((encoded, flags), protocol=2)
    assert b"_codecs" in data
    (tmp_path / "p2.bin").write_bytes(data)
    np.testing.assert_array_equal(read_bin(tmp_path / "p2.bin").images, images)


class _RunsCode:
    """Unpickling an instance would call ``exec`` with a line that leaves a file behind."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def test_a_crafted_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran.txt"
    path = tmp_path / "evil.bin"
    path.write_bytes(pickle.dumps(([b"x", b"y"], [_RunsCode(marker)]), protocol=2))
    with pytest.raises(BenchmarkFileError, match=r"builtin\w*\.exec"):
        read_bin(path)
    assert not marker.exists()


def test_a_name_in_the_file_is_never_imported(tmp_path):
    module = "idbooth_never_imported_module"
    data = f"c{module}\nboom\n(tR.".encode()  # protocol 0: GLOBAL module.boom, call it
    path = tmp_path / "import.bin"
    path.write_bytes(data)
    with pytest.raises(BenchmarkFileError, match=module):
        read_bin(path)
    assert module not in sys.modules


def test_codecs_encode_is_admitted_only_for_latin1(tmp_path):
    data = b"c_codecs\nencode\n(Vx\nVrot13\ntR."
    path = tmp_path / "codec.bin"
    path.write_bytes(data)
    with pytest.raises(BenchmarkFileError, match="rot13"):
        read_bin(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (([b"a"], [True]), "two images per pair"),
        (([1, 2], [True]), "list of encoded images"),
        (([b"a", b"b"], ["yes"]), "list of booleans"),
        (([b"a", b"b"], [7]), "list of booleans"),
        (([b"not an image", b"b"], [True]), "cannot be decoded"),
        ({"images": []}, "does not hold"),
    ],
)
def test_a_malformed_benchmark_names_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.bin"
    path.write_bytes(pickle.dumps(content, protocol=4))
    with pytest.raises(BenchmarkFileError, match=message) as raised:
        read_bin(path)
    assert str(path) in str(raised.value)


def test_a_truncated_file_is_a_clear_error(tmp_path):
    images, same = _pairs()
    data = write_bin(tmp_path / "full.bin", images, same).read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(BenchmarkFileError, match="download it again"):
        read_bin(tmp_path / "cut.bin")


def test_a_picture_too_large_for_a_face_benchmark_is_refused_before_decoding(tmp_path):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (2000, 10)).save(buffer, format="PNG")
    path = tmp_path / "huge.bin"
    path.write_bytes(pickle.dumps(([buffer.getvalue(), buffer.getvalue()], [True]), protocol=4))
    with pytest.raises(BenchmarkFileError, match="larger than any face benchmark"):
        read_bin(path)
