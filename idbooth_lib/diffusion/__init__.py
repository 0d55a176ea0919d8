"""Latent diffusion: loading the base pipeline of a profile (SD 2.1-base or the toy model)."""
