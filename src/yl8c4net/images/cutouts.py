"""Classification cut-outs (paper sections 2.2.1-2.2.2): spectroscopically classified sources
cropped from the composite by their magnitude box and resized to 48 x 48 (bilinear).

The same `crop_cutouts` serves the dataset builder and classifier inference, so a source
looks the same to the network in training and in production.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from yl8c4net.images.labels import BoxTable
from yl8c4net.sdss.queries import SPEC_CLASSES

CUTOUT_PX = 48
SPEC_COLUMNS = ["objid", "ra", "dec", "u", "g", "r", "i", "z", "type", "class", "redshift", "zwarning"]


def crossmatch_spec(photo: pd.DataFrame, spec: pd.DataFrame, radius_arcsec: float = 1.0) -> pd.DataFrame:
    """PhotoObjAll rows with a SpecPhoto class: by objID, else nearest within ``radius_arcsec``.

    Returns the photometric rows (their positions and ugriz) with ``class``, ``redshift`` and
    ``zwarning`` attached; rows without a spectrum are dropped.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    spec_cols = ["class", "redshift", "zwarning"]
    by_id = photo.merge(spec[["objid", *spec_cols]], on="objid", how="inner")
    # Spectra whose objID is absent from this photometry (other processing, missing IDs).
    rest_spec = spec[~spec["objid"].isin(by_id["objid"]) | (spec["objid"] <= 0)]
    rest_photo = photo[~photo["objid"].isin(by_id["objid"])]
    if len(rest_spec) and len(rest_photo):
        cp = SkyCoord(rest_photo["ra"].to_numpy() * u.deg, rest_photo["dec"].to_numpy() * u.deg)
        cs = SkyCoord(rest_spec["ra"].to_numpy() * u.deg, rest_spec["dec"].to_numpy() * u.deg)
        idx, sep, _ = cs.match_to_catalog_sky(cp)
        ok = sep.arcsec <= radius_arcsec
        matched = rest_photo.iloc[idx[ok]].reset_index(drop=True)
        for c in spec_cols:
            matched[c] = rest_spec[c].to_numpy()[ok]
        # One spectrum per photometric object: keep the first when two spectra land on one.
        matched = matched.drop_duplicates("objid")
        by_id = pd.concat([by_id, matched], ignore_index=True)
    return by_id.reset_index(drop=True)


def select_for_classification(matched: pd.DataFrame, r_limit: float = 22.2) -> pd.DataFrame:
    """Drop zWarning != 0 and r > r_limit (paper section 2.2.1)."""
    keep = (matched["zwarning"] == 0) & (matched["r"] <= r_limit)
    return matched[keep].reset_index(drop=True)


def crop_cutouts(
    image: np.ndarray, x: np.ndarray, y: np.ndarray, side: np.ndarray, size: int = CUTOUT_PX
) -> np.ndarray:
    """Square crops centred on (x, y) with the given sides, resized bilinearly to size x size.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 (rows, cols, channels) in FITS row order; x, y in its 0-based pixels.
    side : numpy.ndarray
        Crop side in pixels per source (the magnitude box, or the detection box).

    Returns
    -------
    numpy.ndarray
        uint8 (n, size, size, channels). Parts of a crop beyond the image edge are filled
        with the image's median per channel (sky), so edge sources keep their scale.
    """
    import torch
    import torch.nn.functional as F

    n = len(x)
    channels = image.shape[2]
    out = np.empty((n, size, size, channels), dtype=np.uint8)
    if n == 0:
        return out
    sky = np.median(image.reshape(-1, channels)[::97], axis=0).astype(np.float32)
    height, width = image.shape[:2]
    for k in range(n):
        s = max(int(round(side[k])), 2)
        x0 = int(round(x[k] - s / 2))
        y0 = int(round(y[k] - s / 2))
        crop = np.empty((s, s, channels), dtype=np.float32)
        crop[:] = sky
        xa, xb, ya, yb = max(x0, 0), min(x0 + s, width), max(y0, 0), min(y0 + s, height)
        if xa < xb and ya < yb:
            crop[ya - y0 : yb - y0, xa - x0 : xb - x0] = image[ya:yb, xa:xb]
        t = torch.from_numpy(crop).permute(2, 0, 1)[None]
        r = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=s > size)
        out[k] = np.clip(np.round(r[0].permute(1, 2, 0).numpy()), 0, 255).astype(np.uint8)
    return out


def field_cutouts(
    image: np.ndarray,
    sources: pd.DataFrame,
    wcs,
    table: BoxTable = BoxTable(),
    size: int = CUTOUT_PX,
    crop_scale: float = 1.0,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Cut-outs of classified sources of one field (positions through the r-frame WCS), each
    as large as its magnitude box times ``crop_scale`` (the field's seeing scale,
    `yl8c4net.images.seeing`)."""
    x, y = wcs.all_world2pix(sources["ra"].to_numpy(), sources["dec"].to_numpy(), 0)
    height, width = image.shape[:2]
    on = (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
    src = sources[on].reset_index(drop=True)
    crops = crop_cutouts(image, x[on], y[on], table.side(src["r"].to_numpy()) * crop_scale, size)
    return crops, src.assign(x=x[on], y=y[on])


def balance_and_split(
    table: pd.DataFrame, per_class: int, fractions=(0.8, 0.1, 0.1), seed: int = 0, classes=SPEC_CLASSES
) -> pd.DataFrame:
    """Class-balanced sample and stratified split.

    Every class gets ``n = min(per_class, smallest class count)`` rows drawn at random (seeded);
    each class is split into ``round(0.8 n)`` train, ``round(0.1 n)`` val, the rest test.

    Returns
    -------
    pandas.DataFrame
        The sampled rows with a ``split`` column and the original index in ``row``.
    """
    rng = np.random.default_rng(seed)
    counts = table["class"].value_counts()
    n = min([per_class] + [int(counts.get(c, 0)) for c in classes])
    parts = []
    for cls in classes:
        rows = np.flatnonzero((table["class"] == cls).to_numpy())
        pick = np.sort(rng.choice(rows, size=n, replace=False))
        pick = rng.permutation(pick)
        n_train, n_val = int(round(fractions[0] * n)), int(round(fractions[1] * n))
        split = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * (n - n_train - n_val))
        parts.append(table.iloc[pick].assign(split=split, row=pick))
    out = pd.concat(parts, ignore_index=True)
    order = {"train": 0, "val": 1, "test": 2}
    # Rendered cut-outs have no objID: their row number orders them.
    within = "objid" if "objid" in out.columns else "row"
    return out.sort_values(
        ["split", "class", within], key=lambda s: s.map(order) if s.name == "split" else s, kind="stable"
    ).reset_index(drop=True)


def gather_field_cutouts(manifest_paths, files: dict) -> tuple[np.ndarray, pd.DataFrame]:
    """The cut-outs and their table from every ok field of the cut-out block manifests; a
    source seen in two overlapping fields keeps its first cut-out only."""
    from yl8c4net.pipeline.blocks import field_path, ok_fields

    images, tables = [], []
    for fid in ok_fields(manifest_paths):
        table = pd.read_parquet(field_path(files["cutout_table"], fid))
        if len(table):
            images.append(np.load(field_path(files["cutout_images"], fid)))
            tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    stack = np.concatenate(images)
    first = ~table.duplicated("objid")
    return stack[first.to_numpy()], table[first].reset_index(drop=True)
