"""No result is typed into a chapter's prose: numbers that a rerun would change reach the page from
a cell's output (``idbooth_lib.experiments.readings`` and the chapters' own cells), never from the
Markdown around them.

What counts as a typed result: a decimal with two or more places (``0.879``), a signed number
(``+0.055``, ``−0.013``) or a count of the form ``9 of 12``. What may stay typed is listed in
:data:`NOT_RESULTS` with the reason: the paper's own numbers, constants of a model or protocol,
versions, and arithmetic on settings. A chapter that types a new result fails here; the fix is a
reading from the results, or, for a number no rerun can change, a line in this list.
"""

import json
import re

import pytest
from conftest import ROOT

#: A decimal of two places or more, a number with a sign, or "N of (the) M".
RESULT_LIKE = re.compile(r"(?<![\w.])[+−-]?\d+\.\d{2,}(?![\w])|(?<![\w.])[+−]\d+(?:\.\d+)?(?![\w])|\b\d+ of (?:the )?\d+\b")

#: Numbers that are not results, by page, each with why it may stay typed.
NOT_RESULTS = {
    "02_latent_diffusion": {"0.18215": "SD's VAE scaling factor, a constant of the model"},
    "03_identity_objective": {"−90": "an angle of the circle figure's construction"},
    "06_evaluation": {"0.52": "arithmetic on the prompt plan: 11 frontal prompts of 21"},
    "07_recognition": {
        "0.01": "the step of insightface's threshold grid",
        "3.99": "the end of insightface's threshold grid",
        "0.45": "bytes of a 6,000-pair benchmark in memory, arithmetic on its size",
        "0.53": "bytes of CFP-FP's 7,000 pairs in memory, arithmetic on its size",
    },
    "08_your_photos": {"0.34": "a diffusers version", "0.15": "a peft version", "0.39": "a diffusers version"},
    "report": {"0.01": "the threshold the data check applies, a setting"},
}

PAGES = {path.stem: path for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
PAGES["report"] = ROOT / "book" / "report.ipynb"


def prose(text: str) -> str:
    """Markdown without what is not prose: code blocks and spans, formulas, link targets, URLs."""
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.DOTALL)
    text = re.sub(r"\$[^$\n]*\$", "", text)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.sub(r"https?://\S+", "", text)


def typed_results(page) -> list[str]:
    """Every result-like number in a page's Markdown cells that is not listed as a non-result."""
    cells = json.loads(page.read_text(encoding="utf-8"))["cells"]
    allowed = NOT_RESULTS.get(page.stem, {})
    found = []
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        text = prose("".join(cell["source"]))
        for match in RESULT_LIKE.finditer(text):
            if match.group() not in allowed:
                found.append(f"{match.group()!r} in “…{text[max(0, match.start() - 40):match.end() + 20]}…”")
    return found


@pytest.mark.parametrize("page", sorted(PAGES))
def test_no_result_is_typed_into_the_prose(page):
    assert typed_results(PAGES[page]) == []


def test_every_listed_non_result_is_still_on_its_page():
    """The list stays short: a number no longer on its page is taken off it."""
    for page, allowed in NOT_RESULTS.items():
        text = " ".join(prose("".join(cell["source"])) for cell in
                        json.loads(PAGES[page].read_text(encoding="utf-8"))["cells"] if cell["cell_type"] == "markdown")  # fmt: skip
        for number in allowed:
            assert number in text, (page, number)


def test_the_check_finds_a_typed_result(tmp_path):
    page = tmp_path / "99_made_up.ipynb"
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "ID-Booth reaches 0.879, +0.05 over 9 of 12 rows; `0.5` and $0.25$ are code and maths."}]  # fmt: skip
    page.write_text(json.dumps({"cells": cells}))
    assert [found.split(" in ")[0] for found in typed_results(page)] == ["'0.879'", "'+0.05'", "'9 of 12'"]
