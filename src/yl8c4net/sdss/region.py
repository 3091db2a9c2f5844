"""From a region of the sky to the SDSS runs, camcols and fields that cover it, as the
``runs:`` block of a config (``yl8c4net region``).

Two sources, as for the field index:

- SkyServer or CasJobs (live): the fields that hold SDSS objects inside the region, found
  with SkyServer's own spatial functions (``dbo.fGetNearbyObjEq`` for a circle,
  ``dbo.fGetObjFromRectEq`` for a box). By default only *primary* objects count
  (``PhotoPrimary``: SDSS's one best observation of each position), so each part of the sky
  comes from one run; ``primary=False`` counts every observation (``PhotoObjAll``), which
  adds the overlapping runs and the neighbouring fields' overlap rows.
- A local mirror (offline): every r frame of the mirror, its footprint from its own WCS
  header. "Primary" is then the project's own ownership rule (`yl8c4net.catalog.ownership`:
  a field owns its rows between the overlaps it shares with its neighbours in the mirror);
  the mirror cannot say which of two overlapping runs SDSS made primary, so both are listed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from yl8c4net.errors import ConfigError, QueryError
from yl8c4net.sdss.fields import FIELD_OVERLAP_ROWS, FRAME_SHAPE_XY, FieldId, frame_relpath

log = logging.getLogger(__name__)

#: Largest circle SkyServer's synchronous search is asked for (arcmin); larger regions go
#: through CasJobs or a box of several calls.
MAX_RADIUS_ARCMIN = 600.0
#: A frame's half diagonal (deg): a field whose centre is farther than this beyond a region
#: cannot touch it.
FRAME_HALF_DIAGONAL_DEG = 0.5 * math.hypot(*FRAME_SHAPE_XY) * 0.396 / 3600.0


@dataclass(frozen=True)
class SkyRegion:
    """A circle (``ra``, ``dec``, ``radius_arcmin``) or an RA/Dec box (``box``), ICRS degrees.

    Build one with `SkyRegion.circle` or `SkyRegion.rectangle`, which check the numbers.
    """

    ra: float | None = None
    dec: float | None = None
    radius_arcmin: float | None = None
    box: tuple[float, float, float, float] | None = None  # ra_min, ra_max, dec_min, dec_max

    @classmethod
    def circle(cls, ra: float, dec: float, radius_arcmin: float) -> "SkyRegion":
        """A circle of ``radius_arcmin`` around (``ra``, ``dec``) in degrees."""
        ra, dec, radius = _finite("--ra", ra), _finite("--dec", dec), _finite("--radius", radius_arcmin)
        if not 0.0 <= ra < 360.0:
            raise ConfigError(f"--ra {ra}: must be in [0, 360) degrees")
        if not -90.0 <= dec <= 90.0:
            raise ConfigError(f"--dec {dec}: must be in [-90, 90] degrees")
        if not 0.0 < radius <= MAX_RADIUS_ARCMIN:
            raise ConfigError(f"--radius {radius}: must be in (0, {MAX_RADIUS_ARCMIN:g}] arcmin")
        return cls(ra=ra, dec=dec, radius_arcmin=radius)

    @classmethod
    def rectangle(cls, ra_min: float, ra_max: float, dec_min: float, dec_max: float) -> "SkyRegion":
        """The box ``ra_min <= ra <= ra_max``, ``dec_min <= dec <= dec_max`` (degrees)."""
        values = [_finite("--box", v) for v in (ra_min, ra_max, dec_min, dec_max)]
        ra_min, ra_max, dec_min, dec_max = values
        if not (0.0 <= ra_min < ra_max < 360.0):
            raise ConfigError(f"--box {values}: RA must satisfy 0 <= RA_MIN < RA_MAX < 360 (no wrap through 0)")
        if not (-90.0 <= dec_min < dec_max <= 90.0):
            raise ConfigError(f"--box {values}: Dec must satisfy -90 <= DEC_MIN < DEC_MAX <= 90")
        return cls(box=(ra_min, ra_max, dec_min, dec_max))

    def describe(self) -> str:
        if self.box is not None:
            return "RA {:.10g}..{:.10g}, Dec {:.10g}..{:.10g} deg".format(*self.box)
        return f"{self.radius_arcmin:.10g} arcmin around RA {self.ra:.10g}, Dec {self.dec:.10g} deg"

    def contains(self, ra_deg, dec_deg) -> np.ndarray:
        """Which of the positions (degrees) lie in the region."""
        ra, dec = np.asarray(ra_deg, float), np.asarray(dec_deg, float)
        if self.box is not None:
            ra_min, ra_max, dec_min, dec_max = self.box
            return (ra >= ra_min) & (ra <= ra_max) & (dec >= dec_min) & (dec <= dec_max)
        return angular_distance_deg(self.ra, self.dec, ra, dec) <= self.radius_arcmin / 60.0

    def centre_and_reach_deg(self) -> tuple[float, float, float]:
        """A circle that holds the region: centre RA, Dec and radius (deg)."""
        if self.box is None:
            return self.ra, self.dec, self.radius_arcmin / 60.0
        ra_min, ra_max, dec_min, dec_max = self.box
        ra_c, dec_c = 0.5 * (ra_min + ra_max), 0.5 * (dec_min + dec_max)
        corners = [(a, d) for a in (ra_min, ra_max) for d in (dec_min, dec_max)]
        reach = max(float(angular_distance_deg(ra_c, dec_c, a, d)) for a, d in corners)
        return ra_c, dec_c, reach


def _finite(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} {value!r}: not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} {value}: not a finite number")
    return value


def angular_distance_deg(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Great-circle distance (deg) by the haversine formula."""
    ra1, dec1, ra2, dec2 = (np.deg2rad(np.asarray(v, float)) for v in (ra1, dec1, ra2, dec2))
    h = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    return np.rad2deg(2 * np.arcsin(np.sqrt(np.clip(h, 0, 1))))


def region_fields_sql(region: SkyRegion, rerun: int = 301, primary: bool = True) -> str:
    """SkyServer / CasJobs SQL for the fields that hold objects inside ``region``.

    Built only from the region's checked numbers (formatted as fixed-point decimals), a
    checked integer rerun and fixed table and function names.

    Examples
    --------
    >>> region_fields_sql(SkyRegion.circle(180.0, 0.5, 3.0))  # doctest: +NORMALIZE_WHITESPACE
    'SELECT DISTINCT p.run, p.rerun, p.camcol, p.field FROM dbo.fGetNearbyObjEq(180.0000000, 0.5000000,
    3.000000) AS n JOIN PhotoPrimary AS p ON p.objID = n.objID WHERE p.rerun = 301 ORDER BY p.run, p.camcol, p.field'
    """
    from yl8c4net.sdss.fields import _check_int

    rerun = _check_int("rerun", rerun, 0, 9999)
    table = "PhotoPrimary" if primary else "PhotoObjAll"
    if region.box is not None:
        ra_min, ra_max, dec_min, dec_max = region.box
        source = f"dbo.fGetObjFromRectEq({ra_min:.7f}, {dec_min:.7f}, {ra_max:.7f}, {dec_max:.7f})"
    else:
        source = f"dbo.fGetNearbyObjEq({region.ra:.7f}, {region.dec:.7f}, {region.radius_arcmin:.6f})"
    return (
        f"SELECT DISTINCT p.run, p.rerun, p.camcol, p.field FROM {source} AS n JOIN {table} AS p"
        f" ON p.objID = n.objID WHERE p.rerun = {rerun:d} ORDER BY p.run, p.camcol, p.field"
    )


def fields_in_region(backend, region: SkyRegion, rerun: int = 301, primary: bool = True) -> pd.DataFrame:
    """The fields (columns run, rerun, camcol, field) that cover ``region``.

    ``backend`` is the config's catalogue backend (`yl8c4net.config.catalog_backend`): SQL
    for SkyServer and CasJobs, the frames' WCS headers for a mirror.
    """
    from yl8c4net.sdss.queries import FIELD_DTYPES, MirrorCatalogBackend, empty_table, validate_table

    if isinstance(backend, MirrorCatalogBackend):
        df = mirror_fields_in_region(backend.root, region, rerun, primary, backend.data_release)
    else:
        answer = backend._query(region_fields_sql(region, rerun, primary))
        df = empty_table(FIELD_DTYPES) if answer is None else answer
    df = validate_table(df[list(FIELD_DTYPES)], FIELD_DTYPES, f"fields in {region.describe()}")
    return df.sort_values(["run", "camcol", "field"]).reset_index(drop=True)


def _owned_rows(fields: set[int], field: int) -> tuple[float, float]:
    """Rows of ``field`` it owns among the mirror's ``fields`` of its run and camcol (the
    ownership rule: the shared overlap is split at its middle)."""
    half = FIELD_OVERLAP_ROWS / 2
    low = half if field - 1 in fields else 0.0
    high = FRAME_SHAPE_XY[1] - half if field + 1 in fields else float(FRAME_SHAPE_XY[1])
    return low, high


def mirror_fields_in_region(root, region: SkyRegion, rerun: int = 301, primary: bool = True, data_release: int = 17):
    """Fields of a SAS-layout mirror whose r frame (its owned rows when ``primary``) touches
    ``region``, from each frame's own WCS header."""
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    root = Path(root)
    folder = root / Path(*frame_relpath(FieldId(1, 1, 0, rerun), "r", data_release).parent.parent.parent.parts)
    frames = sorted(folder.glob("*/*/frame-r-*.fits.bz2"))
    if not frames:
        raise QueryError(f"the mirror {root} has no r frames of rerun {rerun} under {folder}")
    present: dict[tuple[int, int], set[int]] = {}
    parsed = []
    for path in frames:
        _, _, run, camcol, field = path.name.removesuffix(".fits.bz2").split("-")
        key = (int(run), int(camcol))
        present.setdefault(key, set()).add(int(field))
        parsed.append((key, int(field), path))
    ra_c, dec_c, reach = region.centre_and_reach_deg()
    rows = []
    for n, ((run, camcol), field, path) in enumerate(parsed, start=1):
        try:
            header = fits.getheader(path, 0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FITSFixedWarning)
                wcs = WCS(header)
        except Exception as exc:  # a damaged frame names itself, and is left out
            raise QueryError(f"{path}: cannot read its WCS header ({type(exc).__name__}: {exc})") from None
        width, height = FRAME_SHAPE_XY
        centre = wcs.pixel_to_world_values(width / 2, height / 2)
        if angular_distance_deg(ra_c, dec_c, *centre) > reach + FRAME_HALF_DIAGONAL_DEG:
            continue
        low, high = _owned_rows(present[(run, camcol)], field) if primary else (0.0, float(height))
        if _frame_touches(wcs, region, (0.0, float(width)), (low, high)):
            rows.append((run, rerun, camcol, field))
        if n % 500 == 0:
            log.info("region: %d of %d mirror frames read", n, len(parsed))
    return pd.DataFrame(rows, columns=["run", "rerun", "camcol", "field"])


def _frame_touches(wcs, region: SkyRegion, xs: tuple[float, float], ys: tuple[float, float], step: int = 16) -> bool:
    """Whether the pixel rectangle ``xs`` x ``ys`` of a frame overlaps ``region``: a grid of
    points every ``step`` pixels inside it falls in the region, or the region's centre falls
    inside it (a region smaller than the grid's spacing)."""
    gx = np.append(np.arange(xs[0], xs[1], step), xs[1] - 0.5)
    gy = np.append(np.arange(ys[0], ys[1], step), ys[1] - 0.5)
    x, y = np.meshgrid(gx, gy)
    ra, dec = wcs.pixel_to_world_values(x.ravel(), y.ravel())
    if region.contains(np.mod(ra, 360.0), dec).any():
        return True
    ra_c, dec_c, _ = region.centre_and_reach_deg()
    px, py = wcs.world_to_pixel_values(ra_c, dec_c)
    return bool(xs[0] <= px < xs[1] and ys[0] <= py < ys[1])


def runs_block(fields: pd.DataFrame, roles: tuple[str, ...] = ("catalog",)) -> str:
    """The ``runs:`` block of a config for ``fields``: one entry per run, its camcols and the
    field range that covers them all (a run's camcols scan the same stretch of sky, so their
    ranges agree to a field or two)."""
    lines = ["runs:"]
    for run, group in fields.groupby("run", sort=True):
        camcols = ", ".join(str(int(c)) for c in sorted(group["camcol"].unique()))
        first, last = int(group["field"].min()), int(group["field"].max())
        lines.append(
            f"  - {{run: {int(run)}, camcols: [{camcols}], fields: [{first}, {last}], roles: [{', '.join(roles)}]}}"
        )
    return "\n".join(lines) + "\n"
