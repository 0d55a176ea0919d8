"""The book's experiments, above every stage: they run the whole pipeline, method by method.

- :mod:`~idbooth_lib.experiments.skeleton` — what they share: a method's settings, one set of
  models per run, evaluations made again only when their images changed, stamped results;
- :mod:`~idbooth_lib.experiments.tradeoff` — the identity–prompt trade-off along training
  (``idbooth tradeoff``; chapters 05 and 06);
- :mod:`~idbooth_lib.experiments.study` — the shipped study and its LoRAs, and the toy photos
  both experiments start from;
- :mod:`~idbooth_lib.experiments.reproduce` — the paper's whole experiment on the toy world,
  recognisers included (``make reproduce``; chapter 07 and the report);
- :mod:`~idbooth_lib.experiments.report` — the reproduction report's claims, judged on intervals.

Their committed results live in ``results/`` beside them; the chapters load them when present.
The stages never import this package, and neither does the toy world it draws its people from
(``tests/test_layers.py``).
"""
