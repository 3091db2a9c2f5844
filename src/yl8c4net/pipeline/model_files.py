"""Checks of model files given in the config, made when the workflow is planned: the file is
a complete PyTorch checkpoint, of the right kind (an ultralytics detection model for
``detector.weights``, a YL8C4Net Conv4Net checkpoint for ``classifier.weights``) and, for the
classifier, trained for the config's classes and channels.

The checkpoint's pickle is read with a stub unpickler that imports nothing and builds no
tensor, so planning needs neither torch nor ultralytics and takes milliseconds; a file that
passes is then loaded for real by the job (whose log keeps any traceback).
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from yl8c4net.errors import ConfigError, ModelFileError


class _Stub:
    """Stands for any class or function the pickle names (never imported)."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state


#: Harmless containers a checkpoint's pickle may build (anything else is stubbed).
_CONTAINERS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
}


class _StubUnpickler(pickle.Unpickler):
    def __init__(self, fh, seen: set):
        super().__init__(fh)
        self.seen = seen

    def find_class(self, module, name):
        self.seen.add(f"{module}.{name}")
        return _CONTAINERS.get((module, name)) or type(name, (_Stub,), {})

    def persistent_load(self, pid):  # tensor storages: not needed to tell what the file is
        return None


@dataclass
class CheckpointInfo:
    """What a checkpoint holds: its top-level dict (tensors as None) and every global it names."""

    top: dict
    globals: set = field(default_factory=set)


def inspect_checkpoint(path: str | Path, key: str) -> CheckpointInfo:
    """Read a PyTorch zip checkpoint's structure without torch.

    Raises
    ------
    ConfigError
        ``"{key}: {path}: ..."`` when the file is missing, not a complete zip checkpoint
        (e.g. truncated), or its pickle is unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{key}: {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()  # reads every member: a truncated copy fails here
            if broken is not None:
                raise ConfigError(f"{key}: {path}: member {broken} is corrupt")
            pkl = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not pkl:
                raise ConfigError(f"{key}: {path}: not a PyTorch checkpoint (no data.pkl)")
            seen: set = set()
            with archive.open(pkl[0]) as fh:
                top = _StubUnpickler(fh, seen).load()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ConfigError(f"{key}: {path}: not a complete PyTorch checkpoint ({exc})") from None
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{key}: {path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None
    return CheckpointInfo(top if isinstance(top, dict) else {}, seen)


def check_detector_weights(path: str | Path) -> None:
    """``detector.weights`` must be an ultralytics checkpoint of a detection model."""
    info = inspect_checkpoint(path, "detector.weights")
    if "model_state" in info.top and "class_names" in info.top:
        raise ConfigError(f"detector.weights: {path} is a Conv4Net classifier checkpoint, not YOLO weights")
    if "ultralytics.nn.tasks.DetectionModel" not in info.globals:
        tasks = sorted(g for g in info.globals if g.startswith("ultralytics.nn.tasks."))
        what = f"an ultralytics {tasks[0].rsplit('.', 1)[1]}" if tasks else "not an ultralytics model"
        raise ConfigError(f"detector.weights: {path} is {what}, not a detection model")


def check_classifier_weights(path: str | Path, class_names, in_channels: int) -> None:
    """``classifier.weights`` must be a Conv4Net checkpoint for these classes and channels."""
    info = inspect_checkpoint(path, "classifier.weights")
    if "ultralytics.nn.tasks.DetectionModel" in info.globals:
        raise ConfigError(f"classifier.weights: {path} is YOLO detector weights, not a Conv4Net checkpoint")
    if "model_state" not in info.top or "class_names" not in info.top:
        raise ConfigError(f"classifier.weights: {path} is not a YL8C4Net Conv4Net checkpoint")
    if list(info.top["class_names"]) != list(class_names):
        raise ConfigError(
            f"classifier.weights: {path} was trained for classes {info.top['class_names']}, expected {list(class_names)}"
        )
    if info.top.get("in_channels") != in_channels:
        raise ConfigError(
            f"classifier.weights: {path} was trained on {info.top.get('in_channels')} channels, the config gives "
            f"{in_channels} (training_data.extra_bands)"
        )


#: The config value that names a model shipped in the package.
SHIPPED = "shipped"
#: Model kind -> its file in ``yl8c4net/models`` (each with ``{kind}-card.md`` beside it).
SHIPPED_FILES = {"detector": "detector.pt", "classifier": "classifier.pt", "fusion": "fusion.joblib"}


def shipped_model(kind: str) -> Path:
    """Path of the ``kind`` model (detector, classifier, fusion) that ships in the package
    (``yl8c4net/models``); its model card is ``{kind}-card.md`` beside it."""
    from importlib import resources

    path = Path(str(resources.files("yl8c4net").joinpath("models", SHIPPED_FILES[kind])))
    if not path.is_file():
        raise ConfigError(f"shipped {kind}: {path} is missing from the package (reinstall yl8c4net)")
    return path


def shipped_detector() -> Path:
    """Path of the detector weights that ship in the package (`shipped_model`)."""
    return shipped_model("detector")


def checksum_record(path: str | Path) -> Path:
    """Where the SHA-256 of a model file the workflow wrote is kept: ``{name}.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def record_model_checksum(path: str | Path) -> str:
    """Record the SHA-256 of a model file the workflow has just written (`checksum_record`),
    so that a later change or truncation of the file is caught before use. Returns it."""
    from yl8c4net.io import sha256_of, write_text_atomic

    digest = sha256_of(path)
    write_text_atomic(f"{digest}  {Path(path).name}\n", checksum_record(path))
    return digest


def check_model_before_use(path: str | Path, kind: str, class_names=None, in_channels: int | None = None) -> None:
    """Check a model file as a job is about to load it: against the checksum recorded when
    the workflow wrote it (its own trained models), then, for a PyTorch file, its kind and
    completeness (`check_detector_weights`, `check_classifier_weights`).

    Raises
    ------
    ModelFileError
        One line naming the file and what is wrong with it.
    """
    from yl8c4net.io import sha256_of

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file does not exist")
    record = checksum_record(path)
    if record.is_file():
        recorded = record.read_text().split()[0]
        found = sha256_of(path)
        if found != recorded:
            raise ModelFileError(
                f"{path}: changed or cut short since the workflow wrote it (SHA-256 {found[:16]}..., recorded "
                f"{recorded[:16]}... in {record.name}); restore it, or delete it and {record.name} to train it again"
            )
    if path.suffix != ".pt" or kind == "fusion":
        return
    try:
        if kind == "detector":
            check_detector_weights(path)
        else:
            check_classifier_weights(path, class_names, in_channels)
    except ConfigError as exc:
        raise ModelFileError(str(exc)) from None


def stage_shipped_model(kind: str, out, sha256: str) -> None:
    """Copy the package's ``kind`` model to ``out`` (atomically), checking its SHA-256
    against ``sha256``, the checksum the workflow was planned with."""
    import shutil

    from yl8c4net.io import atomic_output, sha256_of

    source = shipped_model(kind)
    found = sha256_of(source)
    if found != sha256:
        raise ConfigError(f"shipped {kind}: {source} has SHA-256 {found}, the workflow was planned with {sha256}")
    with atomic_output(out) as tmp:
        shutil.copyfile(source, tmp)
    record_model_checksum(out)


def resolve_shipped(value: str | None, kind: str) -> str | None:
    """A model setting (``detector.weights``, ``classifier.weights``, ``fusion.model`` ...) as
    a file path: ``shipped`` becomes the package's ``kind`` model."""
    return str(shipped_model(kind)) if value == SHIPPED else value


def resolve_detector_weights(value: str | None) -> str | None:
    """A ``detector.weights`` / ``detector.init_weights`` value as a file path."""
    return resolve_shipped(value, "detector")
