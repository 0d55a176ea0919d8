"""The toy face world: procedurally drawn faces with known identities, scenes and landmarks.

Why: the book runs ID-Booth end to end without downloading face data or face models. This package
replaces the real data with a deterministic generator whose ground truth (identity, background,
pose, five landmarks) is known exactly, so every later stage can be checked against it.

The modules, in the order data flows: ``faces`` (identities, scenes, rendering, captions) with its
``scenes`` painters, ``dataset`` (folders of images on disk), ``render`` (arrays for training),
``tokenizer`` (the toy text vocabulary) and ``pretrain`` (the recipes of the shipped toy models).
"""
