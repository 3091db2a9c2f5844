# Conv4Net (paper sections 3.2 and 4.2.2): training and test-split evaluation.


rule train_classifier:
    input:
        images="resources/training/classify/dataset.npy",
        table="resources/training/classify/dataset.parquet",
    output:
        weights="results/models/classifier/conv4net.pt",
        history="results/models/classifier/history.json",
        curves=report(
            "results/report/classifier/training_curves.png",
            caption="../report/classifier_curves.rst",
            category="Classifier",
        ),
    log:
        "logs/train_classifier.log",
    benchmark:
        "results/benchmarks/train_classifier.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=600,
        gpu=1,
    params:
        # The training keys only: classifier.runtime and predict_batch change how
        # classify_block runs the network, not the model.
        config=settings(
            "classifier.epochs",
            "classifier.batch_size",
            "classifier.lr",
            "classifier.weight_decay",
            "classifier.lr_schedule",
            "classifier.patience",
            "classifier.seed",
            "classifier.device",
            "classify_data",
            "training_data.extra_bands",
        ),
        code=code_version("train_classifier"),
    script:
        "../scripts/train_classifier.py"


rule fine_tune_classifier_real:
    input:
        images="resources/training/classify/dataset.npy",
        table="resources/training/classify/dataset.parquet",
        weights=base_classifier_weights,
        fetched=real_pixels_fetched,
    output:
        weights="results/models/classifier/conv4net-real.pt",
        summary="results/models/classifier/real_pixels.json",
    log:
        "logs/fine_tune_classifier_real.log",
    benchmark:
        "results/benchmarks/fine_tune_classifier_real.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=1,
    params:
        config=settings("real_pixels", "classifier.device"),
        code=code_version("fine_tune_classifier_real"),
        files=FIELD_FILES,
    script:
        "../scripts/fine_tune_classifier_real.py"


rule evaluate_classifier:
    input:
        images="resources/training/classify/dataset.npy",
        table="resources/training/classify/dataset.parquet",
        weights=classifier_weights,
    output:
        metrics="results/eval/classifier_metrics.json",
        confusion=report(
            "results/report/classifier/confusion.png",
            caption="../report/classifier_confusion.rst",
            category="Classifier",
        ),
        roc=report(
            "results/report/classifier/roc.png",
            caption="../report/classifier_roc.rst",
            category="Classifier",
        ),
    log:
        "logs/evaluate_classifier.log",
    benchmark:
        "results/benchmarks/evaluate_classifier.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=settings("classifier.device"),
        code=code_version("evaluate_classifier"),
    script:
        "../scripts/evaluate_classifier.py"


rule train_fusion:
    input:
        images="resources/training/classify/dataset.npy",
        table="resources/training/classify/dataset.parquet",
        weights=classifier_weights,
    output:
        model="results/models/fusion/fusion.joblib",
        summary="results/models/fusion/fusion.json",
    log:
        "logs/train_fusion.log",
    benchmark:
        "results/benchmarks/train_fusion.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        config=settings(
            "fusion",
            "classifier.device",
            "simulate.galaxy_sizes",
            "simulate.galaxy_colours",
            "simulate.seeing_range_arcsec",
        ),
        code=code_version("train_fusion"),
    script:
        "../scripts/train_fusion.py"


rule evaluate_fusion:
    input:
        images="resources/training/classify/dataset.npy",
        table="resources/training/classify/dataset.parquet",
        weights=classifier_weights,
        fusion="results/models/fusion/fusion.joblib",
    output:
        metrics="results/eval/fusion_metrics.json",
        reliability=report(
            "results/report/classifier/reliability.png",
            caption="../report/classifier_reliability.rst",
            category="Classifier",
        ),
        qso_by_r=report(
            "results/report/classifier/qso_by_r.png",
            caption="../report/classifier_qso_by_r.rst",
            category="Classifier",
        ),
    log:
        "logs/evaluate_fusion.log",
    benchmark:
        "results/benchmarks/evaluate_fusion.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=settings("classifier.device", "fusion.prior_mode", "fusion.sky_priors"),
        code=code_version("evaluate_fusion"),
    script:
        "../scripts/evaluate_fusion.py"


rule export_classifier_onnx:
    input:
        classifier_weights,
    output:
        ONNX_MODELS["classifier"],
    log:
        "logs/export_classifier_onnx.log",
    benchmark:
        "results/benchmarks/export_classifier_onnx.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=settings("training_data.extra_bands"),
        code=code_version("export_classifier_onnx"),
    script:
        "../scripts/export_classifier_onnx.py"
