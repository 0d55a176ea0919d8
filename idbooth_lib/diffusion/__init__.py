"""Latent diffusion (chapter 02): the base pipeline of a profile (SD 2.1-base or the toy model) and
its samplers, the pieces of the forward and reverse process, and LoRA adapters on its UNet."""
