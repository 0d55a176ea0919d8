"""Helper library for the ID-Booth book: identity-consistent face generation with diffusion models."""

__version__ = "0.1.0"
