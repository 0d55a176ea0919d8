"""The three objectives of the paper, term by term.

- DreamBooth: ``MSE_inst + λ · MSE_prior`` on the noise prediction;
- PortraitBooth (identity term only, as the ID-Booth authors re-implemented it):
  ``+ w(t) · (1 − cos(E(x̂0), e_pos))``;
- ID-Booth: ``+ w(t) · max(0, d(E(x̂0), e_pos) − d(E(x̂0), e_neg) + m)`` with ``d = 1 − cos``.

``w(t) = (1 − t/T)²`` makes the identity terms count most when the image is barely noised, where
the clean-image estimate x̂0 — and so its recogniser embedding — is reliable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from idbooth_lib.methods import BUILT_IN_TERM, IdentityTerm, Method, get_method


def timestep_weight(timesteps: torch.Tensor, num_train_timesteps: int = 1000) -> torch.Tensor:
    """``w(t) = (1 − t/T)²`` for each timestep."""
    return (1 - timesteps.float() / num_train_timesteps) ** 2


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``d(a, b) = 1 − cos(a, b)`` row by row."""
    return 1 - F.cosine_similarity(a, b, dim=-1)


def identity_loss(
    anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor | None = None,
    margin: float | None = None,
) -> torch.Tensor:
    """PortraitBooth-style identity term per sample: only pulls toward the real embedding (the
    prior's embedding and the margin, which every method's term is given, are not used)."""
    return cosine_distance(anchor, positive)


def triplet_loss(
    anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """ID-Booth's term per sample: pull toward the identity, push from the prior image's embedding.

    With the cosine distance (range [0, 2]) and the default margin of 1.0 — PyTorch's
    ``TripletMarginWithDistanceLoss`` default, which the authors used — the hinge is zero only
    once the positive is a whole unit of distance nearer than the negative. Training rarely gets
    there (the prior image is another person, about d = 1 away from anyone), so the term keeps
    pushing for most samples; chapter 03 draws where it is zero.
    """
    return F.relu(cosine_distance(anchor, positive) - cosine_distance(anchor, negative) + margin)


#: The built-in methods' identity terms, by method name: their records say only ``BUILT_IN_TERM``.
BUILT_IN_TERMS: dict[str, IdentityTerm] = {"portraitbooth": identity_loss, "idbooth": triplet_loss}


def term_of(record: Method) -> IdentityTerm | None:
    """The identity term of a method's record as a function (None when it has none)."""
    if record.identity_term is BUILT_IN_TERM:
        return BUILT_IN_TERMS[record.name]
    return record.identity_term


def identity_term(
    method: str,
    embeddings: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor | None,
    weights: torch.Tensor,
    margin: float,
) -> torch.Tensor:
    """The weighted identity term of ``method`` (its record in :mod:`idbooth_lib.methods`)
    averaged over the batch; zero for a method without one (DreamBooth)."""
    record = get_method(method)
    term = term_of(record)
    if term is None:
        return embeddings.new_zeros(())
    if record.uses_prior_embeddings and negatives is None:
        raise ValueError(f"{record.display_name} needs the embeddings of the class (prior) images")
    return (weights * term(embeddings, positives, negatives, margin)).mean()


def total_loss(terms: dict[str, torch.Tensor], prior_loss_weight: float) -> torch.Tensor:
    """``MSE_inst + λ · MSE_prior (+ the weighted identity term)``: what each method minimises."""
    return terms["instance"] + prior_loss_weight * terms["prior"] + terms.get("identity", 0.0)
