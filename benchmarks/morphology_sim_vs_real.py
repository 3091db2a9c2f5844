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
from record import write_record

from yl8c4net.report.morphology import (
    R_BINS,
    RESOLVED_DC_MAG,
    field_morphology,
    plot_morphology,
)

FIELDS = [(3918, 3, 213), (4510, 4, 30), (1035, 6, 17), (1992, 1, 87)]


def real_r_frame(shared: Path, fid_tuple) -> tuple[np.ndarray, float]:
    """The real r frame and its median sky (nanomaggies per pixel: what set its noise)."""
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.sdss.frames import read_frame
    from yl8c4net.sdss.source import MirrorSource

    with tempfile.TemporaryDirectory() as tmp:
        manifest = fetch_field(FieldId(*fid_tuple), MirrorSource(shared / "data" / "sas"), "r", Path(tmp))
        path = Path(tmp) / manifest["frames"]["r"]["file"]
        frame = read_frame(path)
    return np.nan_to_num(frame.image), float(np.median(frame.sky))


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
        check = field_morphology(image, sky, params, seed=k)
        entry = check.record()
        fwhm = check.seeing_arcsec
        result["fields"][name] = entry
        pairs[name] = check
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
        plot_morphology(pairs, args.figure, f"Detected sources, real vs simulated at the same seeing ({stamp})")
    return result


if __name__ == "__main__":
    main()
