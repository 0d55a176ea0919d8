"""The versions a constraints file pins, checked against an environment, and the check's record.

    python tools/compat_versions.py check compat/colab-gpu.txt
    python tools/compat_versions.py record compat/colab-gpu.txt PYTEST_LOG RESULT_JSON

Run by ``tools/colab_check.sh`` with the interpreter of the environment it built. ``check`` fails
when the library's install moved a pinned package (on Colab that would mean a reinstalled torch);
``record`` writes what was installed and what pytest counted, with the date and the commit, so
that the last result of ``make colab-check`` is committed beside the constraints it used.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

#: Packages whose versions the record names, pinned or not: the diffusion and face stack.
REPORTED = (
    "torch", "torchvision", "diffusers", "transformers", "peft", "accelerate", "numpy",
    "huggingface-hub", "safetensors", "insightface", "onnxruntime", "ipywidgets", "setuptools",
)  # fmt: skip


def pinned_versions(constraints: Path) -> dict[str, str]:
    """``name==version`` lines of a constraints file (comments and other specifiers skipped)."""
    pins = {}
    for line in constraints.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", line)
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def same_release(installed: str, pinned: str) -> bool:
    """``2.11.0+cu128`` is the release ``2.11.0`` pins: local build tags do not count."""
    return installed.split("+")[0] == pinned.split("+")[0]


def moved_pins(constraints: Path) -> list[str]:
    """One line for each pinned package the environment does not hold at its pinned version."""
    moved = []
    for name, pinned in pinned_versions(constraints).items():
        installed = installed_version(name)
        if installed is None or not same_release(installed, pinned):
            moved.append(f"{name}: pinned {pinned}, installed {installed or 'nothing'}")
    return moved


def pytest_counts(log: str) -> dict[str, int]:
    """The counts of pytest's closing line (``3 failed, 420 passed, 2 skipped in 300.1s``)."""
    closing = [line for line in log.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    if not closing:
        return {}
    return {word: int(count) for count, word in re.findall(r"(\d+) (\w+)", closing[-1])
            if word in ("passed", "failed", "skipped", "errors", "error", "deselected")}  # fmt: skip


def failed_tests(log: str) -> list[str]:
    return re.findall(r"^(?:FAILED|ERROR) (\S+)", log, flags=re.MULTILINE)


def source_commit() -> str:
    """The checkout's commit, ``-dirty`` when files differ from it."""
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def record(arguments) -> dict:
    log = Path(arguments.log).read_text()
    return {
        "date": datetime.date.today().isoformat(),
        "commit": arguments.commit or source_commit(),
        "constraints": str(arguments.constraints),
        "python": sys.version.split()[0],
        "versions": {name: installed_version(name) for name in REPORTED},
        "moved_pins": moved_pins(Path(arguments.constraints)),
        "pytest": pytest_counts(log),
        "failed": failed_tests(log),
        "install_seconds": arguments.install_seconds,
        "seconds": arguments.seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="fail when a pinned package moved")
    check.add_argument("constraints", type=Path)
    write = commands.add_parser("record", help="write the result file")
    write.add_argument("constraints", type=Path)
    write.add_argument("log", type=Path)
    write.add_argument("result", type=Path)
    write.add_argument("--install-seconds", type=int, default=None)
    write.add_argument("--seconds", type=int, default=None)
    write.add_argument("--commit", default=None, help="the commit installed (default: HEAD now)")
    arguments = parser.parse_args(argv)
    if arguments.command == "check":
        moved = moved_pins(arguments.constraints)
        for line in moved:
            print(f"moved: {line}", file=sys.stderr)
        return 1 if moved else 0
    result = record(arguments)
    arguments.result.parent.mkdir(parents=True, exist_ok=True)
    arguments.result.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{arguments.result}: {result['pytest']} with {result['versions']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
