"""Reading and verifying SDSS corrected frames (``frame-{band}-*.fits.bz2``) and colour JPEGs.

A corrected frame is a FITS file with four HDUs: 0 the sky-subtracted, calibrated image in
nanomaggies per pixel (float32, 2048 columns x 1489 rows) with a TAN WCS; 1 the calibration
vector (nanomaggies per count, one value per column); 2 the sky grid (ALLSKY, XINTERP,
YINTERP); 3 the astrometric transformation (asTrans).
"""

from __future__ import annotations

import bz2
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from yl8c4net.errors import FrameVerificationError
from yl8c4net.sdss.fields import FRAME_SHAPE_XY


@dataclass
class Frame:
    """One band of one field.

    Attributes
    ----------
    image : numpy.ndarray
        Calibrated, sky-subtracted image in nanomaggies per pixel, shape (1489, 2048), float32.
    wcs : astropy.wcs.WCS
        Celestial WCS of the image (pixel origin 0 in astropy's pixel API).
    calib : numpy.ndarray
        Nanomaggies per count for each column, shape (2048,).
    sky : numpy.ndarray
        Sky subtracted from the image, in nanomaggies per pixel, interpolated from the
        ALLSKY grid at its coarse resolution (shape of ALLSKY).
    header : astropy.io.fits.Header
        Primary header.
    """

    image: np.ndarray
    wcs: WCS
    calib: np.ndarray
    sky: np.ndarray
    header: fits.Header


def frame_bytes(path: Path) -> bytes:
    """The FITS bytes of a frame file: decompressed when its name ends in ``.bz2``."""
    raw = path.read_bytes()
    if path.name.endswith(".bz2"):
        try:
            return bz2.decompress(raw)
        except (OSError, ValueError, EOFError) as exc:
            raise FrameVerificationError(f"{path}: bz2 stream is corrupt or truncated ({exc})") from None
    return raw


def _celestial_wcs(header: fits.Header, path: Path) -> WCS:
    with warnings.catch_warnings():
        # SDSS headers carry RADECSYS and other legacy keywords astropy fixes silently.
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(header)
        except Exception as exc:  # astropy raises several types for broken WCS keywords
            raise FrameVerificationError(f"{path}: HDU0 WCS cannot be parsed ({exc})") from None
    if not wcs.has_celestial or wcs.naxis != 2:
        raise FrameVerificationError(f"{path}: HDU0 has no celestial WCS (CTYPE1/CTYPE2 missing)")
    return wcs.celestial


#: Content bounds of a corrected frame, from SDSS's own (five real fields in all bands: noise
#: 0.016-0.40 nanomaggies per pixel, sky 0.15-5.3 nanomaggies, no non-finite pixel), widened
#: about tenfold so that only a broken frame falls outside.
MAX_NONFINITE_FRACTION = 1e-3
NOISE_RANGE_NMGY = (0.002, 5.0)
SKY_RANGE_NMGY = (0.01, 100.0)


def check_frame_content(image: np.ndarray, calib: np.ndarray, sky_nmgy: np.ndarray, path) -> None:
    """Raise `FrameVerificationError` when a well-formed frame's pixels are not those of an
    SDSS frame: non-finite or constant pixels, noise or sky far outside SDSS's range, a
    calibration vector that is not positive and finite."""
    finite = np.isfinite(image)
    bad = 1.0 - float(finite.mean())
    if bad > MAX_NONFINITE_FRACTION:
        raise FrameVerificationError(f"{path}: {bad:.1%} of the pixels are not finite")
    if not (np.all(np.isfinite(calib)) and np.all(calib > 0)):
        raise FrameVerificationError(f"{path}: HDU1 calibration vector is not positive and finite")
    sample = image[finite][::7]  # robust statistics on a seventh of the pixels: ~50 ms
    noise = 1.4826 * float(np.median(np.abs(sample - np.median(sample))))
    if not NOISE_RANGE_NMGY[0] <= noise <= NOISE_RANGE_NMGY[1]:
        what = "constant pixels" if noise == 0 else f"pixel noise {noise:.3g} nanomaggies"
        raise FrameVerificationError(
            f"{path}: {what}, outside SDSS's range [{NOISE_RANGE_NMGY[0]}, {NOISE_RANGE_NMGY[1]}]"
        )
    sky = float(np.median(sky_nmgy))
    if not SKY_RANGE_NMGY[0] <= sky <= SKY_RANGE_NMGY[1]:
        raise FrameVerificationError(
            f"{path}: sky {sky:.3g} nanomaggies per pixel, outside SDSS's range {list(SKY_RANGE_NMGY)}"
        )


def read_frame(path: str | Path) -> Frame:
    """Read and verify a corrected frame.

    Parameters
    ----------
    path : str or Path
        ``frame-{band}-*.fits.bz2`` (or an uncompressed ``.fits``).

    Returns
    -------
    Frame

    Raises
    ------
    FrameVerificationError
        If the file is not bz2, not FITS, the image is not 2048x1489 float32, it has no
        celestial WCS, the calibration HDU is missing, or its content is not that of an SDSS
        frame (`check_frame_content`).
    """
    path = Path(path)
    if not path.is_file():
        raise FrameVerificationError(f"{path}: file does not exist")
    data = frame_bytes(path)
    try:
        hdul = fits.open(io.BytesIO(data), memmap=False)
        hdul.verify("silentfix")
        image_hdu = hdul[0]
        image = image_hdu.data
    except Exception as exc:  # astropy raises OSError, TypeError or VerifyError on junk
        raise FrameVerificationError(f"{path}: not a readable FITS file ({exc})") from None
    if image is None or image.ndim != 2:
        raise FrameVerificationError(f"{path}: HDU0 holds no 2-D image")
    width, height = FRAME_SHAPE_XY
    if image.shape != (height, width):
        raise FrameVerificationError(f"{path}: HDU0 is {image.shape[1]}x{image.shape[0]}, expected {width}x{height}")
    if image.dtype.kind != "f" or image.dtype.itemsize != 4:
        raise FrameVerificationError(f"{path}: HDU0 is {image.dtype}, expected float32")
    wcs = _celestial_wcs(image_hdu.header, path)
    if len(hdul) < 3:
        raise FrameVerificationError(f"{path}: {len(hdul)} HDUs, expected image, calib and sky")
    calib = np.asarray(hdul[1].data, dtype=np.float64)
    if calib.shape != (width,):
        raise FrameVerificationError(f"{path}: HDU1 calib vector has shape {calib.shape}, expected ({width},)")
    sky_rec = hdul[2].data
    try:
        allsky = np.asarray(sky_rec["ALLSKY"][0], dtype=np.float64)
    except (KeyError, TypeError, IndexError):
        raise FrameVerificationError(f"{path}: HDU2 has no ALLSKY sky grid") from None
    sky_nmgy = allsky * float(np.median(calib))
    check_frame_content(image, calib, sky_nmgy, path)
    return Frame(
        image=np.asarray(image, dtype=np.float32),
        wcs=wcs,
        calib=calib,
        sky=sky_nmgy,
        header=image_hdu.header.copy(),
    )


#: Gain (electrons per count) per band and camera column 1-6, from SDSS's frame data model
#: ("calculating the noise in the image"); u in camcol 2 changed at run 1100 (`ccd_gain`).
CCD_GAIN = {
    "u": (1.62, 1.595, 1.59, 1.6, 1.47, 2.17),
    "g": (3.32, 3.855, 3.845, 3.995, 4.05, 4.035),
    "r": (4.71, 4.6, 4.72, 4.76, 4.725, 4.895),
    "i": (5.165, 6.565, 4.86, 4.885, 4.64, 4.76),
    "z": (4.745, 5.155, 4.885, 4.775, 3.48, 4.69),
}
#: Dark variance (counts^2) per band and camera column, from the same table; four entries
#: changed at run 1500 (`ccd_dark_variance`).
CCD_DARK_VARIANCE = {
    "u": (9.61, 12.6025, 8.7025, 12.6025, 9.3025, 7.0225),
    "g": (15.6025, 1.44, 1.3225, 1.96, 1.1025, 1.8225),
    "r": (1.8225, 1.00, 1.3225, 1.3225, 0.81, 0.9025),
    "i": (7.84, 5.76, 4.6225, 6.25, 7.84, 5.0625),
    "z": (0.81, 1.0, 1.0, 9.61, 1.8225, 1.21),
}
_GAIN_AFTER_RUN_1100 = {("u", 2): 1.825}
_DARK_VARIANCE_AFTER_RUN_1500 = {("i", 2): 6.25, ("i", 4): 7.5625, ("z", 4): 12.6025, ("z", 5): 2.1025}
R_GAIN = CCD_GAIN["r"]
R_DARK_VARIANCE = CCD_DARK_VARIANCE["r"]


def ccd_gain(band: str, camcol: int, run: int) -> float:
    """Electrons per count of the CCD that took ``band`` in ``camcol`` during ``run``."""
    if run > 1100 and (band, camcol) in _GAIN_AFTER_RUN_1100:
        return _GAIN_AFTER_RUN_1100[band, camcol]
    return CCD_GAIN[band][camcol - 1]


def ccd_dark_variance(band: str, camcol: int, run: int) -> float:
    """Dark variance (counts^2 per pixel) of that CCD during ``run``."""
    if run > 1500 and (band, camcol) in _DARK_VARIANCE_AFTER_RUN_1500:
        return _DARK_VARIANCE_AFTER_RUN_1500[band, camcol]
    return CCD_DARK_VARIANCE[band][camcol - 1]


def r_frame_pixel_noise(frame: Frame, camcol: int) -> float:
    """Typical noise of one pixel of an r frame, in nanomaggies, from SDSS's own recipe:
    sqrt(sky counts / gain + dark variance) x nanomaggies per count, at the frame's median
    sky and calibration (sources' own photon noise left out: this is the noise of blank sky).

    Unlike the clipped rms of the image, it does not grow with crowding: on the crowded
    real fields in ../shared the clipped rms is 2.2-2.4 times this (unresolved stars), on
    high-latitude fields within 5 % of it.
    """
    if not 1 <= camcol <= 6:
        raise ValueError(f"camcol {camcol} is not 1-6")
    calib = float(np.median(frame.calib))
    sky_counts = float(np.median(frame.sky)) / calib
    return float(np.sqrt(sky_counts / R_GAIN[camcol - 1] + R_DARK_VARIANCE[camcol - 1]) * calib)


def verify_frame_file(path: str | Path) -> None:
    """Raise `FrameVerificationError` unless ``path`` is a well-formed corrected frame."""
    read_frame(path)


def read_irg_jpeg(path: str | Path) -> np.ndarray:
    """Read an official ``frame-irg`` JPEG as an RGB array on the FITS pixel grid.

    The JPEG is stored top row first (north-ish up as displayed), the FITS array bottom row
    first, so the JPEG is flipped vertically here: ``rgb[y, x]`` is FITS pixel (x, y).

    Returns
    -------
    numpy.ndarray
        uint8 array of shape (1489, 2048, 3), channels (i, r, g) as R, G, B.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise FrameVerificationError(f"{path}: not a readable JPEG ({exc})") from None
    width, height = FRAME_SHAPE_XY
    if rgb.shape[:2] != (height, width):
        raise FrameVerificationError(f"{path}: JPEG is {rgb.shape[1]}x{rgb.shape[0]}, expected {width}x{height}")
    return np.ascontiguousarray(rgb[::-1])


def verify_jpeg_file(path: str | Path) -> None:
    """Raise `FrameVerificationError` unless ``path`` is a 2048x1489 colour JPEG."""
    read_irg_jpeg(path)
