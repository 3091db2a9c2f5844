"""Colour model of GALAXY / STAR / QSO sources: a Gaussian mixture per class in
(u-g, g-r, r-i, i-z), fitted to real SDSS photometry.

GALAXY and QSO colours come from the SkyServer table's spectroscopic sources. STAR colours
come from SDSS's photometric star catalogue (a calibObj sweep, `star_colours`), because
SDSS's spectroscopic stars are biased towards the quasar locus; the spectroscopic stars
still give the STAR class's r distribution of real spectra.

The fitted model ships with the package (``data/colour_model.json``) so the simulator needs
no data at run time; `fit_colour_model` refits it
(``python -m yl8c4net.simulate.colours CSV OUT.json --star-sweep CALIBOBJ``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from yl8c4net.errors import CatalogValidationError
from yl8c4net.sdss.queries import SPEC_CLASSES as CLASSES

COLOUR_NAMES = ("u-g", "g-r", "r-i", "i-z")
BANDS = ("u", "g", "r", "i", "z")
R_INDEX = 2  # colours are anchored on the r magnitude


@dataclass
class ClassColourModel:
    """Gaussian mixture over the four colours of one class."""

    weights: np.ndarray  # (k,)
    means: np.ndarray  # (k, 4)
    covariances: np.ndarray  # (k, 4, 4)
    #: 0-100th percentiles of r of the class's real spectra (None in older model files).
    r_quantiles: np.ndarray | None = None

    def sample_spectroscopic_r(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """r magnitudes distributed as those of the class's real spectra (linear
        interpolation between percentiles)."""
        if self.r_quantiles is None:
            raise ValueError("this colour model has no r_quantiles: refit it (python -m yl8c4net.simulate.colours)")
        return np.interp(rng.random(n), np.linspace(0, 1, len(self.r_quantiles)), self.r_quantiles)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` colour vectors, shape (n, 4), in magnitudes."""
        comp = rng.choice(len(self.weights), size=n, p=self.weights)
        out = np.empty((n, 4))
        for k in range(len(self.weights)):
            sel = comp == k
            if sel.any():
                out[sel] = rng.multivariate_normal(self.means[k], self.covariances[k], size=int(sel.sum()))
        return out


def colours_to_mags(r: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """ugriz magnitudes, shape (n, 5), from r and the colours (u-g, g-r, r-i, i-z)."""
    ug, gr, ri, iz = colours.T
    g = r + gr
    u = g + ug
    i = r - ri
    z = i - iz
    return np.column_stack([u, g, r, i, z])


def load_colour_model(path: str | Path | None = None) -> dict[str, ClassColourModel]:
    """Load the colour model; the packaged one when ``path`` is None."""
    if path is None:
        text = resources.files("yl8c4net.simulate").joinpath("data/colour_model.json").read_text()
    else:
        text = Path(path).read_text()
    raw = json.loads(text)
    return {cls: _class_model(raw["classes"][cls]) for cls in CLASSES}


def _class_model(entry: dict) -> ClassColourModel:
    return ClassColourModel(
        # The JSON keeps 6 decimals: renormalise so the weights sum to 1 exactly.
        weights=np.asarray(entry["weights"]) / np.sum(entry["weights"]),
        means=np.asarray(entry["means"]),
        covariances=np.asarray(entry["covariances"]),
        r_quantiles=np.asarray(entry["r_quantiles"]) if "r_quantiles" in entry else None,
    )


def read_specphoto_csv(csv_path: str | Path):
    """Read and validate the SkyServer ugriz + class table; return a DataFrame of good rows."""
    import pandas as pd

    csv_path = Path(csv_path)
    df = pd.read_csv(csv_path)
    missing = [c for c in (*BANDS, "class") if c not in df.columns]
    if missing:
        raise CatalogValidationError(f"{csv_path}: missing column(s) {missing}")
    df = df[df["class"].isin(CLASSES)]
    mags = df[list(BANDS)].to_numpy(float)
    # -9999 and 99-ish entries are SkyServer's "no measurement"; keep physically sane rows.
    good = np.all((mags > 10) & (mags < 26), axis=1)
    return df[good].reset_index(drop=True)


#: Share of the SkyServer table held out for validation (never used to fit anything).
SPECPHOTO_TEST_FRACTION = 0.3
SPECPHOTO_SPLIT_SEED = 0


def specphoto_split(df, test_fraction: float = SPECPHOTO_TEST_FRACTION, seed: int = SPECPHOTO_SPLIT_SEED):
    """``"train"`` / ``"test"`` per row of a `read_specphoto_csv` table, stratified by class.

    The colour model is fitted to the train part only, so the test part stays untouched for
    validating the colour classifier trained on the simulated sky.
    """
    rng = np.random.default_rng(seed)
    split = np.full(len(df), "train", dtype=object)
    for cls in CLASSES:
        rows = np.flatnonzero((df["class"] == cls).to_numpy())
        test = rng.choice(rows, size=int(round(test_fraction * len(rows))), replace=False)
        split[test] = "test"
    return split


def fit_colour_model(
    csv_path: str | Path, n_components: int = 5, seed: int = 0, star_sweep: str | Path | None = None
) -> dict:
    """Fit the per-class mixtures to the train part (`specphoto_split`) of a SkyServer table
    with columns u g r i z class.

    Rows with any colour more than 5 mag from the class median are outliers (bad photometry)
    and are dropped before the fit. With ``star_sweep`` (a calibObj star sweep), the STAR
    colours are refitted to its photometric stars (`star_colours.fit_star_colours`, with the
    GALAXY and QSO mixtures as the contaminants); the STAR entry keeps the r quantiles of
    the table's spectroscopic stars.
    """
    from sklearn.mixture import GaussianMixture

    df = read_specphoto_csv(csv_path)
    df = df[specphoto_split(df) == "train"].reset_index(drop=True)
    mags = df[list(BANDS)].to_numpy(float)
    colours = -np.diff(mags, axis=1)  # u-g, g-r, r-i, i-z
    out = {
        "colours": list(COLOUR_NAMES),
        "source": str(Path(csv_path).name),
        "split": {"part": "train", "test_fraction": SPECPHOTO_TEST_FRACTION, "seed": SPECPHOTO_SPLIT_SEED},
        "classes": {},
    }
    for cls in CLASSES:
        c = colours[(df["class"] == cls).to_numpy()]
        c = c[np.all(np.abs(c - np.median(c, axis=0)) < 5, axis=1)]
        gmm = GaussianMixture(n_components=n_components, covariance_type="full", random_state=seed).fit(c)
        r = df.loc[(df["class"] == cls).to_numpy(), "r"].to_numpy(float)
        out["classes"][cls] = {
            "n_rows": int(len(c)),
            # r magnitudes of real spectra of the class: the rendered cut-out sets draw from them.
            "r_quantiles": np.quantile(r, np.linspace(0, 1, 101)).round(4).tolist(),
            "weights": gmm.weights_.round(6).tolist(),
            "means": gmm.means_.round(6).tolist(),
            "covariances": gmm.covariances_.round(8).tolist(),
        }
    if star_sweep is not None:
        from yl8c4net.simulate.star_colours import fit_star_colours

        contaminants = {c: _class_model(out["classes"][c]) for c in CLASSES if c != "STAR"}
        stars = fit_star_colours(star_sweep, contaminants, seed=seed)
        entry = out["classes"]["STAR"]
        entry.update({k: stars.pop(k) for k in ("weights", "means", "covariances")})
        entry["n_rows_spectra"] = entry.pop("n_rows")
        entry["n_rows"] = stars["n_rows"]
        entry["colours_from"] = stars
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m yl8c4net.simulate.colours CSV OUT.json``: refit the shipped colour model."""
    import argparse
    import sys

    from yl8c4net.errors import YL8C4NetError

    ap = argparse.ArgumentParser(
        prog="python -m yl8c4net.simulate.colours",
        description="Fit the simulator's per-class colour model to a SkyServer table of model "
        "magnitudes with spectroscopic classes (columns u, g, r, i, z, class), the STAR colours "
        "optionally to a calibObj star sweep.",
    )
    ap.add_argument("csv", help="SkyServer CSV, e.g. ../shared/data/skyserver_dr14_specphoto_10k.csv")
    ap.add_argument("out", help="where to write the model JSON (the package ships data/colour_model.json)")
    ap.add_argument(
        "--star-sweep",
        help="calibObj star sweep for the STAR colours, e.g. "
        "../shared/data/sas/dr17/eboss/sweeps/dr13_final/301/calibObj-004510-4-star.fits.gz",
    )
    args = ap.parse_args(argv)
    try:
        model = fit_colour_model(args.csv, star_sweep=args.star_sweep)
    except (OSError, YL8C4NetError) as exc:
        print(f"ERROR {args.csv}: {exc}", file=sys.stderr)
        return 1
    Path(args.out).write_text(json.dumps(model, indent=1) + "\n")
    print(f"colour model of {sum(m['n_rows'] for m in model['classes'].values())} rows written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
