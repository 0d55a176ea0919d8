"""The toy models' factory: the programs that build and measure the models shipped in ``weights``.

Why it sits above the stages: each recipe trains a model that a stage loads (the recognisers of
``identity``, the detector, the VAE, text encoder and UNet of the foundation, the scene probe of
``evaluation``), and it uses the stage's own classes to do so. Readers of the chapters need not
look here; the data the recipes learn from is the toy world's (:mod:`idbooth_lib.toy_world`).

The modules: ``tokenizer`` (the toy text vocabulary and the pretraining people's made-up names),
``pretrain`` (the recipes), ``benchmark`` (the verification benchmark of chapter 07) and
``quality`` (the shipped models' measured quality, read from ``weights/quality.json``).
"""
