"""The analyst layer: sql/ models and checks compiled for the destination and run through dlt's SQL client."""
