"""The catalogue: positions, field ownership, deduplication, the PhotoObjAll crossmatch, run partitions and the files they are written to."""
