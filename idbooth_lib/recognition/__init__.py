"""Face recognition (chapter 07): the 10-fold verification protocol of LFW and its siblings
(:mod:`~idbooth_lib.recognition.verification`); training recognisers on real and synthetic data
joins it with that chapter."""
