"""The AlphaFold2 monomer network (Jumper et al. 2021) in JAX/Haiku."""
