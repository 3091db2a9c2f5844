"""The simulated sky: sources generated per sky cell, so any frame (of any run that covers
the cell) sees the same sources, and adding a run never changes existing ones.

Number counts follow ``dN/dm ~ 10**(slope * m)`` per class between ``mag_min`` and
``mag_max`` (r band), normalised to a surface density at r <= 22.2; colours come from the
colour model fitted to SkyServer; galaxies are bulge (de Vaucouleurs) + disk (exponential)
with half-light radii that shrink with magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from yl8c4net.simulate.colours import CLASSES, colours_to_mags, load_colour_model

CELL_DEG = 0.05
#: A_b / E(B-V) of the SDSS bands (Schlafly & Finkbeiner 2011, R_V = 3.1).
EXTINCTION_PER_EBV = {"u": 4.239, "g": 3.303, "r": 2.285, "i": 1.698, "z": 1.263}
#: Offset that keeps cell indices positive in the seed sequence (any RA/Dec maps inside).
_CELL_BIAS = 1 << 16


@dataclass(frozen=True)
class ClassCounts:
    """Number counts of one class (r band)."""

    density_deg2: float  # sources per deg^2 with r <= 22.2
    slope: float  # d log10 N / dm
    mag_min: float
    mag_max: float
    #: The bright end, drawn apart (its own random stream, so adding it left the fainter
    #: sources of every cell unchanged): sources per deg^2 brighter than ``mag_min``, from
    #: ``bright_mag_min``, with their own (steeper) slope.
    bright_density_deg2: float = 0.0
    bright_mag_min: float = 9.0
    bright_slope: float = 0.3


@dataclass(frozen=True)
class PopulationParams:
    """Parameters of the simulated source population.

    The defaults were tuned so that simulated frames have as many > 5 sigma segments as the
    ordinary real fields (see docs/simulator.md).
    """

    counts: dict = field(
        default_factory=lambda: {
            # Bright ends: high-latitude SDSS fields hold ~45 stars per deg^2 brighter than
            # r = 14.5 (~1.6 per frame; r saturates near 14) and a few galaxies.
            "GALAXY": ClassCounts(
                11000.0, 0.36, 14.5, 23.5, bright_density_deg2=3.0, bright_mag_min=11.5, bright_slope=0.5
            ),
            "STAR": ClassCounts(
                4000.0, 0.12, 14.5, 23.5, bright_density_deg2=45.0, bright_mag_min=9.0, bright_slope=0.3
            ),
            "QSO": ClassCounts(density_deg2=150.0, slope=0.45, mag_min=16.0, mag_max=23.5),
        }
    )
    #: Median half-light radius (arcsec) of a galaxy at r = 19 and its change per magnitude
    #: (``simulate.galaxy_sizes``; calibrated on real fields, benchmarks/morphology_sim_vs_real.py).
    hlr_at_r19_arcsec: float = 2.0
    hlr_dex_per_mag: float = -0.15
    hlr_scatter_dex: float = 0.2
    #: Galaxy colours redden with r (``simulate.galaxy_colours``): the colour model comes from
    #: spectra brighter than r ~ 17.7 (z ~ 0.1); fainter galaxies lie further away and look
    #: redder. g - r and r - i grow by ``galaxy_reddening_g_r`` / ``_r_i`` (mag), linearly from
    #: 0 at r = ``galaxy_reddening_r_start`` to the full shift at ``galaxy_reddening_r_full``
    #: (benchmarks/colours_sim_vs_real.py); u - g and i - z are kept.
    galaxy_reddening_g_r: float = 0.3
    galaxy_reddening_r_i: float = 0.07
    galaxy_reddening_r_start: float = 17.0
    galaxy_reddening_r_full: float = 19.0
    #: Spectroscopic targeting: fraction of each class with r <= spec_r_max that has a
    #: spectrum, and the fraction of spectra with zWarning != 0.
    spec_fraction: dict = field(default_factory=lambda: {"GALAXY": 0.3, "STAR": 0.5, "QSO": 1.0})
    spec_r_max: float = 22.0
    zwarning_fraction: float = 0.03
    #: Training sets oversample the rare bright sources: the bright ends' densities times this.
    bright_boost: float = 1.0
    #: Crowding: star densities times a factor that climbs log-linearly from 1 to
    #: ``crowding_max_scale`` and back along RA (a triangle wave of period
    #: ``crowding_period_deg``), so one run sweeps high-latitude to M2-like star fields.
    crowding_max_scale: float = 1.0
    crowding_period_deg: float = 6.0
    #: Dust: every source's magnitudes dimmed by A_b = R_b E(B-V), with E(B-V) climbing
    #: linearly from 0 to ``reddening_max_ebv`` and back along RA (period
    #: ``reddening_period_deg``, unlike the crowding's, so that crowded fields come both
    #: clear, like M2 at high latitude, and reddened, like the low-latitude 5405/6/99).
    reddening_max_ebv: float = 0.0
    reddening_period_deg: float = 4.5

    def star_density_scale(self, ra_deg: float) -> float:
        """Star-density factor at right ascension ``ra_deg`` (1 without crowding)."""
        return float(self.crowding_max_scale ** _triangle_wave(ra_deg, self.crowding_period_deg))

    def reddening_ebv(self, ra_deg: float) -> float:
        """E(B-V) (mag) at right ascension ``ra_deg`` (0 without reddening)."""
        return float(self.reddening_max_ebv * _triangle_wave(ra_deg, self.reddening_period_deg))


def _triangle_wave(ra_deg: float, period_deg: float) -> float:
    """0 at RA 0 (mod ``period_deg``), rising linearly to 1 at half a period and back."""
    phase = (ra_deg / period_deg) % 1.0
    return 1.0 - abs(2.0 * phase - 1.0)


def _draw_mags(rng: np.random.Generator, n: int, c: ClassCounts) -> np.ndarray:
    # Inverse CDF of p(m) ~ 10**(slope m) on [mag_min, mag_max].
    k = c.slope * np.log(10.0)
    lo, hi = np.exp(k * c.mag_min), np.exp(k * c.mag_max)
    return np.log(lo + rng.random(n) * (hi - lo)) / k


def _draw_bright_mags(rng: np.random.Generator, n: int, c: ClassCounts) -> np.ndarray:
    return _draw_mags(rng, n, ClassCounts(0.0, c.bright_slope, c.bright_mag_min, c.mag_min))


def _expected_count(c: ClassCounts, area_deg2: float) -> float:
    k = c.slope * np.log(10.0)
    total = np.exp(k * c.mag_max) - np.exp(k * c.mag_min)
    to_limit = np.exp(k * min(22.2, c.mag_max)) - np.exp(k * c.mag_min)
    return c.density_deg2 * area_deg2 * total / to_limit


def with_galaxy_sizes(params: PopulationParams, sizes: dict) -> PopulationParams:
    """``params`` with the galaxy sizes of a ``simulate.galaxy_sizes`` mapping (keys
    ``hlr_at_r19_arcsec``, ``dex_per_mag``, ``scatter_dex``; missing keys keep ``params``')."""
    return replace(
        params,
        hlr_at_r19_arcsec=float(sizes.get("hlr_at_r19_arcsec", params.hlr_at_r19_arcsec)),
        hlr_dex_per_mag=float(sizes.get("dex_per_mag", params.hlr_dex_per_mag)),
        hlr_scatter_dex=float(sizes.get("scatter_dex", params.hlr_scatter_dex)),
    )


def with_galaxy_colours(params: PopulationParams, colours: dict) -> PopulationParams:
    """``params`` with the galaxy colour trend of a ``simulate.galaxy_colours`` mapping (keys
    ``g_r``, ``r_i``, ``r_start``, ``r_full``; missing keys keep ``params``')."""
    return replace(
        params,
        galaxy_reddening_g_r=float(colours.get("g_r", params.galaxy_reddening_g_r)),
        galaxy_reddening_r_i=float(colours.get("r_i", params.galaxy_reddening_r_i)),
        galaxy_reddening_r_start=float(colours.get("r_start", params.galaxy_reddening_r_start)),
        galaxy_reddening_r_full=float(colours.get("r_full", params.galaxy_reddening_r_full)),
    )


def redden_galaxy_mags(mags: np.ndarray, params: PopulationParams) -> np.ndarray:
    """ugriz magnitudes (n, 5) of galaxies with the population's colour trend with r applied:
    g (and u with it) dimmer by the g - r shift, i (and z with it) brighter by the r - i shift;
    r itself unchanged."""
    mags = np.array(mags, dtype=float, copy=True)
    span = max(params.galaxy_reddening_r_full - params.galaxy_reddening_r_start, 1e-6)
    ramp = np.clip((mags[:, 2] - params.galaxy_reddening_r_start) / span, 0.0, 1.0)
    mags[:, :2] += (params.galaxy_reddening_g_r * ramp)[:, None]
    mags[:, 3:] -= (params.galaxy_reddening_r_i * ramp)[:, None]
    return mags


def galaxy_half_light_radius(rng: np.random.Generator, r: np.ndarray, params: PopulationParams) -> np.ndarray:
    """Half-light radii (arcsec) of galaxies of r magnitudes ``r``: log-normal about the
    population's size-magnitude relation, kept within 0.15-12"."""
    hlr = params.hlr_at_r19_arcsec * 10 ** (
        params.hlr_dex_per_mag * (np.asarray(r) - 19.0) + rng.normal(0, params.hlr_scatter_dex, len(r))
    )
    return np.clip(hlr, 0.15, 12.0)


def draw_galaxies(rng: np.random.Generator, mags: np.ndarray, params: PopulationParams) -> pd.DataFrame:
    """The galaxy attributes of sources with ugriz magnitudes ``mags`` (n, 5), drawn from
    ``rng`` in a fixed order: ugriz (reddened with r, `redden_galaxy_mags`), ``hlr_arcsec``,
    ``bulge_frac`` and the shear-like ellipticity ``g1``, ``g2``. One function serves the
    simulated survey and the rendered training cut-outs, so both draw the same galaxies."""
    mags = np.asarray(mags, dtype=float)
    n = len(mags)
    out = pd.DataFrame(mags, columns=list("ugriz"))
    out["hlr_arcsec"] = galaxy_half_light_radius(rng, mags[:, 2], params)
    # Redder galaxies are more bulge-dominated: the galaxy's own (nearby-like) colour, before
    # the reddening with r below.
    gr = mags[:, 1] - mags[:, 2]
    out["bulge_frac"] = np.clip(0.2 + (gr - 0.5) * 1.2 + rng.normal(0, 0.15, n), 0.0, 1.0)
    out[list("ugriz")] = redden_galaxy_mags(mags, params)
    e = np.clip(rng.rayleigh(0.25, n), 0, 0.7)
    theta = rng.uniform(0, np.pi, n)
    out["g1"], out["g2"] = e * np.cos(2 * theta), e * np.sin(2 * theta)
    return out


def cell_index(ra_deg: float, dec_deg: float) -> tuple[int, int]:
    return int(np.floor(ra_deg / CELL_DEG)), int(np.floor(dec_deg / CELL_DEG))


def cell_sources(seed: int, i_ra: int, i_dec: int, params: PopulationParams, colour_model=None) -> pd.DataFrame:
    """All sources of one sky cell, deterministic in (seed, cell)."""
    colour_model = colour_model or load_colour_model()
    rng = np.random.default_rng([seed, i_ra + _CELL_BIAS, i_dec + _CELL_BIAS])
    dec_lo = i_dec * CELL_DEG
    area = CELL_DEG * CELL_DEG * np.cos(np.deg2rad(dec_lo + CELL_DEG / 2))
    # The bright ends and the crowding come from a second stream: a cell without them draws
    # exactly the sources it drew before they existed.
    rng_bright = np.random.default_rng([seed, i_ra + _CELL_BIAS, i_dec + _CELL_BIAS, 2])
    crowding = params.star_density_scale((i_ra + 0.5) * CELL_DEG)
    parts = []
    for cls in CLASSES:
        c = params.counts[cls]
        n = rng.poisson(_expected_count(c, area))
        r = _draw_mags(rng, n, c)
        mags = colours_to_mags(r, colour_model[cls].sample(rng, n))
        ra = (i_ra + rng.random(n)) * CELL_DEG
        dec = dec_lo + rng.random(n) * CELL_DEG
        scale = crowding if cls == "STAR" else 1.0
        n_extra = rng_bright.poisson(max(scale - 1.0, 0.0) * _expected_count(c, area))
        n_bright = rng_bright.poisson(c.bright_density_deg2 * params.bright_boost * scale * area)
        if n_extra or n_bright:
            r_more = np.concatenate([_draw_mags(rng_bright, n_extra, c), _draw_bright_mags(rng_bright, n_bright, c)])
            r = np.concatenate([r, r_more])
            mags = np.vstack([mags, colours_to_mags(r_more, colour_model[cls].sample(rng_bright, len(r_more)))])
            ra = np.concatenate([ra, (i_ra + rng_bright.random(len(r_more))) * CELL_DEG])
            dec = np.concatenate([dec, dec_lo + rng_bright.random(len(r_more)) * CELL_DEG])
            n = len(r)
        part = pd.DataFrame({"class": cls, "ra": ra % 360.0, "dec": dec})
        for j, b in enumerate("ugriz"):
            part[b] = mags[:, j]
        if cls == "GALAXY":
            galaxies = draw_galaxies(rng, mags, params)
            for column in galaxies.columns:
                part[column] = galaxies[column].to_numpy()
            part["redshift"] = np.clip(0.05 + 0.06 * (r - 15) + rng.normal(0, 0.03, n), 0.01, 1.2)
        else:
            part["hlr_arcsec"] = 0.0
            part["bulge_frac"] = 0.0
            part["g1"] = part["g2"] = 0.0
            part["redshift"] = np.clip(rng.lognormal(0.3, 0.5, n), 0.1, 5.0) if cls == "QSO" else rng.normal(0, 1e-4, n)
        spec = (r <= params.spec_r_max) & (rng.random(n) < params.spec_fraction[cls])
        part["has_spec"] = spec
        part["zwarning"] = np.where(spec & (rng.random(n) < params.zwarning_fraction), 4, 0).astype(np.int32)
        parts.append(part)
    df = pd.concat(parts, ignore_index=True)
    ebv = params.reddening_ebv((i_ra + 0.5) * CELL_DEG)
    if ebv > 0:
        for band, coeff in EXTINCTION_PER_EBV.items():
            df[band] = df[band] + coeff * ebv
    cell_key = (np.int64(i_ra + _CELL_BIAS) << 17) | np.int64(i_dec + _CELL_BIAS)
    df.insert(0, "source_id", (cell_key << 20) + np.arange(len(df), dtype=np.int64))
    return df


def sources_in_box(
    seed: int, ra_min: float, ra_max: float, dec_min: float, dec_max: float, params: PopulationParams, colour_model=None
) -> pd.DataFrame:
    """Sources of every cell that touches the box, then cut to the box."""
    colour_model = colour_model or load_colour_model()
    i0, j0 = cell_index(ra_min, dec_min)
    i1, j1 = cell_index(ra_max, dec_max)
    frames = [cell_sources(seed, i, j, params, colour_model) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]
    df = pd.concat(frames, ignore_index=True)
    inside = df["ra"].between(ra_min, ra_max) & df["dec"].between(dec_min, dec_max)
    return df[inside].reset_index(drop=True)
