"""Rule detect_block: YOLOv8 on the 12 tiles of each field, the tiles of detector.batch_tiles /
12 fields predicted in one batch, overlaps merged (GPU when present); boxes with no flux
excess at their centre in the r frame dropped (``detector.verify``); with
``detector.bright_complement``, photutils boxes of the brightest sources added."""

import time

from yl8c4net.blocks import block_of_job, field_path, run_block
from yl8c4net.detect.env import prepare_ultralytics, use_cpu_threads
from yl8c4net.device import pick_device
from yl8c4net.io import sha256_of
from yl8c4net.steps import step

with step(snakemake.log[0], "detect_block") as log:
    cfg = snakemake.params.config["detector"]
    files = snakemake.params.files
    block = block_of_job(snakemake)
    prepare_ultralytics(snakemake.params.run_dir)
    from ultralytics import YOLO

    use_cpu_threads(snakemake.threads)

    from yl8c4net.detect.bright import BrightSourceSettings, bright_sources, merge_bright_sources
    from yl8c4net.detect.infer import BatchedFieldDetector, batch_tiles, write_detections
    from yl8c4net.detect.verify import VerifySettings, verify_detections
    from yl8c4net.fetch import fetched_r_frame, r_frame
    from yl8c4net.imageio import load_image
    from yl8c4net.labels import BoxTable
    from yl8c4net.sdss.frames import r_frame_pixel_noise

    bright_settings = BrightSourceSettings.from_config(cfg["bright_complement"])
    verify_settings = VerifySettings.from_config(cfg["verify"])
    box_table = BoxTable.from_config(snakemake.params.config["training_data"]["box_table"])

    checksum = sha256_of(snakemake.input.weights)
    # onnxruntime runs on the CPU (detector.runtime: onnx); torch on CUDA when present.
    device = "cpu" if cfg["runtime"] == "onnx" else pick_device(cfg["device"])
    model = YOLO(snakemake.input.weights, task="detect")  # loaded once for the whole block (.pt or .onnx)
    log.info("detector %s on %s", snakemake.input.weights, device)

    detections = BatchedFieldDetector(
        model,
        block.field_ids(),
        lambda fid: load_image(field_path(files["composite"], fid), flip=True),
        batch_tiles(cfg["batch_tiles"], device),
        tile=snakemake.params.config["training_data"]["tile_px"],
        conf=cfg["conf"],
        iou=cfg["iou"],
        merge=cfg["merge"],
        merge_iou=cfg["merge_iou"],
        max_det=cfg["max_det"],
        device=str(device),
        imgsz=cfg["imgsz"],
    )

    def detect(fid):
        table, timings = detections(fid)
        manifest = field_path(files["frames"], fid)
        needs_frame = verify_settings.enabled or bright_settings.enabled
        frame = r_frame(manifest) if needs_frame and fetched_r_frame(manifest) else None
        if verify_settings.enabled:
            if frame is None:
                # Lean mode: the field has only its JPEG; said in the file and in the log.
                timings["verify_min_snr"] = None
                log.info("%s: no r frame (lean mode): detections not flux-verified", fid)
            else:
                t0 = time.perf_counter()
                noise = r_frame_pixel_noise(frame, fid.camcol)
                table, timings["n_unverified_dropped"] = verify_detections(table, frame.image, noise, verify_settings)
                timings["verify_min_snr"] = verify_settings.min_snr
                timings["verify_s"] = round(time.perf_counter() - t0, 3)
        if bright_settings.enabled:
            bright = bright_sources(frame.image, frame.calib, bright_settings, box_table.side)
            n_yolo = len(table)
            table = merge_bright_sources(table, bright)
            timings["n_bright"] = int(len(bright))
            timings["n_yolo_replaced"] = int(n_yolo - (len(table) - len(bright)))
        write_detections(table, field_path(files["detections"], fid), checksum, timings)
        log.info("%s: %d detections (%s)", fid, len(table), timings)

    run_block(
        "detect",
        block,
        snakemake.output[0],
        [snakemake.input.composite, snakemake.input.frames],
        detect,
        log,
        files=snakemake.params.files,
    )
