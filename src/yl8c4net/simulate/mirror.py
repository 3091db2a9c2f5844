"""Write the simulated survey as a SAS-layout mirror: frames, irg JPEGs, PhotoObjAll and
SpecPhoto tables (Parquet), and exact truth tables.

Layout below the mirror root (the first two exactly as on the SAS)::

    dr17/eboss/photoObj/frames/301/{run}/{camcol}/frame-{band}-{tag}.fits.bz2
    dr17/eboss/photoObj/frames/301/{run}/{camcol}/frame-irg-{tag}.jpg
    catalogs/dr17/PhotoObjAll/301/{run}/{camcol}/photoObjAll-{tag}.parquet
    catalogs/dr17/SpecPhoto/301/specPhoto-{run:06d}.parquet
    sim/truth/301/{run}/{camcol}/truth-{tag}.parquet
"""

from __future__ import annotations

import bz2
import dataclasses
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from astropy.io import fits
from PIL import Image
from scipy import ndimage

from yl8c4net.images.composite import LuptonStretch, resample_to, lupton_rgb
from yl8c4net.errors import ConfigError
from yl8c4net.io import write_bytes_atomic, write_parquet
from yl8c4net.sdss.queries import PHOTO_FLAG_SATURATED, PHOTOOBJ_DTYPES, SPECPHOTO_DTYPES, mirror_catalog_relpath
from yl8c4net.simulate.photometry import MEASURED_COLUMNS, measure_photometry
from yl8c4net.sdss.fields import BANDS, FRAME_SHAPE_XY, FieldId, frame_relpath, irg_jpeg_relpath
from yl8c4net.simulate.colours import load_colour_model
from yl8c4net.simulate.population import PopulationParams, sources_in_box, with_galaxy_colours, with_galaxy_sizes
from yl8c4net.simulate.render import (
    FULL_WELL_COUNTS,
    SEEING_RANGE_ARCSEC,
    BandConditions,
    add_artefacts,
    add_sky_noise,
    calib_vector,
    field_conditions,
    render_sources,
)
from yl8c4net.simulate.survey import SimRun, StripeGeometry, band_jitter, frame_footprint, frame_wcs

log = logging.getLogger(__name__)
PHOTO_R_LIMIT = 23.0  # faintest r the simulated photometric pipeline catalogues
TRUTH_MARGIN_PX = 40  # sources this far outside the frame still spill light into it
SATELLITE_TRAIL_FRACTION = 0.08  # fields with a satellite trail


@dataclass
class SimConfig:
    """The ``simulate`` section of the config, parsed."""

    seed: int
    geometry: StripeGeometry
    runs: dict[int, SimRun]
    population: PopulationParams = field(default_factory=PopulationParams)
    rerun: int = 301
    stretch: LuptonStretch = field(default_factory=LuptonStretch)
    data_release: int = 17  # the SAS layout the frames are written in
    seeing_range_arcsec: tuple[float, float] = SEEING_RANGE_ARCSEC  # r FWHM drawn uniformly per field

    @classmethod
    def from_dict(cls, cfg: dict, stretch: LuptonStretch | None = None) -> "SimConfig":
        runs = {}
        for r in cfg["runs"]:
            sr = SimRun(
                int(r["run"]),
                r.get("strip", "N"),
                tuple(int(c) for c in r["camcols"]),
                int(r["fields"][0]),
                int(r["fields"][1]),
            )
            runs[sr.run] = sr
        pop = PopulationParams()
        counts = dict(pop.counts)
        for name, dens in cfg.get("density_deg2", {}).items():
            counts[name] = dataclasses.replace(counts[name], density_deg2=float(dens))
        crowding = cfg.get("crowding", {})
        reddening = cfg.get("reddening", {})
        pop = dataclasses.replace(
            pop,
            counts=counts,
            spec_fraction=cfg.get("spec_fraction", pop.spec_fraction),
            bright_boost=float(cfg.get("bright_boost", pop.bright_boost)),
            crowding_max_scale=float(crowding.get("max_scale", pop.crowding_max_scale)),
            crowding_period_deg=float(crowding.get("period_deg", pop.crowding_period_deg)),
            reddening_max_ebv=float(reddening.get("max_ebv", pop.reddening_max_ebv)),
            reddening_period_deg=float(reddening.get("period_deg", pop.reddening_period_deg)),
        )
        pop = with_galaxy_colours(with_galaxy_sizes(pop, cfg.get("galaxy_sizes", {})), cfg.get("galaxy_colours", {}))
        return cls(
            seed=int(cfg["seed"]),
            geometry=StripeGeometry(float(cfg.get("ra0_deg", 10.0)), float(cfg.get("dec0_deg", 0.0))),
            runs=runs,
            population=pop,
            stretch=stretch or LuptonStretch(),
            seeing_range_arcsec=tuple(float(v) for v in cfg.get("seeing_range_arcsec", cls.seeing_range_arcsec)),
        )

    def run_of(self, fid: FieldId) -> SimRun:
        sr = self.runs.get(fid.run)
        if sr is None or fid.camcol not in sr.camcols or not sr.first_field <= fid.field <= sr.last_field:
            raise ConfigError(f"simulate.runs does not contain {fid}")
        return sr


def _truncate_mantissa(a: np.ndarray, bits: int = 10) -> np.ndarray:
    # SDSS frames keep 10 mantissa bits ("FLOATCOMPRESS"), which is why they bzip2 well.
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    mask = np.uint32(0xFFFFFFFF ^ ((1 << (23 - bits)) - 1))
    return (u & mask).view(np.float32)


ASTRANS_NODE_DEG, ASTRANS_INCL_DEG = 95.0, 0.0


def astrans_affine(wcs, step_px: int = 128) -> dict:
    """asTrans a..f (degrees) of a simulated frame for the great circle of inclination 0
    (mu = ra, nu = dec): the affine map from asTrans (row, col) (numpy pixel + 0.5, as SDSS)
    fitted by least squares to the frame's TAN WCS (residuals ~0.005" near the equator)."""
    from yl8c4net.sdss.astrom import PIXEL_CENTRE, frame_pixel_grid

    x, y = frame_pixel_grid(step_px)
    ra, dec = wcs.all_pix2world(x, y, 0)
    design = np.column_stack([np.ones_like(x), y + PIXEL_CENTRE, x + PIXEL_CENTRE])  # 1, row, col
    (a, b, c), *_ = np.linalg.lstsq(design, ra, rcond=None)
    (d, e, f), *_ = np.linalg.lstsq(design, dec, rcond=None)
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f}


def simulate_astrans(sim: "SimConfig", run: int, mirror_root: str | Path) -> Path:
    """Write the run's ``asTrans-{run}.fit`` into the mirror (r band of each camcol): the WCS
    source of issue 16's lean mode, which fetches no r frame."""
    from yl8c4net.sdss.astrom import RUN_FILE_COLUMNS, write_run_astrans
    from yl8c4net.sdss.fields import astrans_relpath

    sr = sim.runs[run]
    tables = {}
    for fid in sr.fields(sim.rerun):
        trans = astrans_affine(frame_wcs(sim.geometry, sr.strip, fid.camcol, fid.field, "r"))
        row = {k: 0.0 for k in RUN_FILE_COLUMNS} | {k: trans[k] for k in "abcdef"}
        row.update(field=fid.field, mjd=53000.0 + fid.run / 100.0, riCut=100.0, airmass=1.2, muErr=0.03, nuErr=0.03)
        table = tables.setdefault((fid.camcol, "r"), {k: [] for k in RUN_FILE_COLUMNS})
        for k in RUN_FILE_COLUMNS:
            table[k].append(row[k])
    path = Path(mirror_root) / Path(*astrans_relpath(run, sim.rerun, sim.data_release).parts)
    write_run_astrans(path, ASTRANS_NODE_DEG, ASTRANS_INCL_DEG, tables)
    return path


def frame_hdulist(
    image: np.ndarray,
    wcs,
    calib: np.ndarray,
    cond: BandConditions,
    fid: FieldId,
    band: str,
    seed: int,
) -> fits.HDUList:
    """The four HDUs of a corrected frame, structured like SDSS's."""
    hdr = wcs.to_header()
    primary = fits.PrimaryHDU(_truncate_mantissa(image))
    for key, val, com in [
        ("ORIGIN", "YL8C4NET-SIM", "simulated frame, not SDSS data"),
        ("RUN", fid.run, "Run number"),
        ("FRAME", fid.field, "Frame sequence number within the run"),
        ("CAMCOL", fid.camcol, "column in the imaging camera"),
        ("FILTER", band, "filter used"),
        ("BUNIT", "nanomaggy", "1 nanomaggy = 3.631e-6 Jy"),
        ("EXPTIME", "53.907456", "Exposure time (seconds)"),
        ("NMGY", float(np.median(calib)), "Calibration factor [nMgy per count]"),
        ("SIMSEED", seed, "simulator seed"),
        ("SIMFWHM", round(cond.fwhm_arcsec, 4), "PSF FWHM [arcsec]"),
        ("RERUN", str(fid.rerun), ""),
    ]:
        primary.header[key] = (val, com)
    primary.header.update(hdr)
    calib_hdu = fits.ImageHDU(calib.astype(np.float32))
    # Sky grid: 256 x 192 cells of 8 x 8 pixels (x) and ~7.8 rows (y), counts per pixel.
    allsky = np.full((192, 256), cond.sky_counts, dtype=np.float32)
    xinterp = ((np.arange(FRAME_SHAPE_XY[0]) + 0.5) / 8.0 - 0.5).astype(np.float32)
    yinterp = ((np.arange(FRAME_SHAPE_XY[1]) + 0.5) * 192 / FRAME_SHAPE_XY[1] - 0.5).astype(np.float32)
    sky_hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("ALLSKY", format="49152E", dim="(256, 192)", array=allsky[None]),
            fits.Column("XINTERP", format="2048E", array=xinterp[None]),
            fits.Column("YINTERP", format="1489E", array=yinterp[None]),
        ]
    )
    # asTrans for a great circle of inclination 0 (the equator): mu = ra, nu = dec.
    trans = astrans_affine(wcs)
    scalar = {
        "RUN": ("J", fid.run),
        "RERUN": ("3A", str(fid.rerun)),
        "CAMCOL": ("J", fid.camcol),
        "FILTER": ("A", band),
        "NODE": ("D", ASTRANS_NODE_DEG),
        "INCL": ("D", ASTRANS_INCL_DEG),
    }
    cols = [fits.Column(k, format=f, array=np.array([v])) for k, (f, v) in scalar.items()]
    cols.append(fits.Column("NAXIS", format="2J", array=np.array([[2048, 1489]], dtype=np.int32)))
    cols.append(fits.Column("FIELD", format="J", array=np.array([fid.field])))
    for k in "ABCDEF":
        cols.append(fits.Column(k, format="D", array=np.array([trans[k.lower()]])))
    for k in (
        "DROW0",
        "DROW1",
        "DROW2",
        "DROW3",
        "DCOL0",
        "DCOL1",
        "DCOL2",
        "DCOL3",
        "CSROW",
        "CSCOL",
        "CCROW",
        "CCCOL",
    ):
        cols.append(fits.Column(k, format="D", array=np.array([0.0])))
    cols += [
        fits.Column("RICUT", format="D", array=np.array([100.0])),
        fits.Column("MJD", format="D", array=np.array([53000.0 + fid.run / 100.0])),
        fits.Column("AIRMASS", format="D", array=np.array([1.2])),
        fits.Column("MUERR", format="E", array=np.array([0.03])),
        fits.Column("NUERR", format="E", array=np.array([0.03])),
    ]
    return fits.HDUList([primary, calib_hdu, sky_hdu, fits.BinTableHDU.from_columns(cols)])


def _objid(fid: FieldId, ids: np.ndarray) -> np.ndarray:
    # SDSS objID bit layout: skyVersion(4) rerun(11) run(16) camcol(3) firstField(1) field(12) id(16).
    sky_version = 2
    return (
        (np.int64(sky_version) << 59)
        | (np.int64(fid.rerun) << 48)
        | (np.int64(fid.run) << 32)
        | (np.int64(fid.camcol) << 29)
        | (np.int64(fid.field) << 16)
        | ids.astype(np.int64)
    )


def photoobj_from_truth(
    truth: pd.DataFrame,
    fid: FieldId,
    conds: dict,
    rng: np.random.Generator,
    saturated_r: np.ndarray | None = None,
) -> pd.DataFrame:
    """PhotoObjAll-like rows of one field from its truth table.

    The simulated photometric pipeline catalogues every source with r <= 23 whose centre is
    on the frame, measures its magnitudes and types it from them
    (`yl8c4net.simulate.photometry.measure_photometry`), and marks rows
    in the half of each 128-row overlap that the neighbouring field owns as secondary (mode 2).
    ``flags`` has PhotoObjAll's SATURATED bit where a pixel of the 3 x 3 around the source's
    centre is saturated in ``saturated_r`` (the rendered r frame's mask, rows x columns; on a
    bleed trail too, as in SDSS).
    """
    w, h = FRAME_SHAPE_XY
    sel = (truth["r"] <= PHOTO_R_LIMIT) & truth["x"].between(-0.5, w - 0.5) & truth["y"].between(-0.5, h - 0.5)
    t = truth[sel].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "objid": _objid(fid, np.arange(1, len(t) + 1)),
            "run": fid.run,
            "rerun": fid.rerun,
            "camcol": fid.camcol,
            "field": fid.field,
            "ra": t["ra"],
            "dec": t["dec"],
        }
    )
    fwhm_r = conds["r"].fwhm_arcsec
    measured = measure_photometry(t, conds, rng)
    out["type"] = measured["type"].to_numpy()
    out["mode"] = np.where(t["y"].between(64, h - 64), 1, 2)
    out["flags"] = np.where(_near_saturated(t, saturated_r), PHOTO_FLAG_SATURATED, 0).astype(np.int64)
    for col in MEASURED_COLUMNS:
        if col != "type":
            out[col] = measured[col].to_numpy()
    out["petror90_r"] = np.where(t["hlr_arcsec"] > 0, np.hypot(2.2 * t["hlr_arcsec"], 0.8 * fwhm_r), 0.8 * fwhm_r)
    out["source_id"] = t["source_id"].to_numpy()
    return out


def _near_saturated(sources: pd.DataFrame, saturated_r: np.ndarray | None) -> np.ndarray:
    """True where a saturated pixel lies in the 3 x 3 around a source's centre pixel."""
    if saturated_r is None or not len(sources):
        return np.zeros(len(sources), bool)
    grown = ndimage.binary_dilation(saturated_r, np.ones((3, 3), bool))
    height, width = grown.shape
    col = np.clip(np.rint(sources["x"].to_numpy(float)).astype(int), 0, width - 1)
    row = np.clip(np.rint(sources["y"].to_numpy(float)).astype(int), 0, height - 1)
    return grown[row, col]


def simulate_field(sim: SimConfig, fid: FieldId, mirror_root: str | Path) -> dict:
    """Render and write one field (five frames, irg JPEG, PhotoObjAll, truth) into the mirror.

    Returns a dict of summary numbers (number of sources, seeing).
    """
    root = Path(mirror_root)
    sr = sim.run_of(fid)
    rng = np.random.default_rng([sim.seed, fid.run, fid.camcol, fid.field, 1])
    conds = field_conditions(rng, fwhm_range=sim.seeing_range_arcsec)
    wcs_r = frame_wcs(sim.geometry, sr.strip, fid.camcol, fid.field, "r")
    sources = sources_in_box(sim.seed, *frame_footprint(wcs_r, TRUTH_MARGIN_PX), sim.population, load_colour_model())
    x, y = wcs_r.all_world2pix(sources["ra"].to_numpy(), sources["dec"].to_numpy(), 0)
    truth = sources.assign(x=x, y=y)
    images, wcses, calibs = {}, {}, {}
    # Artefacts from their own stream: cosmic rays in every band, and in a few fields a
    # satellite trail, seen in each band at its own offset (the bands are exposed ~72 s apart).
    rng_art = np.random.default_rng([sim.seed, fid.run, fid.camcol, fid.field, 2])
    trail_angle = rng_art.uniform(0, np.pi) if rng_art.random() < SATELLITE_TRAIL_FRACTION else None
    for band in BANDS:
        wcs_b = frame_wcs(sim.geometry, sr.strip, fid.camcol, fid.field, band, band_jitter(sim.seed, fid, band))
        clean = render_sources(sources, wcs_b, band, conds[band].fwhm_arcsec)
        trail = None
        if trail_angle is not None:
            trail = (rng_art.uniform(0, FRAME_SHAPE_XY[0]), rng_art.uniform(0, FRAME_SHAPE_XY[1]), trail_angle)
        add_artefacts(clean, conds[band], rng_art, trail)
        calib = calib_vector(rng, conds[band].calib)
        noisy = add_sky_noise(clean, conds[band], calib, rng)
        images[band], wcses[band], calibs[band] = noisy, wcs_b, calib
        hdul = frame_hdulist(noisy, wcs_b, calib, conds[band], fid, band, sim.seed)
        buf = io.BytesIO()
        hdul.writeto(buf)
        write_bytes_atomic(
            bz2.compress(buf.getvalue(), 9), root / Path(*frame_relpath(fid, band, sim.data_release).parts)
        )
    shape = images["r"].shape
    planes = [resample_to(images[b], wcses[b], wcs_r, shape) if b != "r" else images[b] for b in ("i", "r", "g")]
    rgb = lupton_rgb(*planes, stretch=sim.stretch)
    buf = io.BytesIO()
    Image.fromarray(rgb[::-1]).save(buf, format="JPEG", quality=90)  # SDSS stores JPEGs top row first
    write_bytes_atomic(buf.getvalue(), root / Path(*irg_jpeg_relpath(fid, sim.data_release).parts))
    # The full well varies by +-3 % per frame (add_sky_noise): anything within 5 % of it is
    # taken as saturated.
    counts_r = images["r"] / calibs["r"][None, :] + conds["r"].sky_counts
    photo = photoobj_from_truth(truth, fid, conds, rng, counts_r >= 0.95 * FULL_WELL_COUNTS)
    write_parquet(
        photo[list(PHOTOOBJ_DTYPES)].astype(PHOTOOBJ_DTYPES),
        root / Path(*mirror_catalog_relpath("PhotoObjAll", fid).parts),
    )
    # Nullable integers: a float64 detour through NaN would round 64-bit objIDs.
    ids = photo[["source_id", "objid", "mode", "type"]].astype({"objid": "Int64", "mode": "Int16", "type": "Int16"})
    truth = truth.merge(ids, on="source_id", how="left")
    truth = truth.fillna({"objid": -1, "mode": 0, "type": 0}).astype(
        {"objid": np.int64, "mode": np.int16, "type": np.int16}
    )
    truth["fwhm_r_arcsec"] = conds["r"].fwhm_arcsec
    write_parquet(truth, root / Path(*truth_relpath(fid).parts))
    return {
        "field": str(fid),
        "n_sources": int(len(truth)),
        "n_photoobj": int(len(photo)),
        "fwhm_r": conds["r"].fwhm_arcsec,
    }


def truth_relpath(fid: FieldId) -> PurePosixPath:
    return PurePosixPath("sim", "truth", str(fid.rerun), str(fid.run), str(fid.camcol), f"truth-{fid.tag}.parquet")


def simulate_specphoto(sim: SimConfig, run: int, mirror_root: str | Path) -> pd.DataFrame:
    """SpecPhoto-like table of one run from its fields' truth tables (primary rows only)."""
    root = Path(mirror_root)
    sr = sim.runs[run]
    parts = []
    for fid in sr.fields(sim.rerun):
        t = pd.read_parquet(root / Path(*truth_relpath(fid).parts))
        parts.append(t[(t["objid"] >= 0) & (t["mode"] == 1) & t["has_spec"]])
    t = pd.concat(parts, ignore_index=True)
    spec = pd.DataFrame(
        {
            "objid": t["objid"],
            "ra": t["ra"],
            "dec": t["dec"],
            "class": t["class"],
            "redshift": t["redshift"],
            "zwarning": t["zwarning"],
            "r": t["r"],
        }
    )
    spec = spec.astype(SPECPHOTO_DTYPES).sort_values("objid").reset_index(drop=True)
    write_parquet(spec, root / Path(*mirror_catalog_relpath("SpecPhoto", run=run, rerun=sim.rerun).parts))
    return spec
