"""The toy vocabulary: every caption word, name and rare token is a single CLIP token."""

import pytest
from transformers import CLIPTokenizer

from idbooth_lib.toy.tokenizer import (
    CAPTION_WORDS,
    RARE_TOKENS,
    build_tokenizer,
    identity_name,
    identity_names,
)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer(folder, identity_names(50))
    return CLIPTokenizer.from_pretrained(folder)


def test_sks_is_one_token(tokenizer):
    assert tokenizer.tokenize("photo of sks person") == [
        "photo</w>",
        "of</w>",
        "sks</w>",
        "person</w>",
    ]
    assert tokenizer.model_max_length == 77


def test_caption_words_and_names_are_single_tokens(tokenizer):
    for word in [*CAPTION_WORDS, *RARE_TOKENS, *identity_names(50)]:
        assert len(tokenizer.tokenize(word)) == 1, word
    prompt = "face side-portrait photo of female sks person, night club background"
    assert len(tokenizer.tokenize(prompt)) == 13


def test_names_are_unique_and_stable():
    names = identity_names(500)
    assert len(set(names)) == 500
    assert identity_name(7) == names[7]
    assert not set(names) & (set(CAPTION_WORDS) | set(RARE_TOKENS))


def test_unknown_words_still_tokenize(tokenizer):
    assert len(tokenizer("an unheard-of word").input_ids) > 2


def _vocabulary_files(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_the_same_names_give_byte_identical_vocabularies(tmp_path):
    """A retrained text encoder only matches the shipped one if token ids never change: two
    builds in processes with different hash seeds must write the same files."""
    import os
    import subprocess
    import sys

    script = (
        "import sys; from idbooth_lib.toy.tokenizer import build_tokenizer, identity_names;"
        "build_tokenizer(sys.argv[1], identity_names(300))"
    )
    for hash_seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / hash_seed)], check=True, env=environment
        )
    first, second = _vocabulary_files(tmp_path / "1"), _vocabulary_files(tmp_path / "2")
    assert set(first) >= {"vocab.json", "merges.txt"}
    assert first == second


def test_merges_join_the_most_frequent_pair_first_and_break_ties_alphabetically():
    from idbooth_lib.toy.tokenizer import learn_merges

    # "a b" occurs in both words (repeats count once); then "ab c</w>" and "ab d</w>" are tied at one each.
    assert learn_merges(["abd", "abc", "abc"]) == [("a", "b"), ("ab", "c</w>"), ("ab", "d</w>")]
