"""The morphology check of the report (rule morphology_check): a real frame's sources against
the simulator's at the same seeing and sky."""

import json
import logging

import numpy as np
import pandas as pd
from conftest import SHARED_SAS, needs_shared

from yl8c4net.report.morphology import RESOLVED_DC_MAG, check_fields, morphology_by_r, spread_fields
from yl8c4net.sdss.fields import FieldId


def test_spread_fields_picks_the_middles_of_equal_stretches_then_the_rest_in_order():
    fields = list(range(10, 20))
    assert spread_fields(fields, 2) == [12, 17, 10, 11, 13, 14, 15, 16, 18, 19]
    assert spread_fields(fields, 1)[0] == 15
    assert spread_fields([5], 3) == [5]
    assert spread_fields(fields, 0) == [] and spread_fields([], 2) == []
    assert sorted(spread_fields(fields, 20)) == fields


def test_morphology_by_r_counts_resolved_sources_per_bin():
    table = pd.DataFrame({"r": [16.5, 17.0, 18.0, 19.5, 19.6, 23.0], "dc": [0.0, 0.5, 0.3, 0.02, np.nan, 1.0]})
    rows = {b["r"]: b for b in morphology_by_r(table)}
    assert rows["16-19"] == {"r": "16-19", "n": 3, "resolved_share": 2 / 3, "resolved_median_dc": 0.4}
    assert rows["19-20"]["n"] == 2 and rows["19-20"]["resolved_share"] == 0.0
    assert rows["19-20"]["resolved_median_dc"] is None
    assert rows["21-22.2"] == {"r": "21-22.2", "n": 0, "resolved_share": None, "resolved_median_dc": None}
    assert RESOLVED_DC_MAG == 0.1


@needs_shared
def test_a_real_field_is_checked_against_the_simulator_at_its_seeing_and_bad_fields_are_passed_over(tmp_path):
    """On the real 3918/3/213 (the simulator's galaxy sizes were calibrated on the ordinary
    shared fields): the simulated frame reaches the real stellar locus, and the shares of
    resolved sources agree where Conv4Net's errors were (r 19-22.2). A quarantined field and one
    without an r frame come first in the run's order and are passed over, with their reasons."""
    from yl8c4net.config import simulated_galaxy_population
    from yl8c4net.io import write_json_atomic
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.source import MirrorSource

    real = FieldId(3918, 3, 213)
    manifest = fetch_field(real, MirrorSource(SHARED_SAS), "r", tmp_path / "real")
    manifests = {real: write_json_atomic(manifest, tmp_path / "real" / "manifest.json")}
    lean, quarantined = FieldId(3918, 3, 211), FieldId(3918, 3, 212)
    manifests[lean] = write_json_atomic({"status": "ok", "frames": {}}, tmp_path / "lean.json")
    status = {quarantined: "fetch: truncated bz2", lean: None, real: None}
    assert spread_fields(sorted(status), 1)[:2] == [quarantined, lean]  # both tried before the real one

    checks, passed_over = check_fields(
        status, manifests.get, 1, simulated_galaxy_population({}), logging.getLogger("test")
    )
    assert passed_over == {"3918/3/212": "quarantined (fetch: truncated bz2)", "3918/3/211": "no r frame fetched"}
    check = checks["3918/3/213"]
    assert abs(check.simulated_locus_mag - check.locus_mag) < 0.02
    assert 0.6 < check.seeing_arcsec < 1.6
    record = json.loads(json.dumps(check.record()))  # JSON-ready
    for side in ("real", "simulated"):
        assert sum(b["n"] for b in record[side]) > 300, side
    faint = {side: getattr(check, side).query("19 <= r < 22.2") for side in ("real", "simulated")}
    shares = {side: float((t["dc"] > RESOLVED_DC_MAG).mean()) for side, t in faint.items()}
    assert 0.5 < shares["real"] < 0.95 and abs(shares["real"] - shares["simulated"]) < 0.12, shares
    medians = {side: float(t.loc[t["dc"] > RESOLVED_DC_MAG, "dc"].median()) for side, t in faint.items()}
    assert abs(medians["real"] - medians["simulated"]) < 0.1, medians
