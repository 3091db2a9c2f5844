"""YL8C4Net: detection (YOLOv8) and classification (Conv4Net) of sources in SDSS frames."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("yl8c4net")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
