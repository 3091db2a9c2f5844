"""YOLOv8 training from model YAMLs (no downloaded weights), resumable, offline."""

from __future__ import annotations

import contextlib
import logging
import shutil
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from yl8c4net.runtime.device import ultralytics_device
from yl8c4net.errors import ConfigError

log = logging.getLogger(__name__)
MODELS = ("yolov8", "yolov8-st")


@dataclass(frozen=True)
class DetectorParams:
    """The ``detector`` section of the config (paper defaults: 640, 200 epochs, patience 50,
    batch 32; Mosaic, Mixup, perspective and HSV augmentation)."""

    model: str = "yolov8"
    scale: str = "n"
    #: Weights to start from (fine-tuning, e.g. the shipped detector); None: from scratch.
    init_weights: str | None = None
    imgsz: int = 640
    epochs: int = 200
    patience: int = 50
    batch: int = 32
    lr0: float = 0.01
    lrf: float = 0.01
    warmup_epochs: float = 3.0
    optimizer: str = "auto"
    close_mosaic: int = 0
    mosaic: float = 1.0
    mixup: float = 0.1
    perspective: float = 0.0001
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    fliplr: float = 0.5
    flipud: float = 0.5
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    conf: float = 0.25
    iou: float = 0.7
    merge_iou: float = 0.5
    merge: str = "owned_nms"
    max_det: int = 3000

    @classmethod
    def from_config(cls, c: dict) -> "DetectorParams":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in c.items() if k in known})


def model_yaml(params: DetectorParams, run_dir: Path) -> str:
    """The model YAML to build from: ultralytics' ``yolov8{scale}.yaml`` or our YOLOv8-ST."""
    if params.model == "yolov8":
        return f"yolov8{params.scale}.yaml"
    if params.model == "yolov8-st":
        # ultralytics reads the scale from the file name (yolov8n-st.yaml -> scale n).
        run_dir.mkdir(parents=True, exist_ok=True)
        text = resources.files("yl8c4net.detect").joinpath("yolov8-st.yaml").read_text()
        target = run_dir / f"yolov8{params.scale}-st.yaml"
        target.write_text(text)
        (run_dir / "yolov8-st.yaml").write_text(text)
        return str(target)
    raise ConfigError(f"detector.model {params.model!r} is not one of {MODELS}")


def dataset_files(dataset_yaml: str | Path) -> list[Path]:
    """Every file a YOLO dataset YAML brings into training: the YAML, its image lists, each
    listed image and its label file (ultralytics' ``images/`` -> ``labels/`` rule)."""
    import yaml

    dataset_yaml = Path(dataset_yaml)
    spec = yaml.safe_load(dataset_yaml.read_text())
    root = Path(spec.get("path") or dataset_yaml.parent)
    files = [dataset_yaml]
    for split in ("train", "val"):
        listing = root / spec[split]
        files.append(listing)
        for line in listing.read_text().split():
            image = Path(line)
            label = Path(str(image.parent).replace("/images", "/labels")) / f"{image.stem}.txt"
            files += [image] + ([label] if label.is_file() else [])
    return files


def training_arguments(params: DetectorParams) -> dict:
    """ultralytics ``train`` arguments of a new run. ``close_mosaic`` and ``optimizer`` are
    config keys because ultralytics' defaults (mosaic off for the last 10 epochs; 'auto'
    picks AdamW with its own learning rate on short runs) decide how a short run ends."""
    return dict(
        imgsz=params.imgsz,
        epochs=params.epochs,
        patience=params.patience,
        batch=params.batch,
        lr0=params.lr0,
        lrf=params.lrf,
        warmup_epochs=params.warmup_epochs,
        optimizer=params.optimizer,
        close_mosaic=params.close_mosaic,
        mosaic=params.mosaic,
        mixup=params.mixup,
        perspective=params.perspective,
        hsv_h=params.hsv_h,
        hsv_s=params.hsv_s,
        hsv_v=params.hsv_v,
        fliplr=params.fliplr,
        flipud=params.flipud,
        seed=params.seed,
        deterministic=True,
        device=ultralytics_device(params.device),
        workers=params.workers,
        # A path: ultralytics transfers every matching tensor of those weights into the
        # model built from the YAML (fine-tuning); False: random initialisation.
        pretrained=str(params.init_weights) if params.init_weights else False,
        amp=False,
        plots=True,
        single_cls=True,
        verbose=False,
        val=True,
        max_det=params.max_det,
    )


def log_epoch(trainer) -> None:
    """ultralytics ``on_fit_epoch_end`` callback: one line per epoch in the job's log
    (ultralytics itself writes its progress bars to the terminal only)."""
    losses = trainer.label_loss_items(trainer.tloss, prefix="train") if trainer.tloss is not None else {}
    values = {**losses, **(trainer.metrics or {})}
    shown = ", ".join(f"{k.replace('metrics/', '').replace('(B)', '')} {float(v):.4f}" for k, v in values.items())
    log.info("epoch %d/%d: %s", trainer.epoch + 1, trainer.epochs, shown)


@contextlib.contextmanager
def ultralytics_lines_in_log():
    """Send ultralytics' own log lines (model summary, final validation) to the handlers
    of the root logger as well, i.e. the job's log file; ultralytics does not propagate."""
    ultralytics_log = logging.getLogger("ultralytics")
    added = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    for handler in added:
        ultralytics_log.addHandler(handler)
    try:
        yield
    finally:
        for handler in added:
            ultralytics_log.removeHandler(handler)


def training_finished(last_pt: str | Path) -> bool:
    """True when an ultralytics ``last.pt`` is the end of a finished run: ultralytics strips
    the optimizer state and sets ``epoch`` to -1 when a run ends, and such a checkpoint
    cannot be resumed."""
    import torch

    ckpt = torch.load(str(last_pt), map_location="cpu", weights_only=False)
    return ckpt.get("optimizer") is None or int(ckpt.get("epoch", -1)) < 0


def train_detector(
    dataset_yaml: str | Path,
    run_dir: str | Path,
    params: DetectorParams = DetectorParams(),
    run_key: str = "",
    threads: int | None = None,
) -> dict:
    """Train (or resume) YOLOv8 on a dataset YAML; return paths of best weights and results.

    The run lives in ``{run_dir}/{run_key}/train``: an interrupted run resumes from its
    ``last.pt`` only under the same key (settings, code and data; `training_run_key`), and
    anything else starts a fresh run beside it. ``threads``: torch's CPU threads (the job's;
    default: ultralytics' choice, one less than the machine's cores).
    """
    from yl8c4net.detect.env import prepare_ultralytics

    run_dir = Path(run_dir).resolve() / (run_key or "default")
    prepare_ultralytics(run_dir)
    from ultralytics import YOLO

    from yl8c4net.detect.env import disable_telemetry, use_cpu_threads

    disable_telemetry()
    if threads:
        use_cpu_threads(threads)
    last = run_dir / "train" / "weights" / "last.pt"
    common = dict(data=str(Path(dataset_yaml).resolve()), project=str(run_dir), name="train", exist_ok=True)
    if last.is_file() and training_finished(last):
        # ultralytics would not refuse: it starts a new run with its own defaults instead.
        log.info("detector training run %s already finished: its weights are reused", run_key)
    elif last.is_file():
        log.info("resuming detector training run %s from %s", run_key, last)
        model = YOLO(str(last))
        model.add_callback("on_fit_epoch_end", log_epoch)
        try:
            with ultralytics_lines_in_log():
                model.train(resume=True, **common)
        except AssertionError as exc:  # ultralytics refuses to resume a finished run
            log.info("nothing to resume (%s)", exc)
    else:
        start = f"from {params.init_weights}" if params.init_weights else "from scratch"
        log.info("new detector training run %s in %s, %s", run_key, run_dir, start)
        model = YOLO(model_yaml(params, run_dir), task="detect")
        model.add_callback("on_fit_epoch_end", log_epoch)
        with ultralytics_lines_in_log():
            model.train(**common, **training_arguments(params))
    train_dir = run_dir / "train"
    best = train_dir / "weights" / "best.pt"
    if not best.is_file():
        best = last
    return {
        "weights": best,
        "results_csv": train_dir / "results.csv",
        "train_dir": train_dir,
        "params": asdict(params),
        "run_key": run_key,
    }


def copy_outputs(result: dict, weights_out: str | Path, results_out: str | Path) -> None:
    shutil.copyfile(result["weights"], weights_out)
    shutil.copyfile(result["results_csv"], results_out)
