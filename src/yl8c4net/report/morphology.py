"""Do the simulator's sources look like the sky's? A check without labels (issue 30, item 2).

On an r frame, every source (photutils segments, `yl8c4net.classify.weak_labels.detected_sources`)
gets its r in a 7-px aperture and its concentration above the field's stellar locus
``dc = m(1.5 px) - m(4 px) - locus`` (mag; `~yl8c4net.classify.weak_labels.concentration_table`):
point sources sit at 0 whatever the seeing, resolved galaxies above it. The simulator then
renders an r frame of the sky's densities (`~yl8c4net.simulate.population.PopulationParams`
with the config's galaxy sizes) at the frame's sky and at the seeing that gives its point
sources the same locus, and the same measures run on it. Per r bin the check compares the
share of resolved sources (``dc > RESOLVED_DC_MAG``) and their median ``dc``: the share says
whether the mix of compact and resolved sources matches, the median whether the simulated
galaxies have the sky's sizes where Conv4Net looks.

Both sides use the same photutils detection, not the catalogue's YOLO rows, so that the two
samples are selected alike; the seeing is matched by the locus, not by a moment FWHM, since
the real and simulated PSFs differ in their wings, which moments weigh and the apertures
hardly do.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from yl8c4net.classify.weak_labels import CONCENTRATION_CUT_MAG, concentration_table

#: r bins (mag) of the comparison: the bright end, then where Conv4Net's errors were.
R_BINS = ((16.0, 19.0), (19.0, 20.0), (20.0, 21.0), (21.0, 22.2))
#: A source is resolved above this concentration over the stellar locus (mag): the cut of the
#: weak labels and of the real-class benchmark.
RESOLVED_DC_MAG = CONCENTRATION_CUT_MAG
#: Renders tried to match the locus (secant steps on the seeing).
SEEING_STEPS = 4
#: A match closer than this (mag of locus) ends the search.
LOCUS_TOLERANCE_MAG = 0.01


@dataclass
class FieldMorphology:
    """One frame's sources and the simulator's at the same seeing and sky.

    Attributes
    ----------
    real, simulated : pandas.DataFrame
        Sources with ``x``, ``y`` (pixels), ``r``, ``c`` and ``dc`` (mag).
    locus_mag, simulated_locus_mag : float
        The stellar loci (mag) of the frame and of the simulated frame.
    seeing_arcsec : float
        FWHM of the simulator's PSF that matched the locus.
    sky_nmgy : float
        The frame's median sky (nanomaggies per pixel), given to the simulated frame.
    """

    real: pd.DataFrame
    simulated: pd.DataFrame
    locus_mag: float
    simulated_locus_mag: float
    seeing_arcsec: float
    sky_nmgy: float

    def record(self) -> dict:
        """The JSON-ready summary: loci, seeing, sky, and `morphology_by_r` of both sides."""
        return {
            "stellar_locus_mag": self.locus_mag,
            "sim_stellar_locus_mag": self.simulated_locus_mag,
            "sim_seeing_arcsec": self.seeing_arcsec,
            "sky_nmgy": self.sky_nmgy,
            "real": morphology_by_r(self.real),
            "simulated": morphology_by_r(self.simulated),
        }


def simulated_frames(seed: int, fwhm_r: float, sky_nmgy: float, params, bands: str = "r"):
    """The simulator's frames in ``bands`` of one sky at this r seeing and r sky.

    Parameters
    ----------
    seed : int
        Picks the sky patch (a small integer: it also offsets the patch's RA by ``seed`` deg).
    fwhm_r : float
        r-band FWHM of the PSF (arcsec).
    sky_nmgy : float
        r sky (nanomaggies per pixel); every band's sky is scaled alike.
    params : `~yl8c4net.simulate.population.PopulationParams`
        The population (densities, galaxy sizes and colours).

    Returns
    -------
    images : dict
        band -> image (nanomaggies per pixel, sky-subtracted, with noise).
    sources : pandas.DataFrame
        The rendered sources (truth).
    wcs : astropy.wcs.WCS
        The frames' common pixel grid.
    """
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


def simulated_at_locus(
    seed: int, locus: float, sky_nmgy: float, params, first_fwhm: float = 1.4
) -> tuple[pd.DataFrame, float, float]:
    """The simulated r frame's sources whose point sources have the stellar locus ``locus``
    (mag): found by secant steps on the seeing, at most `SEEING_STEPS` renders.

    Returns the sources' concentration table, the seeing (arcsec) and the locus it reached
    (mag); of the renders tried, the one closest to ``locus``.
    """
    tried = []
    fwhm = first_fwhm
    for _ in range(SEEING_STEPS):
        image = simulated_frames(seed, fwhm, sky_nmgy, params, "r")[0]["r"]
        sim, sim_locus = concentration_table(image)
        tried.append((fwhm, sim_locus, sim))
        if abs(sim_locus - locus) < LOCUS_TOLERANCE_MAG:
            break
        if len(tried) == 1:
            fwhm = fwhm * (locus / sim_locus) ** 0.5
        else:
            (f0, l0, _), (f1, l1, _) = tried[-2], tried[-1]
            fwhm = float(np.clip(f1 + (locus - l1) * (f1 - f0) / (l1 - l0), 0.6, 3.0)) if l1 != l0 else f1
    fwhm, sim_locus, sim = min(tried, key=lambda t: abs(t[1] - locus))
    return sim, fwhm, sim_locus


def field_morphology(image: np.ndarray, sky_nmgy: float, params, seed: int = 0) -> FieldMorphology:
    """The morphology check of one r frame.

    Parameters
    ----------
    image : numpy.ndarray
        The sky-subtracted r frame (nanomaggies per pixel); non-finite pixels count as 0.
    sky_nmgy : float
        Its median sky (nanomaggies per pixel): sets the simulated frame's noise.
    params : `~yl8c4net.simulate.population.PopulationParams`
        The simulator's population to compare with.
    seed : int
        The simulated sky patch (`simulated_frames`).

    Raises
    ------
    ValueError
        If the frame has no source brighter than r = 19 to set its stellar locus.
    """
    real, locus = concentration_table(np.nan_to_num(image))
    sim, fwhm, sim_locus = simulated_at_locus(seed, locus, sky_nmgy, params)
    return FieldMorphology(real, sim, locus, sim_locus, fwhm, float(sky_nmgy))


def spread_fields(fields: list, n: int) -> list:
    """The order in which a run's check tries its fields: ``n`` spread evenly over the run
    (the middle of each of ``n`` equal stretches, in the given order), then the others in order,
    so that a passed-over field is replaced by the next one."""
    fields = list(fields)
    if n <= 0 or not fields:
        return []
    picked = sorted({min(int((k + 0.5) * len(fields) / n), len(fields) - 1) for k in range(n)})
    return [fields[i] for i in picked] + [f for i, f in enumerate(fields) if i not in picked]


def check_fields(status: dict, manifest_path, wanted: int, params, log=None) -> tuple[dict, dict]:
    """The morphology check of ``wanted`` fields of a run, spread over it (`spread_fields`).

    Parameters
    ----------
    status : dict
        `~yl8c4net.sdss.fields.FieldId` -> None for a good field, else its quarantine reason
        (`yl8c4net.pipeline.blocks.field_status` of the fetch manifests).
    manifest_path : callable
        FieldId -> the path of its fetch manifest.
    wanted : int
        Fields to check.
    params : `~yl8c4net.simulate.population.PopulationParams`
        The simulator's population.
    log : logging.Logger, optional
        Gets one line per checked field.

    Returns
    -------
    checks : dict
        ``run/camcol/field`` -> `FieldMorphology`, at most ``wanted``.
    passed_over : dict
        ``run/camcol/field`` -> why it was not checked (quarantined, no r frame fetched, an
        unreadable frame, no source bright enough to set the locus); a field passed over is
        replaced by the next one.
    """
    from yl8c4net.errors import FrameVerificationError
    from yl8c4net.sdss.fetch import r_frame

    checks, passed_over = {}, {}
    for fid in spread_fields(sorted(status), wanted):
        if len(checks) == wanted:
            break
        name = f"{fid.run}/{fid.camcol}/{fid.field}"
        if status[fid] is not None:
            passed_over[name] = f"quarantined ({status[fid]})"
            continue
        manifest = Path(manifest_path(fid))
        if "r" not in json.loads(manifest.read_text())["frames"]:
            passed_over[name] = "no r frame fetched"
            continue
        try:
            frame = r_frame(manifest)
            check = field_morphology(frame.image, float(np.median(frame.sky)), params, seed=len(checks))
        except (FrameVerificationError, ValueError) as exc:
            passed_over[name] = str(exc)
            continue
        checks[name] = check
        if log is not None:
            log.info(
                '%s: %d sources, stellar locus %.3f mag; simulated at %.2f" seeing: %d sources, locus %.3f mag',
                name,
                len(check.real),
                check.locus_mag,
                check.seeing_arcsec,
                len(check.simulated),
                check.simulated_locus_mag,
            )
    return checks, passed_over


def morphology_by_r(table: pd.DataFrame, bins=R_BINS) -> list[dict]:
    """Per r bin: the number of sources ``n``, the share resolved (``dc > RESOLVED_DC_MAG``)
    and the median ``dc`` of the resolved ones (mag; None where a bin has none)."""
    rows = []
    for lo, hi in bins:
        sel = table[(table["r"] >= lo) & (table["r"] < hi)]
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


def plot_morphology(checks: dict, out_png: str | Path, title: str, frame_label: str = "real") -> Path:
    """``dc`` against r, the frame's sources beside the simulator's, one panel per checked field.

    Parameters
    ----------
    checks : dict
        Panel name -> `FieldMorphology`; empty, one panel says that no field was checked.
    frame_label : str
        The legend's name for the frame's sources.
    """
    from yl8c4net.report.figures import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(
        1, max(len(checks), 1), figsize=(4.2 * max(len(checks), 1), 4.0), sharey=True, squeeze=False
    )
    if not checks:
        axes[0][0].text(0.5, 0.5, "no field could be checked\n(see the rule's log)", ha="center", va="center")
    for ax, (name, check) in zip(axes[0], checks.items()):
        sim, real = check.simulated, check.real
        ax.scatter(sim["r"], sim["dc"], s=3, c="tab:orange", alpha=0.5, label=f"simulator ({len(sim)})")
        ax.scatter(real["r"], real["dc"], s=4, c="k", alpha=0.6, label=f"{frame_label} ({len(real)})")
        ax.axhline(RESOLVED_DC_MAG, color="grey", lw=0.8, ls="--")
        ax.set_xlim(15.5, 22.5)
        ax.set_ylim(-0.4, 1.6)
        ax.set_title(f'{name}  (simulated at seeing {check.seeing_arcsec:.2f}")', fontsize=9)
        ax.set_xlabel("r (7-px aperture)")
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("concentration above the stellar locus (mag)")
    # One panel is narrow: the title wraps rather than run off the figure (~13 characters per inch at 9 pt).
    fig.suptitle(textwrap.fill(title, int(fig.get_figwidth() * 13)), fontsize=9)
    return save_figure(fig, out_png, dpi=110)
