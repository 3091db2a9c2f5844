"""The classical complement for bright and saturated sources (`yl8c4net.detect.bright`)."""

import numpy as np
import pandas as pd

from yl8c4net.detect.bright import BRIGHT_TILE, BrightSourceSettings, bright_sources, merge_bright_sources
from yl8c4net.images.labels import BoxTable
from conftest import SHARED_SAS, needs_shared, real_frame_path

CALIB = 0.005  # nanomaggies per count


def _frame_with_saturated_star(seed=0):
    """A 400 x 500 sky-subtracted r frame (nanomaggies): a saturated star at (150, 200) whose
    core is clipped at 55,000 counts and whose excess charge bleeds 60 px up and down its
    column, a faint star (r ~ 19.5) at (350, 100), Gaussian sky noise."""
    rng = np.random.default_rng(seed)
    shape = (400, 500)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = rng.normal(0, 0.03, shape)
    for x, y, flux in [(150.0, 200.0, 40000.0), (350.0, 100.0, 16.0)]:
        profile = (1 + ((xx - x) ** 2 + (yy - y) ** 2) / 2.5**2) ** -3.0
        image += flux * profile / profile.sum()
    full = 55000 * CALIB
    image = np.minimum(image, full)
    image[140:261, 149:152] = full  # the bleed trail along the columns
    return image, np.full(shape[1], CALIB)


def test_saturated_star_gets_one_box_that_covers_its_bleed_trail_and_no_faint_star_does():
    image, calib = _frame_with_saturated_star()
    found = bright_sources(image, calib, BrightSourceSettings(enabled=True), BoxTable().side)
    assert len(found) == 1
    row = found.iloc[0]
    assert bool(row["saturated"]) and row["tile"] == BRIGHT_TILE
    assert abs(row["x"] - 150) < 3 and abs(row["y"] - 200) < 3
    # The trail spans rows 140-260: the box covers it whole.
    assert row["y"] - row["h"] / 2 <= 140 and row["y"] + row["h"] / 2 >= 260


def test_merge_drops_the_detectors_box_of_the_same_star_and_keeps_its_neighbours():
    image, calib = _frame_with_saturated_star()
    bright = bright_sources(image, calib, BrightSourceSettings(enabled=True), BoxTable().side)
    detections = pd.DataFrame(
        {
            "x": [151.0, 175.0, 350.0],  # the star's core, a neighbour in its wing, the faint star
            "y": [199.0, 230.0, 100.0],
            "w": [30.0, 14.0, 14.0],
            "h": [30.0, 14.0, 14.0],
            "conf": np.array([0.4, 0.6, 0.8], np.float32),
            "tile": np.array([0, 0, 1], np.int16),
        }
    )
    merged = merge_bright_sources(detections, bright)
    assert list(merged.columns) == list(detections.columns)
    assert sorted(merged["x"].round().tolist()) == [150.0, 175.0, 350.0]
    assert (merged["tile"] == BRIGHT_TILE).sum() == 1


@needs_shared
def test_every_calibobj_star_brighter_than_r16_of_a_real_field_gets_a_box():
    from astropy.table import Table

    from yl8c4net.sdss.frames import read_frame

    frame = read_frame(real_frame_path(4510, 4, 30, "r"))
    stars = Table.read(SHARED_SAS / "dr17/eboss/sweeps/dr13_final/301/calibObj-004510-4-star.fits.gz")
    stars = stars[stars["FIELD"] == 30]
    r = 22.5 - 2.5 * np.log10(np.clip(np.asarray(stars["PSFFLUX"])[:, 2], 1e-3, None))
    x, y = frame.wcs.all_world2pix(stars["RA"], stars["DEC"], 0)
    on = (r < 16) & (x > 0) & (x < 2047) & (y > 0) & (y < 1488)
    assert on.sum() >= 3
    boxes = bright_sources(frame.image, frame.calib, BrightSourceSettings(enabled=True), BoxTable().side)
    inside = (np.abs(x[on, None] - boxes["x"].to_numpy()[None]) <= boxes["w"].to_numpy()[None] / 2) & (
        np.abs(y[on, None] - boxes["y"].to_numpy()[None]) <= boxes["h"].to_numpy()[None] / 2
    )
    assert inside.any(axis=1).all()
    # Only bright sources: a handful of boxes on a high-latitude field, not its hundreds.
    assert len(boxes) < 30
