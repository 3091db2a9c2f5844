"""Keep ultralytics offline and inside the run directory.

ultralytics reads ``YOLO_CONFIG_DIR`` and ``YOLO_OFFLINE`` when it is imported, writes a
settings file there, and downloads Arial fonts for its plots unless it finds them there.
`prepare_ultralytics` must therefore run before the first ``import ultralytics``: it points
the config directory into the run directory, switches off network use and telemetry, and
puts matplotlib's bundled DejaVu Sans under the font names ultralytics looks for.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def prepare_ultralytics(run_dir: str | Path) -> Path:
    """Set up the environment for ultralytics; return its config directory."""
    if "ultralytics" in sys.modules and os.environ.get("YOLO_CONFIG_DIR") is None:
        raise RuntimeError("prepare_ultralytics() must run before ultralytics is imported")
    cfg_dir = Path(os.environ.get("YOLO_CONFIG_DIR") or Path(run_dir) / ".ultralytics")
    cfg_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(cfg_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = cfg_dir / name
        if not target.exists():
            shutil.copyfile(dejavu, target)
    return cfg_dir


def disable_telemetry() -> None:
    """Switch off ultralytics' settings that would reach the network (call after import)."""
    from ultralytics.utils import SETTINGS

    off = {k: False for k, v in SETTINGS.items() if isinstance(v, bool)}
    SETTINGS.update(off)


def use_cpu_threads(threads: int) -> None:
    """Run torch on ``threads`` CPU threads, and keep ultralytics from changing that.

    ultralytics sets torch to ``cpu_count - 1`` threads whenever it selects the CPU for a
    model (``select_device``): on a 2-core machine, 1 thread, half the job's cores. Call
    after importing ultralytics, with the job's threads.
    """
    import torch
    from ultralytics.utils import torch_utils

    threads = max(1, int(threads))
    torch_utils.NUM_THREADS = threads
    torch.set_num_threads(threads)
