"""Evaluating synthetic face data (chapter 06): the home of the measures of sets of generated images —
identity consistency and separability, diversity, prompt adherence, fidelity, memorisation. Empty
until that chapter lands; the engine's own identity measurement is
:func:`idbooth_lib.data.faces.embed_detected_faces`."""
