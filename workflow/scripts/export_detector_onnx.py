"""Rule export_detector_onnx: the detector's ONNX copy for detector.runtime: onnx."""

from yl8c4net.detect.env import prepare_ultralytics
from yl8c4net.runtime.onnx import export_detector_onnx
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "export_detector_onnx") as log:
    prepare_ultralytics(snakemake.params.run_dir)
    out = export_detector_onnx(snakemake.input[0], snakemake.output[0], snakemake.params.config["detector"]["imgsz"])
    log.info("%s exported to %s (%.1f MB)", snakemake.input[0], out, out.stat().st_size / 1e6)
