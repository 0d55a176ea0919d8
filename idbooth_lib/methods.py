"""The fine-tuning methods the book compares, one record each: the one place a method is named.

Every table, figure and reading of the book shows a method the same way: by its display name, in
its colour, with its marker, wherever it appears. A figure that picked colours per plot (the first
line blue, the second orange) would give ID-Booth a different colour in each panel that leaves a
method out, and a reader who learned "green is ID-Booth" on one page would misread the next.

The colours are from the Okabe-Ito palette, which stays distinguishable to readers with the common
colour-vision deficiencies; the markers differ too, so that a greyscale print still tells the
methods apart.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """How one fine-tuning method is named and drawn."""

    name: str  # as written in configs and on the command line: ``train.method=idbooth``
    display_name: str  # as a reader sees it in tables and legends
    short_name: str  # in the report's compact comparisons: ``ID − PB``
    colour: str
    marker: str


#: The three methods of the paper, in the order the book shows them (weakest objective first).
BUILT_IN = (
    Method("dreambooth", "DreamBooth", "DB", "#e69f00", "s"),
    Method("portraitbooth", "PortraitBooth", "PB", "#56b4e9", "^"),
    Method("idbooth", "ID-Booth", "ID", "#009e73", "o"),
)
_REGISTRY: dict[str, Method] = {method.name: method for method in BUILT_IN}

#: Lines that are not a method but appear beside them: the untouched base model and real photos.
REFERENCE_COLOURS = {"base model": "#7f7f7f", "real": "#000000"}


def method_names() -> tuple[str, ...]:
    """The registered methods' names, in the order they are shown."""
    return tuple(_REGISTRY)


def get_method(name: str) -> Method:
    """The record of ``name``; a clear error listing the known names for anything else."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(_REGISTRY)
        raise ValueError(f"unknown method {name!r}; choose one of {known}") from None


def find_method(label: str) -> Method | None:
    """The method a plot label stands for (its name or display name, case-blind), else None."""
    wanted = label.strip().lower()
    for method in _REGISTRY.values():
        if wanted in (method.name, method.display_name.lower()):
            return method
    return None


def display_name(name: str) -> str:
    """A method's display name; any other label is returned as it is."""
    method = find_method(name)
    return method.display_name if method else name
