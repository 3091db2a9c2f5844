"""Are the simulator's sources as red as the sky's? A check without labels: the g - r and
r - i colours of every source detected on the real ordinary fields of ../shared, against the
simulator's at the same seeing and sky, per r bin, for compact and resolved sources apart.

Per field: the sources of the r frame, their r in a 7-px aperture and their concentration
above the stellar locus ``dc`` (the measures of `benchmarks/morphology_sim_vs_real.py`:
compact ``dc <= 0.1`` mag, resolved above), and their g, r, i in a 4-px (1.6") aperture minus
a 12-20 px annulus. On a real field the g and i positions come from each frame's own WCS
(SDSS's bands are not on one pixel grid). The simulator renders g, r and i of one sky at
the r seeing that gave the field's stellar locus in `morphology_sim_vs_real`'s record
(``sim_seeing_arcsec``; 1.2" where the record lacks the field), with the simulator's
band-to-band seeing and the real field's r sky. What the classifier sees of colour is these
three bands' ratio in the irg composite.

    python benchmarks/colours_sim_vs_real.py [--fields N] [--galaxy-g-r MAG]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from morphology_sim_vs_real import FIELDS
from record import write_record

from yl8c4net.classify.weak_labels import aperture_mags, concentration_table
from yl8c4net.report.morphology import RESOLVED_DC_MAG, simulated_frames

R_BINS = [(16.0, 19.0), (19.0, 20.0), (20.0, 21.0), (21.0, 22.2)]
COLOUR_APERTURE_PX = 4.0
DEFAULT_SIM_SEEING = 1.2
RED_G_R = 1.2
OUT = Path(__file__).resolve().parent / "out"


def colour_columns(table: pd.DataFrame, mags: dict) -> pd.DataFrame:
    """``g_r`` and ``r_i`` from the bands' aperture magnitudes (mag)."""
    return table.assign(g_r=mags["g"] - mags["r"], r_i=mags["r"] - mags["i"])


def real_field(shared: Path, fid_tuple) -> tuple[pd.DataFrame, float]:
    """The real field's sources with r, ``dc`` and colours; its r sky (nanomaggies / px)."""
    from morphology_sim_vs_real import real_r_frame

    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.frames import read_frame
    from yl8c4net.sdss.source import MirrorSource

    r_image, sky = real_r_frame(shared, fid_tuple)
    table, _ = concentration_table(r_image)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = fetch_field(FieldId(*fid_tuple), MirrorSource(shared / "data" / "sas"), "gri", Path(tmp))
        frames = {b: read_frame(Path(tmp) / manifest["frames"][b]["file"]) for b in "gri"}
    sky_pos = frames["r"].wcs.pixel_to_world(table["x"].to_numpy(), table["y"].to_numpy())
    mags, on_all = {}, np.ones(len(table), bool)
    for band, frame in frames.items():
        x, y = frame.wcs.world_to_pixel(sky_pos)
        mags[band] = aperture_mags(np.nan_to_num(frame.image), x, y, radii=(COLOUR_APERTURE_PX,))[COLOUR_APERTURE_PX]
        h, w = frame.image.shape
        on_all &= (x > 25) & (x < w - 26) & (y > 25) & (y < h - 26)
    return colour_columns(table, mags)[on_all].reset_index(drop=True), sky


def simulated_field(seed: int, fwhm_r: float, sky_nmgy: float, params=None) -> pd.DataFrame:
    """The simulator's g, r, i frames of one sky at this r seeing and sky: sources with r,
    ``dc`` and colours, and the class and true colours of the nearest true source (within
    1 px; None / NaN where none is)."""
    from yl8c4net.simulate.population import PopulationParams

    images, sources, wcs = simulated_frames(seed, fwhm_r, sky_nmgy, params or PopulationParams(), "gri")
    table, _ = concentration_table(images["r"])
    mags = {
        b: aperture_mags(images[b], table["x"], table["y"], radii=(COLOUR_APERTURE_PX,))[COLOUR_APERTURE_PX]
        for b in "gri"
    }
    # Each detection's nearest true source within 1 px: its class and true colours.
    from scipy.spatial import cKDTree

    tx, ty = wcs.all_world2pix(sources["ra"], sources["dec"], 0)
    dist, idx = cKDTree(np.column_stack([tx, ty])).query(table[["x", "y"]].to_numpy(), distance_upper_bound=1.0)
    found = np.isfinite(dist)
    truth = sources.iloc[np.where(found, idx, 0)].reset_index(drop=True)
    table["true_class"] = np.where(found, truth["class"], None)
    table["true_g_r"] = np.where(found, truth["g"] - truth["r"], np.nan)
    table["true_r_i"] = np.where(found, truth["r"] - truth["i"], np.nan)
    return colour_columns(table, mags)


def colour_summary(t: pd.DataFrame) -> list[dict]:
    """Per r bin and kind (compact / resolved): n and the median g - r, r - i."""
    rows = []
    for lo, hi in R_BINS:
        in_bin = t[(t["r"] >= lo) & (t["r"] < hi) & np.isfinite(t["g_r"]) & np.isfinite(t["r_i"])]
        for kind, sel in (("compact", in_bin["dc"] <= RESOLVED_DC_MAG), ("resolved", in_bin["dc"] > RESOLVED_DC_MAG)):
            part = in_bin[sel]
            rows.append(
                {
                    "r": f"{lo:g}-{hi:g}",
                    "kind": kind,
                    "n": int(len(part)),
                    "g_r": float(part["g_r"].median()) if len(part) else None,
                    "r_i": float(part["r_i"].median()) if len(part) else None,
                    # Star colours are bimodal (halo turn-off ~0.3, disk M dwarfs ~1.4): the
                    # median jumps between the modes, the red share does not.
                    "red_share": float((part["g_r"] > RED_G_R).mean()) if len(part) else None,
                }
            )
    return rows


def pooled(tables: list[pd.DataFrame]) -> list[dict]:
    return colour_summary(pd.concat(tables, ignore_index=True))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--fields", type=int, default=len(FIELDS), help="the first N fields only")
    ap.add_argument(
        "--galaxy-g-r",
        type=float,
        default=None,
        help="simulate galaxies whose g - r reddens by this much from r 17 to 19 on, r - i by "
        "0.23 of it (mag; default: the simulator's simulate.galaxy_colours)",
    )
    ap.add_argument("--out", type=Path, default=OUT / "colours_sim_vs_real.json")
    args = ap.parse_args(argv)
    from dataclasses import replace

    from yl8c4net.simulate.population import PopulationParams

    params = PopulationParams()
    if args.galaxy_g_r is not None:
        params = replace(params, galaxy_reddening_g_r=args.galaxy_g_r, galaxy_reddening_r_i=0.23 * args.galaxy_g_r)
    morphology = OUT / "morphology_sim_vs_real.json"
    seeing = {}
    if morphology.is_file():
        seeing = {k: v["sim_seeing_arcsec"] for k, v in json.loads(morphology.read_text())["results"]["fields"].items()}
    reals, sims, fields = [], [], {}
    for k, fid in enumerate(FIELDS[: args.fields]):
        name = "/".join(map(str, fid))
        real, sky = real_field(args.shared, fid)
        fwhm = float(seeing.get(name, DEFAULT_SIM_SEEING))
        sim = simulated_field(k, fwhm, sky, params)
        reals.append(real)
        sims.append(sim)
        fields[name] = {
            "sim_seeing_arcsec": fwhm,
            "sky_nmgy": sky,
            "real": colour_summary(real),
            "simulated": colour_summary(sim),
        }
        print(f'{name}: {len(real)} real, {len(sim)} simulated sources (seeing {fwhm:.2f}")', flush=True)
    trend = {"g_r": params.galaxy_reddening_g_r, "r_i": params.galaxy_reddening_r_i}
    result = {
        "aperture_px": COLOUR_APERTURE_PX,
        "resolved_dc_mag": RESOLVED_DC_MAG,
        "galaxy_colours": trend,
        "fields": fields,
    }
    result["pooled"] = {"real": pooled(reals), "simulated": pooled(sims)}
    print(f"\nAll {len(reals)} fields pooled: median g - r / r - i, share with g - r > {RED_G_R:g} (n)")
    print("| r | kind | real | simulated | simulated - real |")
    print("|---|---|---|---|---|")
    for a, b in zip(result["pooled"]["real"], result["pooled"]["simulated"]):
        if a["n"] and b["n"]:
            print(
                f"| {a['r']} | {a['kind']} | {a['g_r']:.2f} / {a['r_i']:.2f}, {a['red_share']:.2f} ({a['n']}) | "
                f"{b['g_r']:.2f} / {b['r_i']:.2f}, {b['red_share']:.2f} ({b['n']}) | "
                f"{b['g_r'] - a['g_r']:+.2f} / {b['r_i'] - a['r_i']:+.2f}, {b['red_share'] - a['red_share']:+.2f} |"
            )
    write_record(args.out, result)
    return result


if __name__ == "__main__":
    main()
