"""The columns of the catalogue files: for each, its dtype, unit and description (the Parquet
field metadata, the FITS ``TUNITn`` / ``TCOMMn`` cards and the documentation's column page
all come from here)."""

from __future__ import annotations

import pandas as pd

from yl8c4net.sdss.queries import SPEC_CLASSES

CLASS_DTYPE = pd.CategoricalDtype(list(SPEC_CLASSES))

CATALOG_COLUMNS = {
    "ra": ("float64", "deg", "right ascension (ICRS): windowed centroid on the r frame through its WCS"),
    "dec": ("float64", "deg", "declination (ICRS) of the same centroid"),
    "objid": ("int64", "", "PhotoObjAll objID of the matched catalogue source (each objID at most once)"),
    "run": ("int32", "", "SDSS imaging run of the kept detection"),
    "rerun": ("int32", "", "processing rerun"),
    "camcol": ("int16", "", "camera column"),
    "field": ("int32", "", "field number (the field that owns this position)"),
    "x": ("float32", "pix", "windowed centroid column in the r frame (0-based)"),
    "y": ("float32", "pix", "windowed centroid row in the r frame (0-based)"),
    "x_box": ("float32", "pix", "detector box centre column in the r frame (0-based)"),
    "y_box": ("float32", "pix", "detector box centre row in the r frame (0-based)"),
    "centroid_flag": ("int16", "", "0 windowed centroid; 2 joint PSF fit of a blend; 1 neither worked: box centre"),
    "box": ("float32", "pix", "box side (larger of width and height)"),
    "det_conf": ("float32", "", "YOLOv8 confidence (1 for rows of the bright-source complement)"),
    "det_method": (
        "int16",
        "",
        "0 YOLOv8; 1 bright-source complement (photutils segment of the r frame, detector.bright_complement)",
    ),
    "class": (
        CLASS_DTYPE,
        "",
        "class GALAXY, STAR or QSO: Conv4Net fused with the PhotoObjAll photometry, at the sky's "
        "priors (the image-only answer at those priors where class_image_only)",
    ),
    "p_galaxy": ("float32", "", "probability of GALAXY (the answer of class)"),
    "p_star": ("float32", "", "probability of STAR (the answer of class)"),
    "p_qso": ("float32", "", "probability of QSO (the answer of class)"),
    "class_image_only": ("bool", "", "true: no photometry entered class (unmatched row, or fusion off)"),
    "class_image": (CLASS_DTYPE, "", "the paper's answer: Conv4Net on the gri cut-out alone, equal priors"),
    "p_galaxy_image": ("float32", "", "Conv4Net probability of GALAXY (equal priors)"),
    "p_star_image": ("float32", "", "Conv4Net probability of STAR (equal priors)"),
    "p_qso_image": ("float32", "", "Conv4Net probability of QSO (equal priors)"),
    "photo_type": ("int16", "", "PhotoObjAll type (3 galaxy, 6 star)"),
    "u": ("float32", "mag", "PhotoObjAll model magnitude u"),
    "g": ("float32", "mag", "model magnitude g"),
    "r": ("float32", "mag", "model magnitude r"),
    "i": ("float32", "mag", "model magnitude i"),
    "z": ("float32", "mag", "model magnitude z"),
    **{f"err_{b}": ("float32", "mag", f"PhotoObjAll model magnitude error {b} (modelMagErr_{b})") for b in "ugriz"},
    **{f"psfmag_{b}": ("float32", "mag", f"PhotoObjAll PSF magnitude {b} (psfMag_{b}, asinh)") for b in "ugriz"},
    **{f"psfmagerr_{b}": ("float32", "mag", f"PhotoObjAll PSF magnitude error {b} (psfMagErr_{b})") for b in "ugriz"},
    "photo_flags": ("int64", "", "PhotoObjAll flags (SDSS photo flag bits, e.g. 2^18 SATURATED)"),
    "match_sep_arcsec": ("float32", "arcsec", "separation to the PhotoObjAll source"),
    "n_merged": ("int16", "", "detections merged into this one (tiles, double boxes, overlapping runs)"),
    "flux_r": (
        "float32",
        "nmgy",
        "forced r flux in a circle of catalog.aperture_radius_arcsec at (x, y) on the r frame, "
        "minus a 12-20 px annulus median (not aperture-corrected; NaN without an r frame)",
    ),
    "flux_err_r": ("float32", "nmgy", "error of flux_r: sky, dark and source photons, and the annulus median"),
    "snr_r": ("float32", "", "flux_r / flux_err_r: the row's significance in the r frame"),
    "mag_r": ("float32", "mag", "SDSS asinh magnitude (luptitude) of flux_r (finite at zero or negative flux)"),
    "mag_err_r": ("float32", "mag", "error of mag_r"),
    **{
        c: spec
        for b in ("u", "g", "i", "z")
        for c, spec in (
            (
                f"flux_{b}",
                (
                    "float32",
                    "nmgy",
                    f"forced {b} flux in the same aperture on the {b} frame (NaN unless sdss.bands fetched it)",
                ),
            ),
            (f"flux_err_{b}", ("float32", "nmgy", f"error of flux_{b}")),
            (f"mag_{b}", ("float32", "mag", f"SDSS asinh magnitude of flux_{b}")),
            (f"mag_err_{b}", ("float32", "mag", f"error of mag_{b}")),
        )
    },
    "phot_flags": (
        "int16",
        "",
        "bits: 1 the aperture or annulus leaves the frame; 2 blended (joint fit, or another row's "
        "centre inside the aperture); 4 no r frame (lean mode): no photometry; 8 saturated "
        "(a pixel of the box at the saturation level, or PhotoObjAll's "
        "SATURATED); 16 near a bright source (catalog.near_bright_*); 32 a detector box no flux "
        "verification checked (detector.verify off, or lean mode)",
    ),
}
#: PhotoObjAll columns: a row has them only when it is matched.
#: PhotoObjAll's own columns copied into a matched row (catalogue name -> PhotoObjAll table name).
PHOTOOBJ_COPIED = {
    "objid": "objid",
    "photo_type": "type",
    **{b: b for b in "ugriz"},
    **{f"err_{b}": f"err_{b}" for b in "ugriz"},
    **{f"psfmag_{b}": f"psfmag_{b}" for b in "ugriz"},
    **{f"psfmagerr_{b}": f"psfmagerr_{b}" for b in "ugriz"},
    "photo_flags": "flags",
}
PHOTOOBJ_COLUMNS = (*PHOTOOBJ_COPIED, "match_sep_arcsec")
#: Detection columns: every row has them.
DETECTION_COLUMNS = {c: spec for c, spec in CATALOG_COLUMNS.items() if c not in PHOTOOBJ_COLUMNS}
#: The unmatched side table: detection columns and why no PhotoObjAll object was assigned.
#: (No PhotoObjAll columns: they would be null in every row, and astropy reads null
#: integers as float NaN.)
UNMATCHED_COLUMNS = {
    **DETECTION_COLUMNS,
    "unmatched_reason": (
        "str",
        "",
        "no_photoobj: none within the match radius; photoobj_taken: "
        "every PhotoObjAll object within it is matched to a nearer detection",
    ),
}
#: Detections set aside because another row already stands for them.
DUPLICATE_COLUMNS = {
    **DETECTION_COLUMNS,
    "duplicate_reason": (
        "str",
        "",
        "field_overlap: in the overlap rows that the neighbouring field "
        "owns; earlier_run: already in an earlier run's partition",
    ),
    "owner_field": ("int32", "", "field that owns the position (field_overlap rows; null otherwise)"),
}
