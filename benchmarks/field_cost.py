"""What one field costs: bytes fetched and seconds per stage, torch and ONNX side by side.

    python benchmarks/field_cost.py [--fields 20] [--classifier conv4net.pt] [--work DIR]

Simulates ``--fields`` fields (the demo's simulator at the real sky's densities, run 9301,
cached under ``--work``), fetches each as a catalogue run does (`sdss.bands: auto`: the irg
JPEG and the r frame), and then runs every per-field stage of the catalogue on each field,
once with torch and once with the ONNX copies (`yl8c4net.runtime.onnx`), alternating per
field so that both see the same machine load:

- composite: the irg JPEG to the composite on the r grid, written as the pipeline's PNG;
- read: that PNG and the r frame read back (as detect/classify blocks read them);
- detect: YOLOv8's 12 tiles in one batch, overlaps merged (the shipped detector);
- verify: the flux verification of the boxes on the r frame (`detector.verify`, on by default);
- classify: Conv4Net on every detection's cut-out, windowed centroids on the r frame, WCS;
- catalogue: the one-to-one PhotoObjAll crossmatch of the field's rows.

Then detect again with 4 fields' tiles (48) per batch (``detector.batch_tiles: 48``), to
compare with one field per batch.

Models are loaded once (as a block job does) and the first field is a warm-up, left out.
Prints a table of median seconds per field and the ONNX/torch ratios, and writes
benchmarks/out/field_cost.json. Without ``--classifier`` a Conv4Net with seeded random
weights is timed (its speed does not depend on its weights).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import yaml
from record import write_record

REPO = Path(__file__).resolve().parents[1]
STAGES = ("composite", "read", "detect", "verify", "classify", "catalogue")
RUN, CAMCOL, FIRST_FIELD = 9301, 3, 11
#: Fields per batch of the batched-detection comparison (12 tiles each).
BATCH_FIELDS = 4


def benchmark_config(n_fields: int) -> dict:
    from yl8c4net.config import validate_config

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["runs"] = [{"run": RUN, "strip": "N", "camcols": [CAMCOL], "fields": [FIRST_FIELD, FIRST_FIELD + n_fields - 1]}]
    cfg["simulate"].update(seed=16_0016, ra0_deg=40.0, density_deg2={"GALAXY": 11000, "STAR": 4000, "QSO": 150})
    return validate_config(cfg, REPO / "workflow" / "schemas" / "config.schema.yaml")


def prepare_fields(cfg: dict, work: Path, log=print) -> list:
    """Simulate (once) and fetch the fields; returns [(fid, field_dir, manifest)]."""
    from yl8c4net.config import field_ids, sim_config
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.simulate.mirror import simulate_field, truth_relpath
    from yl8c4net.sdss.source import MirrorSource

    mirror = work / "mirror"
    sim = sim_config(cfg)
    out = []
    for fid in field_ids(cfg):
        if not (mirror / truth_relpath(fid)).is_file():
            t0 = time.perf_counter()
            simulate_field(sim, fid, mirror)
            log(f"simulated {fid} ({time.perf_counter() - t0:.1f} s)")
        field_dir = work / "fields" / f"{fid.run}-{fid.camcol}-{fid.field}"
        manifest = fetch_field(
            fid,
            MirrorSource(mirror),
            cfg["sdss"]["bands"],
            field_dir,
            use_official_jpeg=cfg["training_data"]["use_official_jpeg"],
        )
        out.append((fid, field_dir, manifest))
    return out


def classifier_checkpoint(path: str | None, work: Path) -> Path:
    if path:
        return Path(path)
    import torch

    from yl8c4net.classify.model import CLASS_NAMES, Conv4Net

    torch.manual_seed(0)
    ckpt = work / "models" / "conv4net-random.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    norm = {"min": [0.0] * 3, "max": [255.0] * 3, "mean": [0.2] * 3, "std": [0.2] * 3}
    torch.save(
        {
            "version": 1,
            "class_names": list(CLASS_NAMES),
            "in_channels": 3,
            "norm": norm,
            "model_state": Conv4Net().state_dict(),
        },
        ckpt,
    )
    return ckpt


def field_stages(fid, field_dir: Path, manifest: dict, photo, models: dict, cfg: dict, work: Path) -> tuple[dict, int]:
    """Seconds of each stage on one field with one runtime's models, and the detections."""
    from yl8c4net.catalog.build import crossmatch_photoobj
    from yl8c4net.catalog.sky import pixels_to_sky
    from yl8c4net.classify.infer import classify_detections
    from yl8c4net.images.composite import field_composite
    from yl8c4net.config import lupton_stretch
    from yl8c4net.detect.infer import detect_field
    from yl8c4net.detect.verify import VerifySettings, verify_detections
    from yl8c4net.images.imageio import load_image, save_image
    from yl8c4net.catalog.positions import refine_positions
    from yl8c4net.images.labels import PIXEL_ARCSEC
    from yl8c4net.images.seeing import crop_scale, field_fwhm_arcsec
    from yl8c4net.sdss.frames import r_frame_pixel_noise, read_frame

    seconds = {}
    t = time.perf_counter()
    image, _ = field_composite(field_dir, manifest, lupton_stretch(cfg), True, [])
    png = save_image(image, work / "composite" / f"{fid.run}-{fid.camcol}-{fid.field}.png", flip=True)
    seconds["composite"] = time.perf_counter() - t

    t = time.perf_counter()
    composite = load_image(png, flip=True)
    frame = read_frame(field_dir / manifest["frames"]["r"]["file"])
    seconds["read"] = time.perf_counter() - t

    det_cfg = cfg["detector"]
    t = time.perf_counter()
    det = detect_field(
        models["detector"], composite, cfg["training_data"]["tile_px"], det_cfg["conf"], det_cfg["iou"],
        det_cfg["merge"], det_cfg["merge_iou"], det_cfg["max_det"], device="cpu", imgsz=det_cfg["imgsz"],
    )  # fmt: skip
    seconds["detect"] = time.perf_counter() - t

    t = time.perf_counter()
    noise = r_frame_pixel_noise(frame, fid.camcol)
    det, _ = verify_detections(det, frame.image, noise, VerifySettings.from_config(det_cfg["verify"]))
    seconds["verify"] = time.perf_counter() - t

    t = time.perf_counter()
    model, norm, reference = models["classifier"]
    # As the classify step: the seeing fitted once, for the crops and the positions.
    fwhm = field_fwhm_arcsec(frame.image, det["x"], det["y"])
    classified = classify_detections(model, norm, composite, det, crop_scale=crop_scale(fwhm, reference))
    measured = refine_positions(
        classified, frame.image, cfg["catalog"]["centroid_window_fwhm_arcsec"], fwhm_px=fwhm / PIXEL_ARCSEC
    )
    rows = pixels_to_sky(measured, frame.wcs)
    seconds["classify"] = time.perf_counter() - t

    t = time.perf_counter()
    crossmatch_photoobj(rows, photo, cfg["catalog"]["match_radius_arcsec"])
    seconds["catalogue"] = time.perf_counter() - t
    return seconds, len(det)


def batched_detect_seconds(models: dict, fields: list, cfg: dict, work: Path, batch_fields: int) -> dict:
    """Median detect seconds per field when ``batch_fields`` fields' tiles go in one batch
    (detect_block's ``detector.batch_tiles``), per runtime, batches alternated."""
    from yl8c4net.detect.infer import detect_fields
    from yl8c4net.images.imageio import load_image

    composites = [load_image(work / "composite" / f"{f.run}-{f.camcol}-{f.field}.png", flip=True) for f, _, _ in fields]
    det_cfg = cfg["detector"]
    settings = dict(
        tile=cfg["training_data"]["tile_px"], conf=det_cfg["conf"], iou=det_cfg["iou"], merge=det_cfg["merge"],
        merge_iou=det_cfg["merge_iou"], max_det=det_cfg["max_det"], device="cpu", imgsz=det_cfg["imgsz"],
    )  # fmt: skip
    per_field = {rt: [] for rt in models}
    batches = [composites[i : i + batch_fields] for i in range(0, len(composites) - batch_fields + 1, batch_fields)]
    for k, batch in enumerate(batches):
        for rt in ("torch", "onnx") if k % 2 == 0 else ("onnx", "torch"):
            t = time.perf_counter()
            detect_fields(models[rt]["detector"], batch, **settings)
            per_field[rt].append((time.perf_counter() - t) / len(batch))
    return {rt: float(np.median(v)) for rt, v in per_field.items()}


def load_models(runtime: str, detector_pt: Path, classifier_pt: Path, work: Path) -> dict:
    from ultralytics import YOLO

    from yl8c4net.classify.model import CLASS_NAMES
    from yl8c4net.classify.train import load_classifier
    from yl8c4net.images.seeing import crop_settings
    from yl8c4net.runtime.onnx import export_classifier_onnx, export_detector_onnx, load_classifier_onnx

    if runtime == "torch":
        model, norm, meta = load_classifier(classifier_pt, CLASS_NAMES, 3, "cpu")
        return {"detector": YOLO(str(detector_pt), task="detect"), "classifier": (model, norm, crop_settings(meta))}
    det_onnx = export_detector_onnx(detector_pt, work / "models" / "detector.onnx")
    cls_onnx = export_classifier_onnx(classifier_pt, work / "models" / "conv4net.onnx", CLASS_NAMES, 3)
    model, norm, meta = load_classifier_onnx(cls_onnx, CLASS_NAMES, 3)
    return {"detector": YOLO(str(det_onnx), task="detect"), "classifier": (model, norm, crop_settings(meta))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fields", type=int, default=20)
    ap.add_argument("--classifier", help="a Conv4Net checkpoint (default: seeded random weights)")
    ap.add_argument("--work", default=str(REPO / "benchmarks" / "out" / "field_cost"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "field_cost.json"))
    args = ap.parse_args()
    work = Path(args.work)

    from yl8c4net.detect.env import prepare_ultralytics, use_cpu_threads

    prepare_ultralytics(work / "yolo")
    import torch

    use_cpu_threads(os.cpu_count())  # as detect_block does with its threads (ultralytics would use one less)

    from yl8c4net.config import catalog_backend
    from yl8c4net.pipeline.model_files import shipped_detector
    from yl8c4net.sdss.queries import checked_photoobj_field

    cfg = benchmark_config(args.fields + 1)  # +1: the warm-up field
    cfg["sdss"]["mirror_root"] = str(work / "mirror")
    fields = prepare_fields(cfg, work)
    backend = catalog_backend(cfg)
    photo = {fid: checked_photoobj_field(backend, fid) for fid, _, _ in fields}
    classifier_pt = classifier_checkpoint(args.classifier, work)
    models = {rt: load_models(rt, shipped_detector(), classifier_pt, work) for rt in ("torch", "onnx")}

    per_field = {rt: [] for rt in models}
    n_det = {rt: [] for rt in models}
    for k, (fid, field_dir, manifest) in enumerate(fields):
        order = ("torch", "onnx") if k % 2 == 0 else ("onnx", "torch")
        for rt in order:
            seconds, n = field_stages(fid, field_dir, manifest, photo[fid], models[rt], cfg, work)
            if k > 0:
                per_field[rt].append(seconds)
                n_det[rt].append(n)
        print(
            f"{fid}: " + ", ".join(f"{rt} {sum(per_field[rt][-1].values()):.2f} s" for rt in models)
            if k
            else f"{fid}: warm-up"
        )

    batched = batched_detect_seconds(models, fields[1:], cfg, work, BATCH_FIELDS)
    bytes_per_field = [m["bytes"] for _, _, m in fields[1:]]
    summary = {}
    for rt, rows in per_field.items():
        summary[rt] = {s: float(np.median([r[s] for r in rows])) for s in STAGES}
        summary[rt]["total"] = float(np.median([sum(r.values()) for r in rows]))
    result = {
        "n_fields": len(per_field["torch"]),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "device": "cpu",
        "median_s_per_field": summary,
        "onnx_over_torch": {s: summary["onnx"][s] / summary["torch"][s] for s in (*STAGES, "total")},
        "detections_per_field": {rt: float(np.mean(v)) for rt, v in n_det.items()},
        "same_detection_counts": n_det["torch"] == n_det["onnx"],
        "fetched_mb_per_field_median": float(np.median(bytes_per_field)) / 1e6,
        f"detect_s_per_field_batches_of_{BATCH_FIELDS}_fields": batched,
        "bands": cfg["sdss"]["bands"],
    }
    print(
        f"\n{result['n_fields']} simulated fields at the sky's densities, median seconds per field on {result['machine']}"
    )
    print(f"{'stage':<10} {'torch':>8} {'onnx':>8} {'onnx/torch':>11}")
    for s in (*STAGES, "total"):
        print(f"{s:<10} {summary['torch'][s]:>8.3f} {summary['onnx'][s]:>8.3f} {result['onnx_over_torch'][s]:>11.2f}")
    print(
        f"detections per field {result['detections_per_field']['torch']:.0f} (same count with ONNX on every field: "
        f"{result['same_detection_counts']}); fetched {result['fetched_mb_per_field_median']:.2f} MB per field "
        f"(frames {','.join(result['bands'])} + irg JPEG)"
    )
    print(
        f"detect with {BATCH_FIELDS} fields' tiles ({12 * BATCH_FIELDS}) per batch: torch {batched['torch']:.3f} s, "
        f"onnx {batched['onnx']:.3f} s per field (one field per batch above: torch {summary['torch']['detect']:.3f}, "
        f"onnx {summary['onnx']['detect']:.3f})"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_record(args.out, result)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
