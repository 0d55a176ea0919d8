"""Evaluating synthetic face data (chapter 06): any folder of face images against the real ones.

Identity consistency and separability (:mod:`.separability`), diversity (:mod:`.diversity`),
fidelity (:mod:`.fidelity`), memorisation (:mod:`.memorisation`) and prompt adherence
(:mod:`.adherence`), each usable on arrays of scores, features or predictions from a notebook; :mod:`.faces` finds the faces of a folder as data preparation
does, :mod:`.features` gives the generic image features, :mod:`.run` is ``idbooth evaluate``, and
:mod:`.figures` draws score distributions and DET curves.
"""
