"""Do the simulator's sources look like the sky's? A check without labels: the concentration
of every source detected on the real ordinary fields of ../shared against the simulator's at
the same seeing and sky.

Per real field: the r frame's sources (photutils: segments of at least 5 pixels 5 sigma
above the sky of the frame smoothed by a 3-px Gaussian, deblended), their r in a 7-px aperture and their
concentration ``c = m(1.5 px) - m(4 px)``, both minus a 12-20 px annulus (the measures of
`benchmarks/real_classes.py`). ``dc`` is ``c`` minus the field's stellar locus, so point
sources sit at 0 whatever the seeing; resolved galaxies above it. The simulator renders
an r frame of realistic sky densities (`yl8c4net.simulate.population`, its default
densities) with the real field's r sky and the seeing that gives its point sources the real field's
concentration, and the same measures run on it. Per r bin:
the number of sources, the share resolved (``dc > 0.1`` mag, the cut of the real-class
benchmark) and the median ``dc`` of the resolved ones: the share says whether the mix of
compact and resolved sources matches, the median whether resolved galaxies have the sky's
sizes. The figure shows ``dc`` against r, real beside simulated.

    python benchmarks/morphology_sim_vs_real.py [--figure docs/figures/morphology_sim_vs_real.png] \
        [--hlr-at-r19 ARCSEC]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from record import write_record

from yl8c4net.classify.weak_labels import concentration_table

FIELDS = [(3918, 3, 213), (4510, 4, 30), (1035, 6, 17), (1992, 1, 87)]
R_BINS = [(16.0, 19.0), (19.0, 20.0), (20.0, 21.0), (21.0, 22.2)]
RESOLVED_DC_MAG = 0.1
SEEING_STEPS = 4


def simulated_at_locus(
    seed: int, locus: float, sky_nmgy: float, params, first_fwhm: float = 1.4
) -> tuple[pd.DataFrame, float, float]:
    """The simulated frame whose point sources have the real field's concentration ``locus``:
    the seeing found by secant steps on the locus (a moment FWHM would not do: the real and
    simulated PSFs differ in their wings, which the moments weigh and the apertures hardly)."""
    tried = []
    fwhm = first_fwhm
    for _ in range(SEEING_STEPS):
        sim, sim_locus = concentration_table(simulated_r_frame(seed, fwhm, sky_nmgy, params))
        tried.append((fwhm, sim_locus, sim))
        if abs(sim_locus - locus) < 0.01:
            break
        if len(tried) == 1:
            fwhm = fwhm * (locus / sim_locus) ** 0.5
        else:
            (f0, l0, _), (f1, l1, _) = tried[-2], tried[-1]
            fwhm = float(np.clip(f1 + (locus - l1) * (f1 - f0) / (l1 - l0), 0.6, 3.0)) if l1 != l0 else f1
    fwhm, sim_locus, sim = min(tried, key=lambda t: abs(t[1] - locus))
    return sim, fwhm, sim_locus


def real_r_frame(shared: Path, fid_tuple) -> tuple[np.ndarray, float]:
    """The real r frame and the sky it had (nanomaggies per pixel, from its HDU2 sky and HDU1
    calibration: what set its noise)."""
    from astropy.io import fits

    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.frames import read_frame
    from yl8c4net.sdss.source import MirrorSource

    with tempfile.TemporaryDirectory() as tmp:
        manifest = fetch_field(FieldId(*fid_tuple), MirrorSource(shared / "data" / "sas"), "r", Path(tmp))
        path = Path(tmp) / manifest["frames"]["r"]["file"]
        frame = read_frame(path)
        with fits.open(path) as hdul:
            sky_nmgy = float(np.median(hdul[2].data["ALLSKY"][0]) * np.median(hdul[1].data))
    return np.nan_to_num(frame.image), sky_nmgy


def simulated_frames(seed: int, fwhm_r: float, sky_nmgy: float, params, bands: str = "r"):
    """The simulator's frames in ``bands`` of one sky (`~yl8c4net.simulate.population.PopulationParams`
    ``params``) at this r seeing and r sky (every band's sky scaled alike), on one pixel grid:
    a dict band -> image (nanomaggies), the sources and the grid's WCS."""
    from dataclasses import replace

    from yl8c4net.simulate.colours import load_colour_model
    from yl8c4net.simulate.population import sources_in_box
    from yl8c4net.simulate.render import add_sky_noise, calib_vector, field_conditions, render_sources
    from yl8c4net.simulate.survey import StripeGeometry, frame_footprint, frame_wcs

    rng = np.random.default_rng([seed, 7])
    wcs = frame_wcs(StripeGeometry(10.0 + seed, 0.0), "N", 3, 11, "r")
    sources = sources_in_box(seed, *frame_footprint(wcs, 40), params, load_colour_model())
    conds = field_conditions(rng, fwhm_range=(fwhm_r, fwhm_r))
    sky_scale = sky_nmgy / conds["r"].sky_nmgy
    images = {}
    for band in bands:
        cond = replace(conds[band], sky_counts=conds[band].sky_counts * sky_scale)
        clean = render_sources(sources, wcs, band, cond.fwhm_arcsec)
        images[band] = add_sky_noise(clean, cond, calib_vector(rng, cond.calib), rng)
    return images, sources, wcs


def simulated_r_frame(seed: int, fwhm_arcsec: float, sky_nmgy: float, params) -> np.ndarray:
    """An r frame of the simulator's sky (`~yl8c4net.simulate.population.PopulationParams`
    ``params``) at this seeing and sky."""
    return simulated_frames(seed, fwhm_arcsec, sky_nmgy, params, "r")[0]["r"]


def summary(t: pd.DataFrame) -> list[dict]:
    rows = []
    for lo, hi in R_BINS:
        sel = t[(t["r"] >= lo) & (t["r"] < hi)]
        resolved = sel[sel["dc"] > RESOLVED_DC_MAG]
        rows.append(
            {
                "r": f"{lo:g}-{hi:g}",
                "n": int(len(sel)),
                "resolved_share": float(len(resolved) / len(sel)) if len(sel) else None,
                "resolved_median_dc": float(resolved["dc"].median()) if len(resolved) else None,
            }
        )
    return rows


def figure(pairs: dict, path: Path, stamp: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 4.0), sharey=True)
    for ax, (name, (real, sim, fwhm)) in zip(np.atleast_1d(axes), pairs.items()):
        ax.scatter(sim["r"], sim["dc"], s=3, c="tab:orange", alpha=0.5, label=f"simulator ({len(sim)})")
        ax.scatter(real["r"], real["dc"], s=4, c="k", alpha=0.6, label=f"real ({len(real)})")
        ax.axhline(RESOLVED_DC_MAG, color="grey", lw=0.8, ls="--")
        ax.set_xlim(15.5, 22.5)
        ax.set_ylim(-0.4, 1.6)
        ax.set_title(f'{name}  (simulated at seeing {fwhm:.2f}")', fontsize=9)
        ax.set_xlabel("r (7-px aperture)")
        ax.legend(fontsize=7, loc="upper left")
    np.atleast_1d(axes)[0].set_ylabel("concentration above the stellar locus (mag)")
    fig.suptitle(f"Detected sources, real vs simulated at the same seeing ({stamp})", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--fields", type=int, default=len(FIELDS), help="the first N fields only")
    ap.add_argument("--figure", type=Path, default=None, help="write the figure here (PNG)")
    ap.add_argument(
        "--hlr-at-r19",
        type=float,
        default=None,
        help="simulate galaxies of this median half-light radius at r = 19 (arcsec; default: the simulator's)",
    )
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "morphology_sim_vs_real.json")
    args = ap.parse_args(argv)
    from dataclasses import replace

    from yl8c4net.simulate.population import PopulationParams

    params = PopulationParams()
    if args.hlr_at_r19 is not None:
        params = replace(params, hlr_at_r19_arcsec=args.hlr_at_r19)
    sizes = {
        "hlr_at_r19_arcsec": params.hlr_at_r19_arcsec,
        "dex_per_mag": params.hlr_dex_per_mag,
        "scatter_dex": params.hlr_scatter_dex,
    }
    result, pairs = {"resolved_dc_mag": RESOLVED_DC_MAG, "galaxy_sizes": sizes, "fields": {}}, {}
    print(
        '| field | simulated seeing (") | source | '
        + " | ".join(f"r {lo:g}-{hi:g}: n, resolved, median dc" for lo, hi in R_BINS)
        + " |"
    )
    print("|---|---|---|" + "---|" * len(R_BINS))
    for k, fid in enumerate(FIELDS[: args.fields]):
        name = "/".join(map(str, fid))
        image, sky = real_r_frame(args.shared, fid)
        real, locus = concentration_table(image)
        sim, fwhm, sim_locus = simulated_at_locus(k, locus, sky, params)
        entry = {
            "stellar_locus_mag": locus,
            "sim_stellar_locus_mag": sim_locus,
            "sim_seeing_arcsec": fwhm,
            "sky_nmgy": sky,
            "real": summary(real),
            "simulated": summary(sim),
        }
        result["fields"][name] = entry
        pairs[name] = (real, sim, fwhm)
        for label in ("real", "simulated"):
            cells = [
                f"{b['n']}, {b['resolved_share']:.2f}, {b['resolved_median_dc']:.2f}"
                if b["n"] and b["resolved_median_dc"] is not None
                else "-"
                for b in entry[label]
            ]
            print(f"| {name} | {fwhm:.2f} | {label} | " + " | ".join(cells) + " |")
    import json

    record = json.loads(write_record(args.out, result).read_text())
    if args.figure:
        stamp = f"{record['date'][:10]}, commit {record['commit'][:7]}, {record['machine']['cpu_count']} CPU cores"
        figure(pairs, args.figure, stamp)
    return result


if __name__ == "__main__":
    main()
