"""The toy world (chapters 00 and 01): people and scenes drawn from scratch, a data source below
the stages.

Why: the book runs ID-Booth end to end without downloading face data. This package replaces the
real photos with a deterministic generator whose ground truth (identity, background, pose, five
landmarks) is known exactly, so every later stage can be checked against it.

Why it sits low: a data source depends on nothing that uses its data. The world reads only the
paper's prompt vocabulary (:mod:`idbooth_lib.vocabulary`, to caption its photos with the prompts'
words) and the core helpers for files and progress; no stage imports it either, since the stages
read its photos from folders like any others. The programs that pretrain the toy models on it live
in :mod:`idbooth_lib.toy`, above the stages whose models they build.

The modules, in the order data flows: ``faces`` (identities, scenes, rendering, captions) with its
``scenes`` painters, ``dataset`` (folders of photos on disk), ``render`` (arrays for training) and
``messy`` (a photo folder with every kind of trouble, for chapter 01).
"""
