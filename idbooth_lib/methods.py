"""The fine-tuning methods the book compares, one record each: the one place a method is named.

A method differs from another only by its identity term (chapter 03), so its record holds that
term beside how the method is named and drawn. Everything that lists, checks or shows methods —
the profile's ``train.method``, the command line, the loss, the studies, the report, the figures
— reads this registry; a new method is one :func:`register_method` call (the tests register a
fourth one without touching the library).

Every table, figure and reading of the book shows a method the same way: by its display name, in
its colour, with its marker, wherever it appears. A figure that picked colours per plot (the first
line blue, the second orange) would give ID-Booth a different colour in each panel that leaves a
method out, and a reader who learned "green is ID-Booth" on one page would misread the next.

The colours are from the Okabe-Ito palette, which stays distinguishable to readers with the common
colour-vision deficiencies; the markers differ too, so that a greyscale print still tells the
methods apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: ``term(anchor, positive, negative, margin)`` → the identity loss of each sample: ``anchor`` the
#: recogniser's embeddings of the clean-image estimates, ``positive`` the real photos',
#: ``negative`` the prior (class) images' (None unless the method asks for them).
IdentityTerm = Callable


class BuiltInTerm:
    """Says that a built-in method's identity term is the training stage's own (chapter 03's
    ``identity_loss`` and ``triplet_loss`` in :mod:`idbooth_lib.training.losses`)."""

    def __repr__(self) -> str:
        return "BUILT_IN_TERM"


#: The identity term of a built-in method: defined in the training stage's losses, found there by
#: the method's name (:func:`idbooth_lib.training.losses.term_of`).
BUILT_IN_TERM = BuiltInTerm()


@dataclass(frozen=True)
class Method:
    """One fine-tuning method: its identity term, and how it is named and drawn."""

    name: str  # as written in configs and on the command line: ``train.method=idbooth``
    display_name: str  # as a reader sees it in tables and legends
    short_name: str  # in the report's compact comparisons: ``ID − PB``
    colour: str
    marker: str
    #: The per-sample identity term, or None for no identity term (DreamBooth). A method
    #: registered in code passes its function; the built-in ones say :data:`~idbooth_lib.methods.BUILT_IN_TERM`: their
    #: terms are defined beside the other losses in the training stage, which finds them by the
    #: method's name, so that this module, which every stage reads, neither imports nor names it.
    identity_term: IdentityTerm | BuiltInTerm | None = None
    #: Whether the term needs the embeddings of the prior (class) images (ID-Booth's push).
    uses_prior_embeddings: bool = False

    @property
    def has_identity_term(self) -> bool:
        return self.identity_term is not None


#: The three methods of the paper, in the order the book shows them (weakest objective first).
BUILT_IN = (
    Method("dreambooth", "DreamBooth", "DB", "#e69f00", "s"),
    Method("portraitbooth", "PortraitBooth", "PB", "#56b4e9", "^", BUILT_IN_TERM),
    Method("idbooth", "ID-Booth", "ID", "#009e73", "o", BUILT_IN_TERM,
           uses_prior_embeddings=True),  # fmt: skip
)
_REGISTRY: dict[str, Method] = {method.name: method for method in BUILT_IN}
#: The paper's three methods: what its tables report and what the book's studies run by default.
PAPER_METHODS = tuple(method.name for method in BUILT_IN)


def register_method(method: Method) -> Method:
    """Add ``method`` to the registry (after the built-in ones); its name must be new."""
    if method.name in _REGISTRY:
        raise ValueError(f"a method named {method.name!r} is already registered")
    taken = {m.colour.lower(): m.name for m in _REGISTRY.values()} | {
        colour: "a reference line" for colour in REFERENCE_COLOURS.values()}  # fmt: skip
    if method.colour.lower() in taken:
        raise ValueError(f"{method.colour} is already {taken[method.colour.lower()]}'s colour: "
                         "a reader tells methods apart by it")  # fmt: skip
    _REGISTRY[method.name] = method
    return method


def unregister_method(name: str) -> None:
    """Remove a method registered with :func:`register_method` (the built-in ones stay)."""
    if name in {method.name for method in BUILT_IN}:
        raise ValueError(f"{name!r} is built in and cannot be removed")
    _REGISTRY.pop(name, None)

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


def check_methods(names) -> None:
    """Refuse any name that is not a registered method, listing the choices, before anything
    heavy starts (a plan's methods, a profile's ``train.method``)."""
    unknown = sorted(set(names) - set(_REGISTRY))
    if unknown:
        raise ValueError(f"unknown methods {unknown}: choose from {', '.join(_REGISTRY)}")


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
