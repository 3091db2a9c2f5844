"""Rule detect_block: YOLOv8 on the 12 tiles of each field, the tiles of detector.batch_tiles /
12 fields predicted in one batch, overlaps merged (GPU when present); boxes with no flux
excess at their centre in the r frame dropped (``detector.verify``); with
``detector.bright_complement``, photutils boxes of the brightest sources added."""

from yl8c4net.pipeline.blocks import block_of_job, field_path, run_block
from yl8c4net.detect.env import prepare_ultralytics, use_cpu_threads
from yl8c4net.runtime.device import pick_device
from yl8c4net.io import sha256_of
from yl8c4net.pipeline.model_files import check_model_before_use
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "detect_block") as log:
    cfg = snakemake.params.config["detector"]
    files = snakemake.params.files
    block = block_of_job(snakemake)
    check_model_before_use(snakemake.input.weights, "detector")
    prepare_ultralytics(snakemake.params.run_dir)
    from ultralytics import YOLO

    use_cpu_threads(snakemake.threads)

    from yl8c4net.detect.bright import BrightSourceSettings
    from yl8c4net.detect.field import FieldDetectionChain
    from yl8c4net.detect.infer import BatchedFieldDetector, batch_tiles
    from yl8c4net.detect.verify import VerifySettings
    from yl8c4net.images.imageio import load_image
    from yl8c4net.images.labels import BoxTable

    # onnxruntime runs on the CPU (detector.runtime: onnx); torch on CUDA when present.
    device = "cpu" if cfg["runtime"] == "onnx" else pick_device(cfg["device"])
    model = YOLO(snakemake.input.weights, task="detect")  # loaded once for the whole block (.pt or .onnx)
    log.info("detector %s on %s", snakemake.input.weights, device)

    verify = VerifySettings.from_config(cfg["verify"])
    detector = BatchedFieldDetector(
        model,
        block.field_ids(),
        lambda fid: load_image(field_path(files["composite"], fid), flip=True),
        batch_tiles(cfg["batch_tiles"], device),
        tile=snakemake.params.config["training_data"]["tile_px"],
        conf=verify.detection_conf(cfg["conf"]),
        iou=cfg["iou"],
        merge=cfg["merge"],
        merge_iou=cfg["merge_iou"],
        max_det=cfg["max_det"],
        device=str(device),
        imgsz=cfg["imgsz"],
    )
    detect = FieldDetectionChain(
        detector,
        frames=files["frames"],
        detections=files["detections"],
        verify=verify,
        bright=BrightSourceSettings.from_config(cfg["bright_complement"]),
        box_table=BoxTable.from_config(snakemake.params.config["training_data"]["box_table"]),
        weights_sha256=sha256_of(snakemake.input.weights),
        conf=cfg["conf"],
    )
    run_block(
        "detect",
        block,
        snakemake.output[0],
        [snakemake.input.composite, snakemake.input.frames],
        detect,
        log,
        files=snakemake.params.files,
        workers=snakemake.threads,
    )
