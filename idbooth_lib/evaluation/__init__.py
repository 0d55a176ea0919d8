"""Evaluating synthetic face data (chapter 06): any folder of face images against the real ones.

Identity consistency and separability (:mod:`~idbooth_lib.evaluation.separability`), diversity (:mod:`~idbooth_lib.evaluation.diversity`),
fidelity (:mod:`~idbooth_lib.evaluation.fidelity`), memorisation (:mod:`~idbooth_lib.evaluation.memorisation`) and prompt adherence
(:mod:`~idbooth_lib.evaluation.adherence`), each usable on arrays of scores, features or predictions from a notebook; :mod:`~idbooth_lib.evaluation.faces` finds the faces of a folder as data preparation
does, :mod:`~idbooth_lib.evaluation.features` gives the generic image features, :mod:`~idbooth_lib.evaluation.run` is ``idbooth evaluate``, and
:mod:`~idbooth_lib.evaluation.figures` draws score distributions and DET curves.
"""
