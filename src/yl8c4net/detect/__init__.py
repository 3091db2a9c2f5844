"""Source detection: YOLOv8 training, tiled inference with overlap merging, evaluation."""
