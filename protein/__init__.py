"""protein-platform: AlphaFold2 monomer structure prediction in JAX/Haiku."""

__version__ = "0.1.0"
