"""The toy text vocabulary: caption words, made-up names for pretraining identities, rare tokens.

Stable Diffusion's CLIP tokenizer reads a byte-level BPE vocabulary (``vocab.json``) and its merge
rules (``merges.txt``). The toy model uses the very same ``CLIPTokenizer`` class with a small
vocabulary of its own, learned here by byte-pair merging so that every word the toy world uses —
and every rare token such as ``sks`` — is exactly one token, and the same words always get the
same token ids.

Names matter: DreamBooth works because Stable Diffusion learned to draw people *by name* from its
captions. The toy model learns the same from captions that name pretraining identities with made-up
words (:func:`identity_name`); ``sks`` and the other :data:`RARE_TOKENS` are kept out of pretraining
so that, as in the paper, fine-tuning binds a new identity to a token the model never used.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np

from idbooth_lib.vocabulary import BACKGROUNDS

#: Tokens in the vocabulary that pretraining never uses; ``sks`` is the paper's instance token.
RARE_TOKENS: tuple[str, ...] = ("sks", "zwx", "qpv", "vtk", "xjq")

#: Words of the captions and prompts the book uses (the paper's negative prompt included).
CAPTION_WORDS: tuple[str, ...] = tuple(
    sorted(
        {
            *[
                "face",
                "portrait",
                "side",
                "photo",
                "of",
                "a",
                "male",
                "female",
                "person",
                "background",
            ],
            *(word for background in BACKGROUNDS for word in background.split()),
            *[
                "cartoon",
                "cgi",
                "render",
                "illustration",
                "painting",
                "drawing",
                "black",
                "and",
                "white",
                "bad",
                "body",
            ],
            *["proportions", "landscape"],
        }
    )
)

_CONSONANTS = "bdfghklmnprstvz"
_VOWELS = "aeiou"


def identity_name(index: int, seed: int = 0) -> str:
    """A made-up, pronounceable name for pretraining identity ``index`` (e.g. ``"dokavi"``).

    Names are drawn without replacement from consonant-vowel syllables, so no two identities share
    one, no name is an English caption word, and none collides with a rare token.
    """
    return _name_table(seed, index + 1)[index]


def _name_table(seed: int, count: int) -> list[str]:
    rng = np.random.default_rng(seed)
    names: list[str] = []
    taken = set(CAPTION_WORDS) | set(RARE_TOKENS)
    while len(names) < count:
        syllables = rng.integers(2, 4)
        name = "".join(
            rng.choice(list(_CONSONANTS)) + rng.choice(list(_VOWELS)) for _ in range(syllables)
        )
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def identity_names(count: int, seed: int = 0) -> list[str]:
    """Names of identities ``0 .. count - 1`` (one call, instead of ``count`` table builds)."""
    return _name_table(seed, count)


def learn_merges(words: list[str]) -> list[tuple[str, str]]:
    """Byte-pair merges that make every word in ``words`` a single symbol, in a fixed order.

    Written here rather than taken from Hugging Face ``tokenizers``' ``BpeTrainer``: that trainer
    breaks ties between equally frequent pairs in hash order, so it numbers the vocabulary
    differently on every run, and a text encoder trained on one numbering is useless with another.
    The algorithm is the usual one: count adjacent pairs over all words, merge the most frequent,
    repeat. Ties go to the alphabetically first pair, which makes the result reproducible.
    """
    segmented = [_byte_symbols(word) for word in dict.fromkeys(words)]
    merges: list[tuple[str, str]] = []
    while True:
        counts = Counter(pair for symbols in segmented for pair in pairwise(symbols))
        if not counts:
            return merges
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        segmented = [_merge_pair(symbols, best) for symbols in segmented]


def _byte_symbols(word: str) -> list[str]:
    """``word`` as byte-level symbols (GPT-2's printable byte alphabet), the last marked ``</w>``."""
    mapped = "".join(piece for piece, _ in _byte_level().pre_tokenize_str(word))
    return [*mapped[:-1], mapped[-1] + "</w>"]


@functools.cache
def _byte_level():
    """The byte-level pre-tokenizer CLIP uses, without its word-splitting regex."""
    from tokenizers import pre_tokenizers

    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)


def _merge_pair(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    """``symbols`` with every occurrence of ``pair`` (left to right) joined into one symbol."""
    if pair[0] not in symbols:
        return symbols
    merged, index = [], 0
    while index < len(symbols):
        if index + 1 < len(symbols) and (symbols[index], symbols[index + 1]) == pair:
            merged.append(pair[0] + pair[1])
            index += 2
        else:
            merged.append(symbols[index])
            index += 1
    return merged


def build_tokenizer(folder: str | Path, names: list[str]) -> None:
    """Write a CLIP-compatible BPE vocabulary in which every word is one token to ``folder``
    (``vocab.json``, ``merges.txt``) together with a ``CLIPTokenizer``'s own files.

    The same ``names`` always give byte-identical files, laid out like CLIP's own vocabulary:
    the 256 byte symbols (sorted), the same with ``</w>``, one token per merge in merge order,
    then the two specials.
    """
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    words = [*CAPTION_WORDS, *RARE_TOKENS, *names, ",", "-"]
    merges = learn_merges(words)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = [*alphabet, *(symbol + "</w>" for symbol in alphabet)]
    tokens += [left + right for left, right in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocabulary = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocabulary, ensure_ascii=False))
    merge_lines = [f"{left} {right}" for left, right in merges]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merge_lines) + "\n")
    clip = CLIPTokenizer(
        str(folder / "vocab.json"),
        str(folder / "merges.txt"),
        model_max_length=77,
        pad_token="<|endoftext|>",
    )
    clip.save_pretrained(str(folder))
    for word in words:
        if len(clip.tokenize(word)) != 1:
            raise RuntimeError(f"the toy vocabulary splits {word!r}: {clip.tokenize(word)}")
