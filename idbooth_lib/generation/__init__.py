"""Generation (chapter 05): the paper's prompt template and per-identity prompt plans
(:mod:`~idbooth_lib.generation.prompts`), and ``idbooth generate``, which draws them from every
trained LoRA with a manifest that evaluation reads (:mod:`~idbooth_lib.generation.generate`)."""
