"""What the simulator adds where detectors fail: saturation and bleed trails, PSF wings,
diffraction spikes, the bright ends of the counts, crowding (issue 12)."""

import dataclasses

import numpy as np

from yl8c4net.simulate.population import PopulationParams, cell_sources
from yl8c4net.simulate.render import (
    PSF_WING_FRACTION,
    add_diffraction_spikes,
    add_sky_noise,
    bleed_saturated,
    field_conditions,
    psf_wing,
)


def test_bleeding_conserves_charge_clips_at_full_well_and_runs_along_the_column():
    counts = np.full((200, 50), 100.0)
    counts[98:103, 24:27] = 400_000.0  # a saturated core, 5 rows x 3 columns
    out = bleed_saturated(counts, 58_000.0)
    assert out.max() <= 58_000.0
    assert np.isclose(out.sum(), counts.sum())
    trail_rows = np.nonzero(out[:, 25] >= 58_000.0)[0]
    # 5 x 400,000 counts per column fill ~34 rows at 58,000: up and down the column only.
    assert trail_rows.min() < 90 and trail_rows.max() > 110
    assert (out[:, 20] == 100.0).all() and (out[:, 30] == 100.0).all()


def test_a_bright_star_saturates_and_bleeds_in_a_noisy_frame():
    rng = np.random.default_rng(1)
    cond = field_conditions(rng)["r"]
    yy, xx = np.mgrid[:300, :300]
    flux = 10 ** (-0.4 * (10.0 - 22.5))  # r = 10
    image = flux * np.exp(-0.5 * ((xx - 150) ** 2 + (yy - 150) ** 2) / 1.5**2) / (2 * np.pi * 1.5**2)
    calib = np.full(2048, cond.calib, np.float32)[:300]
    noisy = add_sky_noise(image, cond, calib, rng)
    counts = noisy / calib[None, :] + cond.sky_counts
    flat = counts >= 0.99 * counts.max()
    rows, cols = np.nonzero(flat)
    assert flat.sum() > 20
    assert np.ptp(rows) > 3 * np.ptp(cols)  # the trail runs along the column (y)


def test_psf_wing_holds_its_share_of_the_light_and_falls_as_a_power_law():
    yy, xx = np.mgrid[-100:101, -100:101].astype(float)
    wing = psf_wing(xx, yy, 1000.0, 3.5)
    # The stamp (radius 100 px of the 101 px cut) holds nearly all of the wing's share.
    assert 0.9 * PSF_WING_FRACTION * 1000 < wing.sum() <= PSF_WING_FRACTION * 1000
    ratio = wing[100, 100 + 80] / wing[100, 100 + 40]
    assert 0.1 < ratio < 0.15  # I ~ r^-3 far out: 2^-3 = 0.125


def test_diffraction_spikes_lie_along_the_rows_and_columns():
    image = np.zeros((201, 201))
    add_diffraction_spikes(image, 100.0, 100.0, 10_000.0, 3.5)
    assert np.isclose(image.sum(), 0.01 * 10_000.0, rtol=0.05)
    on_axes = image[94:107, :].sum() + image[:, 94:107].sum() - image[94:107, 94:107].sum()
    assert on_axes > 0.99 * image.sum()
    assert image[100, 150] > 0 and image[150, 100] > 0 and image[150, 150] == 0


def test_bright_ends_and_crowding_add_sources_without_changing_the_others():
    plain = dataclasses.replace(PopulationParams(), bright_boost=0.0)
    base = PopulationParams()
    boosted = dataclasses.replace(base, bright_boost=50.0)
    crowded = dataclasses.replace(base, crowding_max_scale=40.0, crowding_period_deg=6.0)
    n_bright = n_bright_boosted = 0
    n_stars = n_stars_crowded = n_unchanged = 0
    for i in range(60):
        a = cell_sources(3, i, 10, plain)
        b = cell_sources(3, i, 10, base)
        c = cell_sources(3, i, 10, boosted)
        d = cell_sources(3, i, 10, crowded)
        n_bright += int((b["r"] < 14).sum())
        n_bright_boosted += int((c["r"] < 14).sum())
        n_stars += int((b["class"] == "STAR").sum())
        n_stars_crowded += int((d["class"] == "STAR").sum())
        if not (b["r"] < 14.5).any():  # no bright source drawn: the cell is what it was before
            assert a.equals(b)
            n_unchanged += 1
    assert n_unchanged > 40
    assert n_bright_boosted > 10 * max(n_bright, 1)
    # Cells 0-59 lie at RA 0-3 deg: the crowding climbs from 1x to 40x over them.
    assert n_stars_crowded > 5 * n_stars
    assert crowded.star_density_scale(0.0) == 1.0 and np.isclose(crowded.star_density_scale(3.0), 40.0)
