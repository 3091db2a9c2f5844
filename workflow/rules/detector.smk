# YOLOv8 detector (paper sections 3.1 and 4.2.1): training, tiled inference per field
# (the GPU rule), evaluation on the held-out simulated fields.


rule train_detector:
    input:
        dataset="resources/training/detect/dataset.yaml",
        init_weights=detector_init_weights,
    output:
        weights="results/models/detector/yolov8.pt",
        results="results/models/detector/results.csv",
        curves=report(
            "results/report/detector/training_curves.png",
            caption="../report/detector_curves.rst",
            category="Detector",
        ),
    log:
        "logs/train_detector.log",
    benchmark:
        "results/benchmarks/train_detector.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=1440,
        gpu=1,
    params:
        config=settings(
            "detector.model",
            "detector.scale",
            "detector.init_weights",
            "detector.imgsz",
            "detector.epochs",
            "detector.patience",
            "detector.batch",
            "detector.lr0",
            "detector.lrf",
            "detector.warmup_epochs",
            "detector.optimizer",
            "detector.close_mosaic",
            "detector.mosaic",
            "detector.mixup",
            "detector.perspective",
            "detector.hsv_h",
            "detector.hsv_s",
            "detector.hsv_v",
            "detector.fliplr",
            "detector.flipud",
            "detector.seed",
            "detector.device",
            "detector.workers",
            "detector.max_det",
        ),
        code=code_version("train_detector"),
        run_dir="resources/detector_run",
    script:
        "../scripts/train_detector.py"


rule detect_block:
    input:
        composite=block_input("composite"),
        frames=block_input("fetch"),
        weights=detector_inference_weights(),
    output:
        BLOCK_MANIFESTS["detect"],
    log:
        "logs/detect_block/{run}-{camcol}-{block}.log",
    benchmark:
        "results/benchmarks/detect_block/{run}-{camcol}-{block}.tsv"
    group:
        "fields_gpu"
    conda:
        "../../envs/ml.yaml"
    threads: GPU_FIELD_THREADS
    resources:
        mem_mb=lambda wc, threads: gpu_block_mem_mb(2200, threads),
        runtime=60,
        gpu=1,
    params:
        config=settings(
            "sdss.rerun",
            "detector.conf",
            "detector.batch_tiles",
            "detector.iou",
            "detector.merge",
            "detector.merge_iou",
            "detector.max_det",
            "detector.device",
            "detector.runtime",
            "detector.imgsz",
            "detector.bright_complement",
            "detector.verify",
            "training_data.tile_px",
            "training_data.box_table",
        ),
        code=code_version("detect_block"),
        fields=block_fields,
        files=FIELD_FILES,
        run_dir="resources/detector_run",
    script:
        "../scripts/detect_block.py"


rule export_detector_onnx:
    input:
        detector_weights,
    output:
        ONNX_MODELS["detector"],
    log:
        "logs/export_detector_onnx.log",
    benchmark:
        "results/benchmarks/export_detector_onnx.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=settings("detector.imgsz"),
        code=code_version("export_detector_onnx"),
        run_dir="resources/detector_run",
    script:
        "../scripts/export_detector_onnx.py"


rule evaluate_detector:
    input:
        detections=block_manifests("detect", role="detect_train"),
        tiles=block_manifests("tiles", role="detect_train"),
        composite=block_manifests("composite", role="detect_train"),
        split="results/data/detect_dataset.json",
        weights=detector_weights,
    output:
        metrics="results/eval/detector_metrics.json",
        recall_plot=report(
            "results/report/detector/recall_vs_r.png",
            caption="../report/detector_recall.rst",
            category="Detector",
        ),
        pr_curve=report(
            "results/report/detector/pr_curve.png",
            caption="../report/detector_pr.rst",
            category="Detector",
        ),
    log:
        "logs/evaluate_detector.log",
    benchmark:
        "results/benchmarks/evaluate_detector.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=settings(
            "detector.conf",
            "detector.eval_conf",
            "detector.target_purity",
            "detector.iou",
            "detector.merge",
            "detector.merge_iou",
            "detector.max_det",
            "detector.device",
            "detector.imgsz",
            "training_data.tile_px",
        ),
        code=code_version("evaluate_detector"),
        files=FIELD_FILES,
        run_dir="resources/detector_run",
    script:
        "../scripts/evaluate_detector.py"


rule stage_shipped_model:
    output:
        SHIPPED_MODEL,
    log:
        "logs/stage_shipped_model/{model_file}.log",
    benchmark:
        "results/benchmarks/stage_shipped_model/{model_file}.tsv"
    wildcard_constraints:
        model_file="detector\\.pt|classifier\\.pt|fusion\\.joblib",
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        # The model's checksum, not its path: a new package model reruns what used it,
        # a project moved to another path reruns nothing.
        sha256=shipped_model_sha256,
        code=code_version("stage_shipped_model"),
    script:
        "../scripts/stage_shipped_model.py"
