"""Face identity (chapters 01 and 03): alignment to the ArcFace template, the recognisers that embed
aligned faces — the toy ones and ArcFace, behind one loader — and the toy detector model."""
