"""Fine-tuning (chapters 03 and 04): the DreamBooth, PortraitBooth and ID-Booth objectives, the
training loop around them, and the runs of ``idbooth train``."""
