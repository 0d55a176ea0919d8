"""The toy text vocabulary: caption words, made-up names for pretraining identities, rare tokens.

Stable Diffusion's CLIP tokenizer reads a byte-level BPE vocabulary (``vocab.json``) and its merge
rules (``merges.txt``). The toy model uses the very same ``CLIPTokenizer`` class with a small
vocabulary of its own, learned here with Hugging Face ``tokenizers`` so that every word the toy
world uses — and every rare token such as ``sks`` — is exactly one token.

Names matter: DreamBooth works because Stable Diffusion learned to draw people *by name* from its
captions. The toy model learns the same from captions that name pretraining identities with made-up
words (:func:`identity_name`); ``sks`` and the other :data:`RARE_TOKENS` are kept out of pretraining
so that, as in the paper, fine-tuning binds a new identity to a token the model never used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from idbooth_lib.toy.faces import BACKGROUNDS

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


def build_tokenizer(folder: str | Path, names: list[str]) -> None:
    """Learn a CLIP-compatible BPE vocabulary in which every word is one token; write it to
    ``folder`` (``vocab.json``, ``merges.txt``) together with a ``CLIPTokenizer``'s own files."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    words = [*CAPTION_WORDS, *RARE_TOKENS, *names, ",", "-"]
    tokenizer = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=1_000_000,  # large enough that merging only stops when every word is whole
        min_frequency=1,
        initial_alphabet=alphabet,
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    tokenizer.train_from_iterator(words, trainer=trainer)
    learned = json.loads(tokenizer.to_str())["model"]
    vocabulary = dict(learned["vocab"])
    # CLIP's vocabulary holds every byte both as a word piece and as a word end.
    for symbol in alphabet:
        vocabulary.setdefault(symbol, len(vocabulary))
        vocabulary.setdefault(symbol + "</w>", len(vocabulary))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocabulary.setdefault(special, len(vocabulary))
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in learned["merges"]]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocabulary, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
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
