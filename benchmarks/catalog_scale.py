"""Catalogue gather at scale: field ownership of overlaps + dedup (0.5" and the same-field box
rule) + one-to-one PhotoObjAll crossmatch (2") + the rows' classes (fusion with EM priors,
as `catalog_run`) + Parquet write/read,
on synthetic detections and PhotoObjAll tables of N rows; astropy's search_around_sky /
match_coordinates_sky on the same data for comparison (up to --astropy-max rows).

    python benchmarks/catalog_scale.py [--sizes 1000000 3000000 10000000] [--astropy-max 1000000]

Each size runs in its own process so peak memory (ru_maxrss) is per size: once after the
Parquet write (what a catalog_run job holds) and once after reading the file back (the round
trip's check; the merge, rule catalog, reads the partitions too). Prints a table and writes
benchmarks/out/catalog_scale.json. Target: 10 M rows in <= 30 s, <= 6 GB.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from record import write_record


def synthetic(n: int, seed: int = 0):
    """Detections with the catalogue's columns and a PhotoObjAll table, ``n`` rows each."""
    from yl8c4net.catalog.columns import CLASS_DTYPE

    rng = np.random.default_rng(seed)
    # An SDSS-like strip: 2.5 deg wide, as long as needed for ~60k sources per deg^2.
    length = n / 60000 / 2.5
    ra = rng.random(n) * length
    dec = (rng.random(n) - 0.5) * 2.5
    dup = rng.random(n) < 0.05  # 5% seen twice (tile / field overlaps)
    m = n + int(dup.sum())
    p = rng.dirichlet(np.ones(3), m).astype(np.float32)
    det = pd.DataFrame(
        {
            "ra": np.r_[ra, ra[dup] + rng.normal(0, 0.1, dup.sum()) / 3600],
            "dec": np.r_[dec, dec[dup] + rng.normal(0, 0.1, dup.sum()) / 3600],
            "run": np.full(m, 752, np.int32),
            "rerun": np.full(m, 301, np.int32),
            "camcol": rng.integers(1, 7, m).astype(np.int16),
            "field": rng.integers(11, 800, m).astype(np.int32),
            "x": (rng.random(m) * 2048).astype(np.float32),
            "y": (rng.random(m) * 1489).astype(np.float32),
            "box": rng.uniform(4, 40, m).astype(np.float32),
            "det_conf": rng.random(m).astype(np.float32),
            "w": rng.uniform(4, 40, m).astype(np.float32),
            "h": rng.uniform(4, 40, m).astype(np.float32),
            "class_image": pd.Categorical.from_codes(p.argmax(1), dtype=CLASS_DTYPE),
            "p_galaxy_image": p[:, 0],
            "p_star_image": p[:, 1],
            "p_qso_image": p[:, 2],
        }
    )
    photo = pd.DataFrame(
        {
            "objid": np.arange(n, dtype=np.int64),
            "ra": ra + rng.normal(0, 0.2, n) / 3600,
            "dec": dec + rng.normal(0, 0.2, n) / 3600,
            "type": np.full(n, 6, np.int16),
            "mode": np.ones(n, np.int16),
        }
    )
    for b in "ugriz":
        photo[b] = rng.uniform(14, 23, n).astype(np.float32)
        photo[f"err_{b}"] = rng.uniform(0.01, 0.3, n).astype(np.float32)
    for b in "ugriz":
        photo[f"psfmag_{b}"] = photo[b] + rng.uniform(0, 0.5, n).astype(np.float32)
        photo[f"psfmagerr_{b}"] = photo[f"err_{b}"]
    photo["flags"] = np.zeros(n, np.int64)
    return det, photo


def fusion_settings() -> dict:
    """The catalogue's classes as a run gets them: config.yaml's ``fusion`` section (its
    EM priors over the run's rows, by r with the default ``prior_mode: em_r``)."""
    from yl8c4net.config import load_config

    return load_config([Path(__file__).resolve().parents[1] / "config.yaml"])["fusion"]


def run_ours(n: int, queue, fusion_path: str | None = None) -> None:
    from yl8c4net.catalog.build import MergeRule, gather_run
    from yl8c4net.catalog.columns import CATALOG_COLUMNS
    from yl8c4net.catalog.files import write_catalog_parquet
    from yl8c4net.classify.catalog_classes import assign_classes
    from yl8c4net.classify.fusion import load_fusion

    fusion = load_fusion(fusion_path) if fusion_path else None
    det, photo = synthetic(n)
    settings = fusion_settings()
    t0 = time.perf_counter()
    result = gather_run(det, photo, [], MergeRule(), 2.0)
    tg = time.perf_counter()
    result.matched, (result.unmatched,), _ = assign_classes(result.matched, [result.unmatched], photo, fusion, settings)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_catalog_parquet(result.matched, Path(tmp) / "c.parquet", {"benchmark": True}, CATALOG_COLUMNS)
        # What catalog_run holds ends with the write; reading the partition back is the
        # merge's (rule catalog) and this check's, and costs more than the gather.
        job_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        back = pd.read_parquet(path)
    t2 = time.perf_counter()
    assert len(back) == len(result.matched)
    queue.put(
        {
            "n": n,
            "gather_s": tg - t0,
            "classes_s": t1 - tg,
            "io_s": t2 - t1,
            "total_s": t2 - t0,
            "n_unique": result.unique,
            "n_matched": len(result.matched),
            "n_columns": len(back.columns),
            "peak_rss_gb": job_peak,
            "readback_peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        }
    )


def run_astropy(n: int, queue) -> None:
    import astropy.units as u
    from astropy.coordinates import SkyCoord, match_coordinates_sky, search_around_sky

    det, photo = synthetic(n)
    t0 = time.perf_counter()
    c = SkyCoord(det["ra"].to_numpy() * u.deg, det["dec"].to_numpy() * u.deg)
    search_around_sky(c, c, 0.5 * u.arcsec)
    t1 = time.perf_counter()
    match_coordinates_sky(c, SkyCoord(photo["ra"].to_numpy() * u.deg, photo["dec"].to_numpy() * u.deg))
    t2 = time.perf_counter()
    queue.put(
        {
            "n": n,
            "astropy_pairs_s": t1 - t0,
            "astropy_match_s": t2 - t1,
            "astropy_total_s": t2 - t0,
            "astropy_peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        }
    )


def in_process(fn, n, *extra):
    q = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=fn, args=(n, q, *extra))
    p.start()
    out = q.get()
    p.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    ap.add_argument("--astropy-max", type=int, default=1_000_000)
    ap.add_argument(
        "--fusion",
        default="results/models/fusion/fusion.joblib",
        help="fusion model for the rows' classes (default: the demo's; missing: the image answer only)",
    )
    args = ap.parse_args()
    fusion = args.fusion if Path(args.fusion).is_file() else None
    print(f"classes: {'fusion ' + args.fusion if fusion else 'image answer only (no fusion model)'}")
    rows = []
    for n in args.sizes:
        row = in_process(run_ours, n, fusion)
        if n <= args.astropy_max:
            row.update(in_process(run_astropy, n))
        rows.append(row)
        print(row, flush=True)
    print(
        "| rows | dedup+match s | classes s | Parquet w+r s | total s | peak GB (gather job) "
        "| peak GB with read-back | astropy pairs+match s | astropy peak GB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ast = f"{r['astropy_total_s']:.1f}" if "astropy_total_s" in r else "-"
        astm = f"{r['astropy_peak_rss_gb']:.2f}" if "astropy_peak_rss_gb" in r else "-"
        print(
            f"| {r['n']:,} | {r['gather_s']:.1f} | {r['classes_s']:.1f} | {r['io_s']:.1f} | {r['total_s']:.1f} | "
            f"{r['peak_rss_gb']:.2f} | {r['readback_peak_rss_gb']:.2f} | {ast} | {astm} |"
        )
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(
            f"time ratio {b['total_s'] / a['total_s']:.2f} for size ratio {b['n'] / a['n']:.1f} "
            f"(N log N predicts {b['n'] * np.log(b['n']) / (a['n'] * np.log(a['n'])):.2f})"
        )
    out = Path(__file__).resolve().parent / "out" / "catalog_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_record(out, rows)


if __name__ == "__main__":
    main()
