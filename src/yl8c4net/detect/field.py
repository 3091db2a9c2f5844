"""One field's detections as the workflow writes them: the network's boxes (from a
`~yl8c4net.detect.infer.BatchedFieldDetector`), the flux verification on the r frame
(``detector.verify``), the bright-source complement (``detector.bright_complement``), and the
detections file. Rule ``detect_block`` calls `FieldDetectionChain` once per field."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from yl8c4net.detect.bright import BrightSourceSettings, bright_sources, merge_bright_sources
from yl8c4net.detect.infer import write_detections
from yl8c4net.detect.verify import VerifySettings, verify_detections
from yl8c4net.images.labels import BoxTable
from yl8c4net.pipeline.blocks import field_path
from yl8c4net.sdss.fetch import fetched_r_frame, r_frame
from yl8c4net.sdss.fields import FieldId
from yl8c4net.sdss.frames import r_frame_pixel_noise

log = logging.getLogger(__name__)


@dataclass
class FieldDetectionChain:
    """Detect, verify, complement and write one field.

    Attributes
    ----------
    detector : callable
        ``detector(fid) -> (table, timings)``: the network's merged boxes of the field (pixels
        of the r frame) and the stage timings (s), at ``verify.detection_conf(conf)``.
    frames : str
        Path template of a field's fetch manifest (``{run}``, ``{camcol}``, ``{field}``).
    detections : str
        Path template of the field's detections file.
    verify : VerifySettings
        The flux verification (``detector.verify``).
    bright : BrightSourceSettings
        The bright-source complement (``detector.bright_complement``).
    box_table : BoxTable
        Magnitude -> box side (px), for the complement's boxes.
    weights_sha256 : str
        Checksum of the detector's weights, recorded in the detections file.
    conf : float
        The operating confidence (``detector.conf``): boxes under it stay only when the
        verification rescues them by their S/N.
    """

    detector: object
    frames: str
    detections: str
    verify: VerifySettings
    bright: BrightSourceSettings
    box_table: BoxTable
    weights_sha256: str
    conf: float = 0.0

    def __call__(self, fid: FieldId) -> None:
        """Write the field's detections file. Returns None, as `~yl8c4net.pipeline.blocks.run_block`
        asks of a field that is done (a field whose data is bad raises one of its
        ``FIELD_ERRORS`` instead)."""
        table, timings = self.detector(fid)
        manifest = field_path(self.frames, fid)
        needs_frame = self.verify.enabled or self.bright.enabled
        frame = r_frame(manifest) if needs_frame and fetched_r_frame(manifest) else None
        if self.verify.enabled:
            if frame is None:
                # Lean mode: the field has only its JPEG; said in the file and in the log.
                table = table[table["conf"] >= self.conf].reset_index(drop=True)
                timings["verify_min_snr"] = None
                log.info("%s: no r frame (lean mode): detections not flux-verified", fid)
            else:
                t0 = time.perf_counter()
                noise = r_frame_pixel_noise(frame, fid.camcol)
                n_low = int((table["conf"] < self.conf).sum())
                table, timings["n_unverified_dropped"] = verify_detections(
                    table, frame.image, noise, self.verify, self.conf
                )
                timings["n_rescued"] = int((table["conf"] < self.conf).sum()) if n_low else 0
                timings["verify_min_snr"] = self.verify.min_snr
                timings["verify_rescue_snr"] = self.verify.rescue_snr
                timings["verify_s"] = round(time.perf_counter() - t0, 3)
        else:
            table = table[table["conf"] >= self.conf].reset_index(drop=True)
        if self.bright.enabled:
            bright = bright_sources(frame.image, frame.calib, self.bright, self.box_table.side)
            n_yolo = len(table)
            table = merge_bright_sources(table, bright)
            timings["n_bright"] = int(len(bright))
            timings["n_yolo_replaced"] = int(n_yolo - (len(table) - len(bright)))
        write_detections(table, field_path(self.detections, fid), self.weights_sha256, timings)
        log.info("%s: %d detections (%s)", fid, len(table), timings)
