"""Where and how the networks run: the device choice and the ONNX copies."""
