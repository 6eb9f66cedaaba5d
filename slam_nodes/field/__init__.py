"""Neural field parts: encodings (hash grid, one-blob), decoders, the SDF field, the renderer
and the losses. Import the submodules; this package imports nothing heavy."""
