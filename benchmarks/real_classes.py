"""Classes on the real sky: Conv4Net's image-only answer (``class_image``) on every real
labelled source in ../shared, by r bin, with counts and 95 % Wilson intervals, beside a
concentration cut measured on the r frame.

Labels: the calibObj stars and galaxies of 3918/3/213 (PHOTO's own star/galaxy split:
reliable at r < 20, weaker fainter) and the calibObj stars of 4510/4/30. A QSO answer counts
as a point source (STAR): the labels cannot tell quasars from stars.

Per source, on the field's r frame (sky-subtracted nanomaggies): r from a 7-px-radius aperture
minus the median of a 12-20 px annulus; the concentration ``c = m(1.5 px) - m(4 px)`` in the
same way. Point sources share one ``c`` (the PSF's), galaxies have a larger one. The cut is
``c > locus + 0.1`` mag, where the locus is the median ``c`` of the most concentrated third of
the field's sources with r < 19: set from the field's own light, never from the labels.
Conv4Net sees the official irg JPEG on the r grid, each cut-out as large as the box table's
side for the source's r, as the workflow crops a detection of that magnitude
(``classifier.crop_side: magnitude``; the workflow takes the r of its 2" aperture). Besides
the agreement over both labels, ``class_image``'s recall of each label by r.

    python benchmarks/real_classes.py --classifier results/models/classifier/conv4net.pt \
        [--fusion results/models/fusion/fusion.joblib] [--limit N]

With ``--fusion``, also the share of the image's fusion weight the classifier earns on the
labelled field per r bin (`yl8c4net.classify.sky_weight`; PHOTO's labels stand in for
PhotoObjAll ``type``), as a real run computes it from its own rows.

With ``--fusion``, the calibObj stars of 4510/4/30 are also scored by the photometric part
and the fused ``class``: the sweep holds PHOTO's own measurements of them (model and PSF
fluxes with their inverse variances, ``objc_type``), which stand in for their PhotoObjAll
rows. The probabilities are moved to the sky's class shares at each row's r, as the
catalogue moves its own. 3918/3/213 has labels without photometry, so its fused class is not
scored.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from record import write_record

from yl8c4net.classify.weak_labels import CONCENTRATION_CUT_MAG, aperture_mags, concentration_classes, local_sky

LABELLED = (3918, 3, 213)
STARS_ONLY = (4510, 4, 30)
SWEEP = "dr17/eboss/sweeps/dr13_final/301/calibObj-004510-4-star.fits.gz"
R_BINS = [(12.0, 18.0), (18.0, 19.0), (19.0, 20.0), (20.0, 21.0), (21.0, 22.2)]
SUMMARY_BINS = [(12.0, 20.0), (20.0, 22.2), (12.0, 21.0)]
IMAGE_COLUMNS = ("p_galaxy_image", "p_star_image", "p_qso_image")


def agreement_by_r(table: pd.DataFrame, answer: str, bins) -> list[dict]:
    """Agreement of ``answer`` with ``label`` per r bin: n, k, rate and its 95 % Wilson interval."""
    from astropy.stats import binom_conf_interval

    rows = []
    for lo, hi in bins:
        sel = table[(table["r"] >= lo) & (table["r"] < hi)]
        n, k = len(sel), int((sel[answer] == sel["label"]).sum())
        low, high = binom_conf_interval(k, n, 0.95, interval="wilson") if n else (np.nan, np.nan)
        rows.append({"r": f"{lo:g}-{hi:g}", "n": n, "k": k, "rate": k / n if n else None, "low": low, "high": high})
    return rows


def field_sources(
    shared: Path,
    fid_tuple,
    classifier,
    limit: int | None,
    crop_scale: float = 1.0,
    seeing_reference_arcsec: float | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Every labelled source of one field with its r, concentration, surround level and both
    answers, and the field's composite (the cut-outs' image); the cut-out side is the box
    table's for its r times ``crop_scale``, and times the field's seeing scale for a
    classifier trained with a seeing reference (`yl8c4net.images.seeing`, the FWHM from the
    field's own sources, as the workflow measures it from its detections)."""
    from astropy.table import Table

    from yl8c4net.classify.infer import classify_detections
    from yl8c4net.images.composite import field_composite
    from yl8c4net.classify.weak_labels import detected_sources
    from yl8c4net.images.labels import BoxTable
    from yl8c4net.images.seeing import crop_scale as seeing_scale
    from yl8c4net.images.seeing import field_fwhm_arcsec
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.frames import read_frame
    from yl8c4net.sdss.source import MirrorSource

    model, norm = classifier
    sas = shared / "data" / "sas"
    fid = FieldId(*fid_tuple)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = fetch_field(fid, MirrorSource(sas), "r", Path(tmp))
        composite, _ = field_composite(Path(tmp), manifest)
        frame = read_frame(Path(tmp) / manifest["frames"]["r"]["file"])
    if fid_tuple == LABELLED:
        labels = shared / "data" / "labels"
        tag = f"{fid.run:06d}-{fid.camcol}-{fid.field:04d}"
        parts = [
            pd.read_csv(labels / f"calibObj-{tag}-{kind}.csv").assign(label=label)
            for kind, label in (("stars", "STAR"), ("gals", "GALAXY"))
        ]
        sources = pd.concat(parts, ignore_index=True)
    else:
        stars = Table.read(sas / SWEEP)
        stars = stars[stars["FIELD"] == fid.field]
        x, y = frame.wcs.all_world2pix(stars["RA"], stars["DEC"], 0)
        sources = pd.concat([pd.DataFrame({"x": x, "y": y, "label": "STAR"}), sweep_photometry(stars)], axis=1)
    inside = sources["x"].between(25, 2022) & sources["y"].between(25, 1463)
    sources = sources[inside].reset_index(drop=True)
    if limit:
        sources = sources.iloc[:: max(len(sources) // limit, 1)].head(limit).reset_index(drop=True)
    mags = aperture_mags(frame.image, sources["x"], sources["y"])
    sources["r"] = mags[7.0]
    sources["concentration"] = mags[1.5] - mags[4.0]
    sources["surround_sigma"] = surround_sigma(frame.image, sources["x"], sources["y"])
    sources["class_concentration"], cut = concentration_classes(sources["concentration"].to_numpy(), sources["r"])
    found = detected_sources(np.nan_to_num(frame.image))
    fwhm = field_fwhm_arcsec(frame.image, found["x"], found["y"])
    side = BoxTable().side(sources["r"]) * crop_scale * seeing_scale(fwhm, seeing_reference_arcsec)
    boxes = sources.assign(w=side, h=side)
    classified = classify_detections(model, norm, composite, boxes)
    answer = classified["class"].astype(str).to_numpy()
    sources["class_image"] = np.where(answer == "QSO", "STAR", answer)
    for c in IMAGE_COLUMNS:
        sources[c] = classified[c.removesuffix("_image")].to_numpy(float)
    sources["field"] = f"{fid.run}/{fid.camcol}/{fid.field}"
    sources.attrs["concentration_cut"] = cut
    sources.attrs["fwhm_arcsec"] = fwhm
    return sources, composite


def surround_sigma(image: np.ndarray, x, y) -> np.ndarray:
    """How far each source's local sky (the 12-20 px annulus median its photometry subtracts,
    `local_sky`) lies above the field's sky, in units of the field's pixel noise
    (sigma-clipped). A few tenths for an isolated source; several for one on a larger
    object's light, such as a knot or nucleus of a big galaxy that PHOTO's deblender made a
    child of its own. Measured from the frame alone, never from the labels or the answers."""
    from astropy.stats import sigma_clipped_stats

    _, sky, noise = sigma_clipped_stats(image, sigma=3.0)
    return (local_sky(image, x, y) - sky) / noise


DISAGREEMENT_COLUMNS = ("x", "y", "r", "label", "class_image", "class_concentration", "concentration", "surround_sigma")


def bright_disagreements(table: pd.DataFrame, r_max: float = 20.0) -> list[dict]:
    """The sources brighter than ``r_max`` whose ``class_image`` differs from the label, one
    dict each (position on the r frame, r, label, both answers, surround level): few enough
    at r < 20 to look at one by one (``--figure``)."""
    sel = table[(table["r"] < r_max) & (table["class_image"] != table["label"])]
    return [
        {k: (round(float(v), 3) if isinstance(v, (float, np.floating)) else v) for k, v in row.items()}
        for row in sel[list(DISAGREEMENT_COLUMNS)].to_dict("records")
    ]


def disagreement_figure(path: Path, fields: list[tuple[pd.DataFrame, np.ndarray]], caption: str) -> int:
    """One 121 x 121 px panel of the composite (in the r frame's orientation) around each disagreement
    at r < 20 of the given fields, titled with the field, r, the label and both answers.
    Returns the number of panels."""
    from yl8c4net.report.figures import pyplot

    panels = [(table, composite, row) for table, composite in fields for row in bright_disagreements(table)]
    if not panels:
        return 0
    plt = pyplot()
    cols = min(len(panels), 4)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.9 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    half = 60
    for ax, (table, composite, row) in zip(axes.ravel(), panels, strict=False):
        xi, yi = int(round(row["x"])), int(round(row["y"]))
        y0, x0 = max(yi - half, 0), max(xi - half, 0)
        ax.imshow(composite[y0 : yi + half + 1, x0 : xi + half + 1, :3], origin="lower", interpolation="nearest")
        ax.plot([xi - x0], [yi - y0], marker="+", ms=14, mew=1.0, color="magenta")
        ax.set_title(
            f"{table['field'].iloc[0]} ({row['x']:.0f}, {row['y']:.0f}) r {row['r']:.2f}\n"
            f"label {row['label']}, image {row['class_image']},\nconcentration {row['class_concentration']}",
            fontsize=8,
        )
    fig.suptitle(caption, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return len(panels)


def sweep_photometry(stars) -> pd.DataFrame:
    """PhotoObjAll's classifier columns (``photo_`` + u ... z, err_u ... err_z, psfmag_r,
    type) of calibObj sweep rows: asinh magnitudes of the model and PSF fluxes
    (nanomaggies), their errors from the inverse variances, and ``OBJC_TYPE``."""
    from yl8c4net.sdss.magnitudes import asinh_mag, asinh_mag_err

    model = np.asarray(stars["MODELFLUX"], float)
    ivar = np.asarray(stars["MODELFLUX_IVAR"], float)
    with np.errstate(divide="ignore"):
        model_err = np.where(ivar > 0, 1.0 / np.sqrt(ivar), np.nan)
    out = {}
    for j, band in enumerate("ugriz"):
        out[f"photo_{band}"] = asinh_mag(model[:, j], band)
        out[f"photo_err_{band}"] = asinh_mag_err(model[:, j], model_err[:, j], band)
    out["photo_psfmag_r"] = asinh_mag(np.asarray(stars["PSFFLUX"], float)[:, 2], "r")
    out["photo_type"] = np.asarray(stars["OBJC_TYPE"], int)
    return pd.DataFrame(out)


def fused_answers(table: pd.DataFrame, fusion, earned) -> dict[str, np.ndarray]:
    """The photometric part's and the fused class of rows with `sweep_photometry` columns,
    each at the sky's class shares at the row's r (the simulator's real-sky densities in
    0.5 mag around it), a QSO answer counted as STAR. Two image weights: the one earned on
    3918/3/213 (``earned``, a `~yl8c4net.classify.sky_weight.SkyImageWeight`) and the
    simulated one."""
    from yl8c4net.classify.probabilities import shift_priors
    from yl8c4net.classify.sky_mix import sky_class_densities
    from yl8c4net.sdss.queries import SPEC_CLASSES

    features = table[[c for c in table.columns if c.startswith("photo_")]].rename(columns=lambda c: c[6:])
    model_r = features["r"].to_numpy(float)
    # Rows outside r 12-22.2 take the shares at its ends; a row without a model r, the sky's
    # shares over all r.
    centre = np.clip(model_r, 12.25, 21.95)
    window = [(m - 0.25, m + 0.25) if np.isfinite(m) else (0.0, 22.2) for m in centre]
    shares = np.array([sky_class_densities(lo, hi) for lo, hi in window])
    shares /= shares.sum(axis=1, keepdims=True)
    p_image = table[list(IMAGE_COLUMNS)].to_numpy(float)
    probabilities = {
        "photometric part": fusion.photometric_proba(features),
        "class (fused, image weight earned on 3918/3/213)": fusion.fused_proba(
            features, p_image, earned.factor_at(model_r)
        ),
        "class (fused, simulated image weight)": fusion.fused_proba(features, p_image, 1.0),
    }
    out = {}
    for name, p in probabilities.items():
        answer = np.asarray(SPEC_CLASSES)[shift_priors(p, fusion.train_priors, shares).argmax(axis=1)]
        out[name] = np.where(answer == "QSO", "STAR", answer)
    return out


def image_weight_on_labelled_field(table: pd.DataFrame, fusion):
    """The share of its fusion weight the image model would earn on the labelled field
    (`yl8c4net.classify.sky_weight`), PHOTO's labels standing in for PhotoObjAll ``type``
    and the aperture r for the model magnitude."""
    from yl8c4net.classify.sky_weight import sky_image_weight

    photo_type = np.where(table["label"] == "STAR", 6, 3)
    sky = sky_image_weight(table[list(IMAGE_COLUMNS)].to_numpy(float), photo_type, table["r"], fusion.image_type_scale)
    print(f"\nimage weight earned on {table['field'].iloc[0]} (reference scale {sky.reference_scale:.3f}):")
    for b in sky.bins:
        print(
            f"  {b['r']:>14}: n = {b['n']:>4} ({b['n_star']} stars), scale {b.get('scale', float('nan')):.3f}, factor {b['factor']:.3f}"
        )
    return sky


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classifier", type=Path, required=True, help="a Conv4Net checkpoint (e.g. the demo's)")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument(
        "--fusion",
        type=Path,
        default=None,
        help="the fusion model made with that classifier: also report its sky weights",
    )
    ap.add_argument("--limit", type=int, default=None, help="score at most N sources per field (a quick look)")
    ap.add_argument(
        "--crop-scale",
        type=float,
        default=1.0,
        help="cut-out side times this (a diagnostic: the answers against a source's size in its cut-out)",
    )
    ap.add_argument(
        "--figure",
        type=Path,
        default=None,
        help="write a PNG of the composite around every source brighter than r = 20 that class_image gets wrong",
    )
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "real_classes.json")
    args = ap.parse_args(argv)
    from yl8c4net.classify.train import load_classifier

    from yl8c4net.images.seeing import crop_settings

    model, norm, meta = load_classifier(args.classifier, device="cpu")
    reference = crop_settings(meta)
    labelled, labelled_composite = field_sources(
        args.shared, LABELLED, (model, norm), args.limit, args.crop_scale, reference
    )
    stars, stars_composite = field_sources(
        args.shared, STARS_ONLY, (model, norm), args.limit, args.crop_scale, reference
    )
    from yl8c4net.io import sha256_of

    result = {
        "classifier": str(args.classifier),
        "classifier_sha256": sha256_of(args.classifier),
        "concentration_margin_mag": CONCENTRATION_CUT_MAG,
        "crop_scale": args.crop_scale,
        "seeing_reference_arcsec": reference,
        "fields": {},
    }
    fused_names = []
    if args.fusion:
        from yl8c4net.classify.fusion import load_fusion

        fusion = load_fusion(args.fusion)
        earned = image_weight_on_labelled_field(labelled, fusion)
        result["image_weight_on_sky"] = {"fusion": str(args.fusion), **earned.summary()}
        for name, answer in fused_answers(stars, fusion, earned).items():
            stars[name] = answer
            fused_names.append(name)
        print()
    print("| field | answer | " + " | ".join(f"r {lo:g}-{hi:g}" for lo, hi in R_BINS + SUMMARY_BINS) + " |")
    print("|---|---|" + "---|" * (len(R_BINS) + len(SUMMARY_BINS)))
    for table in (labelled, stars):
        name = table["field"].iloc[0]
        entry = {
            "n": int(len(table)),
            "concentration_cut_mag": table.attrs["concentration_cut"],
            "fwhm_arcsec": table.attrs["fwhm_arcsec"],
            "answers": {},
        }
        answers = ["class_image", "class_concentration"] + (fused_names if table is stars else [])
        for answer in answers:
            rows = agreement_by_r(table, answer, R_BINS + SUMMARY_BINS)
            entry["answers"][answer] = rows
            cells = [f"{r['rate']:.3f} ({r['n']})" if r["n"] else "-" for r in rows]
            print(f"| {name} | {answer} | " + " | ".join(cells) + " |")
        # Each label's own recall: a trade between stars and galaxies shows here, not in the
        # agreement over both.
        entry["class_image_by_label"] = {}
        for label in sorted(table["label"].unique()):
            rows = agreement_by_r(table[table["label"] == label], "class_image", R_BINS + SUMMARY_BINS)
            entry["class_image_by_label"][label] = rows
            cells = [f"{r['rate']:.3f} ({r['n']})" if r["n"] else "-" for r in rows]
            print(f"| {name} | class_image, {label} labels | " + " | ".join(cells) + " |")
        if name == "3918/3/213":
            for label in ("STAR", "GALAXY"):
                sel = table[(table["label"] == label) & (table["r"] < 20)]
                entry[f"{label.lower()}s_r_lt_20_called_star_by_image"] = int((sel["class_image"] == "STAR").sum())
                entry[f"{label.lower()}s_r_lt_20"] = int(len(sel))
        entry["disagreements_r_lt_20"] = bright_disagreements(table)
        result["fields"][name] = entry
    for name, entry in result["fields"].items():
        for d in entry["disagreements_r_lt_20"]:
            print(
                f"{name} r < 20, image against label: ({d['x']:.0f}, {d['y']:.0f}) r {d['r']:.2f} label {d['label']} "
                f"image {d['class_image']} concentration {d['class_concentration']} surround {d['surround_sigma']:.1f} sigma"
            )
    if args.figure:
        from record import git_commit, machine

        host = machine()
        caption = (
            f"real_classes.py, {time.strftime('%Y-%m-%d')}, commit {git_commit()}, "
            f"{host.get('cpu_count', '?')} CPU cores; classifier {args.classifier.name}"
        )
        result["figure"] = {
            "path": str(args.figure),
            "panels": disagreement_figure(
                args.figure, [(labelled, labelled_composite), (stars, stars_composite)], caption
            ),
        }
    write_record(args.out, result)
    return result


if __name__ == "__main__":
    main()
