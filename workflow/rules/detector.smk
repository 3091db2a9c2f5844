# YOLOv8 detector (paper sections 3.1 and 4.2.1): training, tiled inference per field
# (the GPU rule), evaluation on the held-out simulated fields.


rule train_detector:
    input:
        dataset="resources/training/detect/dataset.yaml",
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
        run_dir="resources/detector_run",
    script:
        "../scripts/train_detector.py"


rule detect_field:
    input:
        image=rules.composite.output.image,
        info=rules.composite.output.info,
        weights=detector_weights,
    output:
        "results/detections/{run}/{camcol}/{field}.parquet",
    log:
        "logs/detect_field/{run}-{camcol}-{field}.log",
    benchmark:
        "results/benchmarks/detect_field/{run}-{camcol}-{field}.tsv"
    group:
        "fields_gpu"
    conda:
        "../../envs/ml.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=10,
        gpu=1,
    params:
        run_dir="resources/detector_run",
    script:
        "../scripts/detect_field.py"


rule evaluate_detector:
    input:
        detections=role_field_paths(
            "results/detections/{run}/{camcol}/{field}.parquet", "detect_train"
        ),
        labels=role_field_paths(
            "resources/training/detect/{run}/{camcol}/{field}", "detect_train"
        ),
        split="results/data/detect_dataset.json",
    output:
        metrics="results/eval/detector_metrics.json",
        recall_plot=report(
            "results/report/detector/recall_vs_r.png",
            caption="../report/detector_recall.rst",
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
        run_dir="resources/detector_run",
    script:
        "../scripts/evaluate_detector.py"
