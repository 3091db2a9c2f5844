"""Rule export_classifier_onnx: Conv4Net's ONNX copy for classifier.runtime: onnx."""

from yl8c4net.classify.model import CLASS_NAMES
from yl8c4net.runtime.onnx import export_classifier_onnx
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "export_classifier_onnx") as log:
    channels = 3 + len(snakemake.params.config["training_data"]["extra_bands"])
    out = export_classifier_onnx(snakemake.input[0], snakemake.output[0], CLASS_NAMES, channels)
    log.info("%s exported to %s (%.2f MB)", snakemake.input[0], out, out.stat().st_size / 1e6)
