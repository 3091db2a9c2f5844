"""Sky geometry of the catalogue: unit vectors for KD-trees, angles as chords, the sky order
of rows.

An angular radius ``theta`` is the chord ``2 sin(theta / 2)`` between unit vectors; astropy's
``search_around_sky`` does the same internally, and calling scipy's ``cKDTree`` directly avoids
building SkyCoord objects for millions of rows (``benchmarks/catalog_scale.py`` compares them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def unit_vectors(ra_deg, dec_deg) -> np.ndarray:
    ra = np.deg2rad(np.asarray(ra_deg, float))
    dec = np.deg2rad(np.asarray(dec_deg, float))
    cd = np.cos(dec)
    return np.column_stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)])


def chord(arcsec: float) -> float:
    return 2.0 * np.sin(np.deg2rad(arcsec / 3600.0) / 2.0)


def separation_arcsec(chord_len) -> np.ndarray:
    return np.rad2deg(2.0 * np.arcsin(np.clip(np.asarray(chord_len) / 2.0, 0, 1))) * 3600.0


def pixels_to_sky(detections: pd.DataFrame, wcs) -> pd.DataFrame:
    """Add ra, dec (deg) of the box centres through the r-frame WCS (0-based pixels)."""
    ra, dec = wcs.all_pix2world(detections["x"].to_numpy(float), detections["y"].to_numpy(float), 0)
    return detections.assign(ra=np.mod(ra, 360.0), dec=dec)


SKY_ZONE_DEG = 0.1


def sky_key(ra_deg, dec_deg, zone_deg: float = SKY_ZONE_DEG) -> np.ndarray:
    """A float key whose order is the sky order: dec zones of ``zone_deg``, then ra.

    One argsort of this key costs half a two-key lexsort; neighbours on the sky become
    neighbours in memory, which is what keeps the KD-trees below cache-friendly.
    """
    return np.floor((np.asarray(dec_deg, float) + 90.0) / zone_deg) * 1000.0 + np.asarray(ra_deg, float)


def sky_order(ra_deg, dec_deg) -> np.ndarray:
    return np.argsort(sky_key(ra_deg, dec_deg))


def is_sky_sorted(df: pd.DataFrame) -> bool:
    key = sky_key(df["ra"].to_numpy(), df["dec"].to_numpy())
    return bool(np.all(key[1:] >= key[:-1]))


def sky_sort(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by sky position (dec zones of 0.1 deg, then ra), for range reads."""
    key = sky_key(df["ra"].to_numpy(), df["dec"].to_numpy())
    if np.all(key[1:] >= key[:-1]):  # already in order (deduplicate's output is)
        return df.reset_index(drop=True)
    return df.iloc[np.argsort(key)].reset_index(drop=True)
