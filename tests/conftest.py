"""Shared fixtures: the real SDSS files in ../shared (skipped when absent) and a small
simulated survey written once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YL8C4NET_SHARED", REPO.parent / "shared"))
SHARED_SAS = SHARED / "data" / "sas"
SHARED_SPECPHOTO_CSV = SHARED / "data" / "skyserver_dr14_specphoto_10k.csv"
SHARED_FRAME_STATS = SHARED / "notes" / "real-frame-stats.md"

os.environ.setdefault("YOLO_OFFLINE", "1")
# ultralytics writes its settings where this points, at import: never the user's own folder.
if "YOLO_CONFIG_DIR" not in os.environ:
    import tempfile

    os.environ["YOLO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="yl8c4net-yolo-")
os.environ.setdefault("MPLBACKEND", "Agg")

needs_shared = pytest.mark.skipif(
    not SHARED_SAS.is_dir(),
    reason=f"real SDSS test data not found at {SHARED_SAS} (set YL8C4NET_SHARED to its parent)",
)

REAL_FIELDS = [(4510, 4, 30), (1035, 6, 17), (1992, 1, 87), (2583, 2, 136), (5405, 6, 99)]


def real_frame_path(run, camcol, field, band):
    from yl8c4net.sdss.fields import FieldId, frame_relpath

    return SHARED_SAS / Path(*frame_relpath(FieldId(run, camcol, field), band).parts)


#: A tiny simulated survey: two adjacent fields of one camcol (they share 128 rows).
SIM_CONFIG = {
    "seed": 7,
    "ra0_deg": 10.0,
    "dec0_deg": 0.0,
    "runs": [{"run": 9101, "strip": "N", "camcols": [3], "fields": [11, 12]}],
}


@pytest.fixture(scope="session")
def sim_mirror(tmp_path_factory):
    """(SimConfig, mirror root) with fields 9101/3/11-12 and the run's SpecPhoto and asTrans
    written."""
    from yl8c4net.sdss.fields import FieldId
    from yl8c4net.simulate.mirror import SimConfig, simulate_astrans, simulate_field, simulate_specphoto

    root = tmp_path_factory.mktemp("sim_mirror")
    sim = SimConfig.from_dict(SIM_CONFIG)
    for field in (11, 12):
        simulate_field(sim, FieldId(9101, 3, field), root)
    simulate_specphoto(sim, 9101, root)
    simulate_astrans(sim, 9101, root)
    return sim, root


def sky_noise_image(shape=(1489, 2048), sigma=0.03, seed=0):
    """Sky-subtracted pixels with SDSS-like noise (nanomaggies), quantised so that bzip2
    compresses them well."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return (np.round(rng.normal(0, sigma / 0.01, shape)) * 0.01).astype(np.float32)


def make_frame_bytes(image, with_wcs=True) -> bytes:
    """A bzip2-compressed FITS frame with SDSS's HDU structure around ``image``."""
    import bz2
    import io

    import numpy as np
    from astropy.io import fits

    hdr = fits.Header()
    if with_wcs:
        hdr.update(
            {
                "CTYPE1": "RA---TAN",
                "CTYPE2": "DEC--TAN",
                "CRPIX1": 1,
                "CRPIX2": 1,
                "CRVAL1": 10.0,
                "CRVAL2": 0.0,
                "CD1_1": 0.0,
                "CD1_2": 1.1e-4,
                "CD2_1": 1.1e-4,
                "CD2_2": 0.0,
            }
        )
    hdul = fits.HDUList(
        [
            fits.PrimaryHDU(image, header=hdr),
            fits.ImageHDU(np.full(2048, 0.005, np.float32)),
            fits.BinTableHDU.from_columns(
                [fits.Column("ALLSKY", format="4E", dim="(2, 2)", array=np.full((1, 2, 2), 100.0, np.float32))]
            ),
        ]
    )
    buf = io.BytesIO()
    hdul.writeto(buf)
    return bz2.compress(buf.getvalue())


class LocalHTTPServer:
    """An HTTP server on 127.0.0.1 (random port) answering with ``handler(method, path,
    query, body, headers) -> (status, bytes)`` or ``(status, bytes, {"headers": {...},
    "send_bytes": n})``: extra response headers, and a body cut off after ``n`` bytes (the
    Content-Length still announces all of it); every request is recorded."""

    def __init__(self, handler):
        import http.server
        import threading
        import urllib.parse

        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, method):
                parsed = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append((method, parsed.path, query, body, dict(self.headers)))
                status, payload, *extra = handler(method, parsed.path, query, body, self.headers)
                extra = extra[0] if extra else {}
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in extra.get("headers", {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(payload[: extra.get("send_bytes", len(payload))])
                if "send_bytes" in extra:
                    self.close_connection = True

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

            def do_HEAD(self):
                self._answer("HEAD")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


#: The demo's finished local run (`make demo`), whose models and catalogue the slow
#: workflow tests reuse and compare with.
LOCAL_RUN = REPO / "results"
needs_local_run = pytest.mark.skipif(
    not (LOCAL_RUN / "catalog" / "catalog.parquet").is_file(),
    reason="no local run to compare with (run `make demo` first)",
)


def demo_config_with_local_models(tmp_path: Path) -> Path:
    """The demo config with the local run's trained models: a workflow run in ``tmp_path``
    then redoes the per-field stages and the catalogue, not the training."""
    import yaml

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["detector"]["weights"] = str(LOCAL_RUN / "models" / "detector" / "yolov8.pt")
    cfg["classifier"]["weights"] = str(LOCAL_RUN / "models" / "classifier" / "conv4net.pt")
    cfg["fusion"]["model"] = str(LOCAL_RUN / "models" / "fusion" / "fusion.joblib")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def model_checkpoints(tmp_path_factory):
    """Untrained but real-format model files: YOLOv8n detection and classification
    checkpoints (ultralytics, from the model YAMLs, offline), a Conv4Net checkpoint as
    `yl8c4net.classify.train` writes it, and a small fusion model (trained, with a
    Conv4Net that knows nothing)."""
    import torch
    from ultralytics import YOLO

    from yl8c4net.classify.model import Conv4Net

    out = tmp_path_factory.mktemp("models")
    YOLO("yolov8n.yaml").save(out / "detector.pt")
    YOLO("yolov8n-cls.yaml").save(out / "yolo-cls.pt")
    torch.save(
        {
            "version": 1,
            "class_names": ["GALAXY", "STAR", "QSO"],
            "in_channels": 3,
            "norm": {"min": [0.0] * 3, "max": [255.0] * 3},
            "model_state": Conv4Net().state_dict(),
        },
        out / "conv4net.pt",
    )
    import numpy as np

    from yl8c4net.classify.fusion import save_fusion, train_fusion
    from yl8c4net.simulate.photometry import photometry_training_table

    val = photometry_training_table(seed=2, n_per_class=100)
    p_image = np.full((len(val), 3), 1 / 3)
    save_fusion(train_fusion(photometry_training_table(seed=1, n_per_class=300), val, p_image), out / "fusion.joblib")
    return out


def photoobj_table(**columns):
    """A PhotoObjAll table with every column the pipeline asks for: ``columns``, and zeros
    (flags, errors) or 20 (magnitudes) for the rest."""
    import numpy as np
    import pandas as pd

    from yl8c4net.sdss.queries import PHOTOOBJ_DTYPES

    n = len(columns["ra"])
    table = {
        c: np.full(n, 0 if t.startswith("int") or c.startswith(("err", "psfmagerr")) else 20.0)
        for c, t in PHOTOOBJ_DTYPES.items()
    }
    table.update({c: np.broadcast_to(v, n) for c, v in columns.items()})
    return pd.DataFrame(table).astype(PHOTOOBJ_DTYPES)


def without_slurm_controller(env: dict) -> dict:
    """``env`` with a ``scontrol`` that fails at once first on PATH.

    The SLURM executor plugin, which every Snakemake start loads, asks ``scontrol show
    config`` for MinJobAge. Where SLURM's tools are installed but no controller runs (this
    machine, and CI before ``.ci/slurm-up``), scontrol retries for about 9 s before it gives
    up: 9 s on every Snakemake command of the default tests, which never use SLURM. The
    SLURM tests run with the real scontrol."""
    import tempfile

    global _NO_SLURMCTLD_DIR
    if _NO_SLURMCTLD_DIR is None:
        _NO_SLURMCTLD_DIR = Path(tempfile.mkdtemp(prefix="yl8c4net-no-slurmctld-"))
        tool = _NO_SLURMCTLD_DIR / "scontrol"
        tool.write_text("#!/bin/sh\necho 'scontrol: no SLURM controller in these tests' >&2\nexit 1\n")
        tool.chmod(0o755)
    return {**env, "PATH": f"{_NO_SLURMCTLD_DIR}{os.pathsep}{env.get('PATH', '')}"}


_NO_SLURMCTLD_DIR: Path | None = None
