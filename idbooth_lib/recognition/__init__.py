"""Face recognition (chapter 07): training recognisers on real and synthetic data and testing them
on verification benchmarks.

:mod:`~idbooth_lib.recognition.data` reads prepared datasets as classes and sets people aside for
model selection; :mod:`~idbooth_lib.recognition.train` is ``idbooth fr-train``;
:mod:`~idbooth_lib.recognition.bins` reads and writes insightface's ``.bin`` benchmarks without
running their pickles; :mod:`~idbooth_lib.recognition.verification` is the 10-fold protocol and TAR
at a FAR; :mod:`~idbooth_lib.recognition.benchmarks` is ``idbooth fr-eval``."""
