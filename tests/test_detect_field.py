"""One field's detection chain (`yl8c4net.detect.field.FieldDetectionChain`, what rule
detect_block runs per field) on a real SDSS field: the network's boxes (a stand-in detector
here), the flux verification on the fetched r frame, the detections file, and the block
manifest that says the field is done."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.ndimage import uniform_filter

from conftest import SHARED_SAS, needs_shared
from yl8c4net.detect.bright import BrightSourceSettings
from yl8c4net.detect.field import FieldDetectionChain
from yl8c4net.detect.verify import VerifySettings
from yl8c4net.images.labels import BoxTable
from yl8c4net.io import write_json_atomic
from yl8c4net.pipeline.blocks import FieldBlock, read_block_manifest, run_block
from yl8c4net.sdss.fetch import fetch_field, r_frame
from yl8c4net.sdss.fields import FieldId
from yl8c4net.sdss.source import MirrorSource


@needs_shared
def test_a_field_is_detected_verified_written_and_reported_done(tmp_path, caplog):
    import logging

    fid = FieldId(4510, 4, 30)
    frames = str(tmp_path / "frames" / "{run}" / "{camcol}" / "{field}" / "manifest.json")
    detections = str(tmp_path / "detections" / "{run}" / "{camcol}" / "{field}.parquet")
    manifest = fetch_field(fid, MirrorSource(SHARED_SAS), ["r"], tmp_path / "frames/4510/4/30", use_official_jpeg=False)
    write_json_atomic(manifest, tmp_path / "frames/4510/4/30/manifest.json")
    image = r_frame(tmp_path / "frames/4510/4/30/manifest.json").image
    smooth = uniform_filter(image.astype(float), 15)
    star_y, star_x = np.unravel_index(np.argmax(smooth), smooth.shape)
    inner = np.abs(smooth[100:-100, 100:-100])
    blank_y, blank_x = np.unravel_index(np.argmin(inner), inner.shape)
    boxes = pd.DataFrame(
        {
            "x": [float(star_x), blank_x + 100.0],
            "y": [float(star_y), blank_y + 100.0],
            "w": 40.0,
            "h": 40.0,
            "conf": [0.9, 0.3],
            "tile": 0,
        }
    )
    chain = FieldDetectionChain(
        lambda f: (boxes.copy(), {"detect_s": 0.0}),
        frames=frames,
        detections=detections,
        verify=VerifySettings(),
        bright=BrightSourceSettings(),
        box_table=BoxTable(),
        weights_sha256="d" * 64,
    )
    block = FieldBlock(4510, 4, (30,), 301)
    out = tmp_path / "block.json"
    with caplog.at_level(logging.INFO):
        run_block("detect", block, out, [], chain, logging.getLogger("test"), files={"detections": detections})
    entry = read_block_manifest(out)["fields"]["30"]
    assert entry["status"] == "ok" and set(entry["sha256"]) == {"detections"}
    written = pd.read_parquet(detections.format(run=4510, camcol=4, field=30))
    assert written[["x", "y"]].values.tolist() == [[float(star_x), float(star_y)]]  # the blank box went
    timings = json.loads(pq.read_schema(detections.format(run=4510, camcol=4, field=30)).metadata[b"timings"])
    assert timings["n_unverified_dropped"] == 1 and timings["verify_min_snr"] == VerifySettings().min_snr


def test_a_stage_that_returns_anything_but_a_reason_fails_its_job(tmp_path):
    """A field is quarantined only by a one-line reason: a stage returning something else
    (a count, say) is a bug, and must fail the job rather than quarantine every field."""
    import logging

    block = FieldBlock(9101, 3, (11, 12), 301)
    with pytest.raises(TypeError, match="returned 845, not None or a reason"):
        run_block("detect", block, tmp_path / "b.json", [], lambda fid: 845, logging.getLogger("test"))
    assert not (tmp_path / "b.json").exists()
