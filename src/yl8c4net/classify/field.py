"""One field's classified detections as the workflow writes them: Conv4Net's class and
probabilities for every detection's cut-out, its windowed centroid on the r frame, its forced
r photometry there, and that position on the sky through the r-frame WCS. Rule ``classify_block`` calls
`FieldClassification` once per field, from several threads or processes at once
(``field_workers.gpu``, ``field_workers.pool``); `FieldClassificationRecipe` builds it, in each
worker process when there are several."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from yl8c4net.catalog.photometry import (
    OTHER_BANDS,
    SATURATED,
    empty_band_photometry,
    flag_unverified,
    forced_band_photometry,
    forced_r_photometry,
    without_r_frame,
)
from yl8c4net.catalog.positions import CENTROID_BLEND_FIT, refine_positions
from yl8c4net.catalog.sky import pixels_to_sky
from yl8c4net.classify.infer import AUTO_PREDICT_BATCH, classify_detections, magnitude_crop_sides
from yl8c4net.images.imageio import load_image
from yl8c4net.images.labels import PIXEL_ARCSEC, BoxTable
from yl8c4net.images.seeing import crop_scale, crop_settings, field_fwhm_arcsec
from yl8c4net.io import write_parquet
from yl8c4net.pipeline.blocks import field_path
from yl8c4net.sdss.fetch import band_frame, fetched_bands, fetched_r_frame, field_wcs, r_frame
from yl8c4net.sdss.fields import FieldId

log = logging.getLogger(__name__)


@dataclass
class FieldClassification:
    """Classify, centre and place one field's detections.

    Attributes
    ----------
    model, norm
        The loaded Conv4Net (torch or ONNX) and its input normalisation; inference only, so
        one model serves every thread.
    files : dict
        Per-field path templates (``frames``, ``composite``, ``detections``, ``classified``).
    centroid_window_fwhm_arcsec : float
        ``catalog.centroid_window_fwhm_arcsec``.
    lean : bool
        ``sdss.lean``: fields fetched without their r frame are centred on the JPEG's r channel.
    aperture_radius_arcsec : float
        ``catalog.aperture_radius_arcsec``: the forced r aperture (`yl8c4net.catalog.photometry`).
    saturation_counts : float
        ``detector.bright_complement.saturation_counts``: the saturation flag's level.
    near_bright_mag_r, near_bright_radius_arcsec : float
        ``catalog.near_bright_mag_r`` and ``catalog.near_bright_radius_arcsec``.
    predict_batch : int
        Cut-outs per Conv4Net batch (``classifier.predict_batch``, resolved by
        `yl8c4net.classify.infer.predict_batch`).
    seeing_reference_arcsec : float or None
        The seeing the classifier was trained at (its checkpoint's,
        `yl8c4net.images.seeing.crop_settings`): crops scale with the field's FWHM.
    crop_box_table : BoxTable or None
        ``training_data.box_table`` when ``classifier.crop_side`` is ``magnitude``: each
        cut-out's side is the table's for the detection's forced r magnitude, as the
        classifier's training cut-outs were cropped (`yl8c4net.classify.infer.magnitude_crop_sides`);
        None crops by the detector's box.
    """

    model: object
    norm: object
    files: dict
    centroid_window_fwhm_arcsec: float
    lean: bool = False
    aperture_radius_arcsec: float = 2.0
    saturation_counts: float = 50000.0
    near_bright_mag_r: float = 15.0
    near_bright_radius_arcsec: float = 30.0
    predict_batch: int = AUTO_PREDICT_BATCH["cpu"]
    seeing_reference_arcsec: float | None = None
    crop_box_table: BoxTable | None = None

    def __call__(self, fid: FieldId) -> None:
        import pyarrow.parquet as pq

        detections = pq.read_table(field_path(self.files["detections"], fid))
        det = detections.to_pandas()
        image = load_image(field_path(self.files["composite"], fid), flip=True)
        manifest_path = field_path(self.files["frames"], fid)
        frame = None
        if self.lean and image.ndim == 3 and not fetched_r_frame(manifest_path):
            # Lean mode: centroids on the irg JPEG's r channel (a monotonic stretch keeps a
            # symmetric profile's centre), sky through the run's asTrans.
            pixels, wcs = image[..., 1].astype("float32"), field_wcs(manifest_path)
        else:
            frame = r_frame(manifest_path)
            pixels, wcs = frame.image, frame.wcs
        # The seeing is fitted once, on the boxes' centres, for the crops and the positions.
        fwhm = float("nan") if frame is None else field_fwhm_arcsec(frame.image, det["x"], det["y"])
        measured = refine_positions(det, pixels, self.centroid_window_fwhm_arcsec, fwhm_px=fwhm / PIXEL_ARCSEC)
        if frame is None:
            measured = without_r_frame(measured)
        else:
            measured = forced_r_photometry(
                measured,
                frame.image,
                frame.calib,
                frame.sky,
                fid.camcol,
                self.aperture_radius_arcsec,
                blend_flag=measured["centroid_flag"].to_numpy() == CENTROID_BLEND_FIT,
                saturation_counts=self.saturation_counts,
                near_bright_mag_r=self.near_bright_mag_r,
                near_bright_radius_arcsec=self.near_bright_radius_arcsec,
            )
        classified = classify_detections(
            self.model,
            self.norm,
            image if image.ndim == 3 else image[..., None],
            det,
            batch_size=self.predict_batch,
            crop_scale=self._seeing_scale(fwhm, frame is None, fid),
            sides_px=self._crop_sides(det, measured),
        )
        # The class columns follow the detector's, as they always have in the file.
        for k, column in enumerate(classified.columns[len(det.columns) :]):
            measured.insert(len(det.columns) + k, column, classified[column])
        if frame is not None:
            measured = self._other_bands(measured, manifest_path, frame.wcs, fid)
        measured = flag_unverified(measured, detections_verified(detections.schema))
        out = pixels_to_sky(measured, wcs)
        write_parquet(out, field_path(self.files["classified"], fid))
        log.info(
            "%s: %d detections classified: %s; %d centroids measured, %d keep the box centre",
            fid,
            len(out),
            out["class"].value_counts().to_dict(),
            int((out["centroid_flag"] == 0).sum()),
            int((out["centroid_flag"] != 0).sum()),
        )

    def _crop_sides(self, det: pd.DataFrame, measured: pd.DataFrame) -> np.ndarray | None:
        """Cut-out sides by each detection's forced r magnitude (``classifier.crop_side:
        magnitude``), or None for the detector's boxes (``box``, and fields without an r
        frame)."""
        if self.crop_box_table is None:
            return None
        usable = (measured["phot_flags"].to_numpy() & SATURATED) == 0
        return magnitude_crop_sides(det, measured["mag_r"].to_numpy(float), usable, self.crop_box_table)

    def _seeing_scale(self, fwhm_arcsec: float, lean: bool, fid: FieldId) -> float:
        """The factor on this field's crop sides for a classifier trained at a common seeing
        (`yl8c4net.images.seeing`), from the field's FWHM fitted on its detections."""
        if self.seeing_reference_arcsec is None:
            return 1.0
        if lean:
            log.warning("%s: no r frame (sdss.lean): cut-outs cropped at the reference seeing", fid)
        elif not np.isfinite(fwhm_arcsec):
            log.warning("%s: too few isolated detections to fit the seeing: cut-outs at the reference seeing", fid)
        return crop_scale(fwhm_arcsec, self.seeing_reference_arcsec)

    def _other_bands(self, measured: pd.DataFrame, manifest_path, r_wcs, fid: FieldId) -> pd.DataFrame:
        """``measured`` with the same aperture's photometry in every other band the field
        fetched (`yl8c4net.catalog.photometry.BAND_COLUMNS`; NaN for the bands it did not)."""
        fetched = set(fetched_bands(manifest_path))
        parts = [measured]
        for band in OTHER_BANDS:
            if band in fetched:
                parts.append(
                    forced_band_photometry(
                        measured,
                        band_frame(manifest_path, band),
                        r_wcs,
                        band,
                        fid.camcol,
                        fid.run,
                        self.aperture_radius_arcsec,
                    )
                )
            else:
                parts.append(empty_band_photometry(measured.index, band))
        return pd.concat(parts, axis=1)


@dataclass
class FieldClassificationRecipe:
    """What rule ``classify_block`` needs to build its `FieldClassification`: small and
    picklable, so that each worker process of a process pool loads its own model
    (`yl8c4net.pipeline.field_pool`).

    Attributes
    ----------
    weights : str
        The classifier checkpoint (``.pt``) or its ONNX export.
    in_channels : int
        Input channels the config expects (3 plus ``training_data.extra_bands``).
    runtime, device, predict_batch
        ``classifier.runtime``, ``classifier.device`` and ``classifier.predict_batch``.
    files : dict
        Per-field path templates, as for `FieldClassification`.
    options : dict
        `FieldClassification`'s other settings (``centroid_window_fwhm_arcsec``, ``lean``, ...).
    """

    weights: str
    in_channels: int
    runtime: str = "torch"
    device: str = "auto"
    predict_batch: object = "auto"
    files: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    def build(self) -> FieldClassification:
        """The model loaded; sets this process's torch to one CPU thread (`one_cpu_thread`)."""
        from yl8c4net.classify.infer import predict_batch
        from yl8c4net.classify.model import CLASS_NAMES

        one_cpu_thread()
        if self.runtime == "onnx":
            from yl8c4net.runtime.onnx import load_classifier_onnx

            model, norm, meta = load_classifier_onnx(self.weights, CLASS_NAMES, self.in_channels, threads=1)
        else:
            from yl8c4net.classify.train import load_classifier

            model, norm, meta = load_classifier(self.weights, CLASS_NAMES, self.in_channels, self.device)
        return FieldClassification(
            model,
            norm,
            self.files,
            predict_batch=predict_batch(self.predict_batch, model),
            seeing_reference_arcsec=crop_settings(meta),
            **self.options,
        )


def crop_box_table(cfg: dict) -> BoxTable | None:
    """`FieldClassification`'s ``crop_box_table`` for a workflow config: the configured box
    table with ``classifier.crop_side: magnitude``, None (the detector's boxes) with ``box``."""
    if cfg["classifier"]["crop_side"] == "box":
        return None
    return BoxTable.from_config(cfg["training_data"]["box_table"])


def one_cpu_thread() -> None:
    """Run torch on one CPU thread in this process, for classification.

    The sums of Conv4Net's fully connected layers come out of the CPU's matrix library in an
    order that depends on the number of threads (probabilities differ by ~1e-7 between one
    and two), so the catalogue would depend on the job's cores. With one thread per field,
    the fields in flight (threads or processes) use the job's cores and every field's
    probabilities are the same bits whatever the cores, the pool and the fields in flight.
    """
    import torch

    torch.set_num_threads(1)


def detections_verified(schema_or_path) -> bool:
    """True when a field's detections file (its path, or its `pyarrow.Schema`) says its
    boxes were flux-verified (the detect step records ``verify_min_snr`` in the file's
    metadata only then)."""
    import json

    import pyarrow.parquet as pq

    schema = schema_or_path if hasattr(schema_or_path, "metadata") else pq.read_schema(schema_or_path)
    timings = json.loads((schema.metadata or {}).get(b"timings", b"{}"))
    return timings.get("verify_min_snr") is not None
