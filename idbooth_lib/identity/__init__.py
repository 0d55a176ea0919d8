"""Face identity: alignment to the ArcFace template and the recognisers that embed aligned faces."""
