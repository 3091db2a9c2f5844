"""What a catalogue was built from, beyond its code and models: where the frames and the
PhotoObjAll rows came from (the archive's URL or a mirror), the data release and rerun, the
detection thresholds, and which model card describes the detector. Written into every
partition's provenance (``data``), the FITS header and the report's metrics table."""

from __future__ import annotations

from yl8c4net.io import sha256_of

#: FITS cards of the data provenance: keyword -> (key of `data_provenance`, comment).
DATA_CARDS = {
    "FRAMESRC": ("frames_from", "where the frames came from"),
    "CATSRC": ("catalog_from", "where the PhotoObjAll rows came from"),
    "DATAREL": ("data_release", "SDSS data release"),
    "RERUN": ("rerun", "photometric processing rerun"),
    "LEANMODE": ("lean", "fields read from their irg JPEG only"),
    "DETCONF": ("detector_conf", "YOLOv8 confidence threshold"),
    "VERIFSNR": ("verify_min_snr", "boxes need this S/N in the r frame"),
    "BRIGHTRM": ("bright_complement_r_max", "bright complement: segments brighter"),
    "DETCARD": ("detector_card", "model card of the detector"),
}


def data_provenance(config: dict, detector_sha256: list[str] | tuple = ()) -> dict:
    """The data provenance of a catalogue built with ``config`` (its ``sdss`` and
    ``detector`` sections) and detectors of these SHA-256 checksums.

    Returns
    -------
    dict
        ``frames_from``, ``catalog_from`` (a URL, ``mirror <root>`` or ``casjobs``),
        ``data_release``, ``rerun``, ``lean``, ``detector_conf``, ``verify_min_snr`` (None when
        the verification is off), ``bright_complement_r_max`` (None when the complement is
        off) and ``detector_card`` (the shipped detector's card when the detector is the
        shipped one, else None).
    """
    from yl8c4net.pipeline.model_files import shipped_detector

    sdss, detector = config["sdss"], config["detector"]
    mirror = f"mirror {sdss.get('mirror_root')}"
    frames_from = mirror if sdss["frame_source"] == "mirror" else sdss["sas_base_url"]
    catalog_from = {"mirror": mirror, "skyserver": sdss["skyserver_url"], "casjobs": "casjobs"}[sdss["catalog_source"]]
    shipped = sha256_of(shipped_detector())
    verify, bright = detector["verify"], detector["bright_complement"]
    return {
        "frames_from": frames_from,
        "catalog_from": catalog_from,
        "data_release": int(sdss["data_release"]),
        "rerun": int(sdss["rerun"]),
        "lean": bool(sdss.get("lean", False)),
        "detector_conf": float(detector["conf"]),
        "verify_min_snr": None if verify.get("min_snr") is None else float(verify["min_snr"]),
        "bright_complement_r_max": float(bright["r_max"]) if bright.get("enabled") else None,
        "detector_card": "yl8c4net/models/detector-card.md" if list(detector_sha256) == [shipped] else None,
    }
