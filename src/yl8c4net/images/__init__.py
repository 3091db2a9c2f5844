"""Images and training data: composites, labels, pasting, tiles, cut-outs."""
