"""Meshing of the SDF field: block-wise marching cubes inside the observed region."""
