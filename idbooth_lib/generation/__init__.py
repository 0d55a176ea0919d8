"""Generation (chapter 05): the paper's prompt template (:mod:`~idbooth_lib.generation.prompts`);
sampling sets of images from fine-tuned LoRAs joins it with that chapter."""
