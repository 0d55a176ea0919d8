"""Helper library for the ID-Booth book: identity-consistent face generation with diffusion models.

The packages are the book's table of contents, in the order data flows, and each imports only from
those before it (``tests/test_layers.py`` checks this):

=================  =========================================================================  =========
layer              what lives there                                                           chapter
=================  =========================================================================  =========
core modules       ``config``, ``io``, ``ranges``, ``env``, ``checkpoints``, ``reporting``,   00
                   ``viz``: settings, files, pixel ranges, the machine, tables and figures;
                   ``logs``: one logger per package and one verbosity switch;
                   ``methods``: the registry of fine-tuning methods; ``models``: where each
                   model comes from and the bundle every stage loads its models through;
                   ``preflight``: what a stage needs, checked before anything heavy;
                   ``vocabulary``: the paper's prompt words and template
``toy_world``      the toy world, a data source: people, scenes, photo folders                00, 01
``identity``       face models: alignment to the ArcFace template, the recognisers            01, 03
``data``           photos → faces: reading, detection, crops, the prepared layout             01
``diffusion``      the base pipeline, its samplers, the latent-diffusion pieces, LoRAs        02
``training``       the three objectives and the fine-tuning engine                            03, 04
``generation``     the paper's prompts; sampling from fine-tuned LoRAs                        05
``evaluation``     measuring sets of synthetic images                                         06
``recognition``    face-recognition training and the verification protocol                    07
=================  =========================================================================  =========

``identity`` comes before ``data`` because data preparation embeds every photo with a recogniser
(and finds faces with the detector models of ``identity``): the recognisers are instruments the
data stage uses, not a stage after it. The toy world (``toy_world``) is a data source below the
stages: it reads only the core and the paper's prompt vocabulary, and no stage imports it (the
stages read its photos from folders, and reach the toy models only through ``idbooth:toy/NAME``
sources in the config). Above the stages sit their consumers: the programs that pretrain and
measure the toy models (``toy``, whose ``weights`` the book ships), the book's experiments
(``experiments``: the trade-off study, the reproduction and its report), the command line and the
notebooks. No stage imports them, and the toy world imports neither.
"""

__version__ = "0.1.0"
