"""A run's field index: which camcol/field pairs the run has, cached as a small CSV per run
(``{index_dir}/{run}.csv``) so that building the workflow's DAG never needs the network.

The index comes from the SkyServer / CasJobs Field table or from a mirror's listing of its
r frames (`yl8c4net.sdss.queries.CatalogBackend.fields_of_run`); ``yl8c4net field-index``
writes it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from yl8c4net.io import atomic_output
from yl8c4net.errors import CatalogValidationError, ConfigError
from yl8c4net.sdss.queries import FIELD_DTYPES, validate_table
from yl8c4net.sdss.fields import FieldId


def field_index_path(index_dir: str | Path, run: int) -> Path:
    return Path(index_dir) / f"{int(run)}.csv"


def write_field_index(backend, run: int, rerun: int, index_dir: str | Path) -> Path:
    """Ask ``backend`` for the run's fields and cache them (sorted, written atomically)."""
    table = backend.fields_of_run(run, rerun).sort_values(["camcol", "field"]).drop_duplicates()
    path = field_index_path(index_dir, run)
    with atomic_output(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def read_field_index(path: str | Path, run: int, rerun: int) -> pd.DataFrame:
    """A cached field index, checked: the four integer columns, and only this run/rerun."""
    path = Path(path)
    try:
        raw = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise CatalogValidationError(f"{path}: not a readable field index ({exc})") from None
    table = validate_table(raw, FIELD_DTYPES, str(path))
    wrong = table[(table["run"] != run) | (table["rerun"] != rerun)]
    if len(wrong):
        raise CatalogValidationError(
            f"{path}: row {wrong.index[0]} is run {wrong['run'].iloc[0]} rerun "
            f"{wrong['rerun'].iloc[0]}, not run {run} rerun {rerun}"
        )
    if not table["camcol"].between(1, 6).all():
        raise CatalogValidationError(f"{path}: camcol outside 1..6")
    return table


def indexed_fields(index_dir: str | Path, run: int, rerun: int, camcols) -> list[FieldId]:
    """The fields of ``run`` in ``camcols`` according to its cached index."""
    path = field_index_path(index_dir, run)
    if not path.is_file():
        raise ConfigError(
            f"runs: run {run} lists no fields and its field index {path} does not exist "
            "(build it with `yl8c4net field-index`, or give the run a fields range)"
        )
    table = read_field_index(path, run, rerun)
    table = table[table["camcol"].isin(list(camcols))]
    if table.empty:
        raise ConfigError(f"runs: run {run}: its field index {path} has no field in camcols {sorted(camcols)}")
    return [FieldId(run, int(c), int(f), rerun) for c, f in table[["camcol", "field"]].itertuples(index=False)]
