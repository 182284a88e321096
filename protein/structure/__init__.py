"""Atoms, residue constants and structure files (PDB, mmCIF)."""
