"""The numbers the ID-Booth authors published, to print beside the book's own (chapter 06, the
reproduction report).

Identity on the "complex" prompts (backgrounds and poses) with the ArcFace network of the loss,
21 images per identity of the Tufts people, from the authors' repository. ``None`` where the
authors published no number.
"""

from __future__ import annotations

#: ``{protocol: {measure: {method: value}}}``
IDENTITY = {
    "synthetic_vs_synthetic": {
        "eer": {"dreambooth": 0.124, "portraitbooth": 0.091, "idbooth": 0.088},
        "fnmr_at_fmr_1e-2": {"dreambooth": 0.384, "portraitbooth": 0.272, "idbooth": 0.259},
        "genuine_mean": {"dreambooth": 0.428, "portraitbooth": 0.429, "idbooth": 0.420},
        "fdr": {"dreambooth": 2.59, "portraitbooth": 3.31, "idbooth": 3.37},
    },
    "synthetic_vs_real": {
        "eer": {"dreambooth": 0.097, "portraitbooth": 0.066, "idbooth": 0.059},
        "fdr": {"dreambooth": 2.81, "portraitbooth": 3.88, "idbooth": 4.22},
    },
}
#: The real Tufts images alone.
REAL_VS_REAL = {"eer": 0.001, "genuine_mean": 0.871, "fdr": 75.8}
#: CMMD against FFHQ (CLIP features); the toy world has no CLIP model, so the toy CMMD is None.
CMMD = {"dreambooth": 1.072, "portraitbooth": 0.941, "idbooth": 0.930}


def published(protocol: str, measure: str, method: str) -> float | None:
    """The authors' number for ``method`` (None when they published none)."""
    return IDENTITY.get(protocol, {}).get(measure, {}).get(method)
