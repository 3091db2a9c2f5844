"""`yl8c4net region`: from a sky region to the config's runs/camcols/fields, offline from a
mirror's frame headers (the demo's geometry, the real fields of ../shared) and live from
SkyServer (a local server answering in SkyServer's CSV format, as the tests of the other
queries do)."""

import bz2
import io
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import SHARED_SAS, LocalHTTPServer, needs_shared, real_frame_path
from yl8c4net.cli import main as cli_main
from yl8c4net.errors import ConfigError
from yl8c4net.sdss.fields import FieldId, frame_relpath
from yl8c4net.sdss.queries import SkyServerBackend
from yl8c4net.sdss.region import SkyRegion, fields_in_region, region_fields_sql, runs_block

REPO = Path(__file__).resolve().parents[1]


def write_header_only_mirror(root: Path, config: dict) -> None:
    """The r frames of ``config``'s runs with exactly the simulator's WCS (`frame_wcs`), as
    header-only FITS files: what `yl8c4net region` reads of a mirror."""
    from astropy.io import fits

    from yl8c4net.simulate.survey import StripeGeometry, frame_wcs

    sim = config["simulate"]
    geometry = StripeGeometry(sim["ra0_deg"], sim["dec0_deg"])
    for r in config["runs"]:
        for camcol in r["camcols"]:
            for field in range(r["fields"][0], r["fields"][1] + 1):
                wcs = frame_wcs(geometry, r.get("strip", "N"), camcol, field, "r")
                path = root / Path(*frame_relpath(FieldId(r["run"], camcol, field), "r").parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                buffer = io.BytesIO()
                fits.PrimaryHDU(header=wcs.to_header()).writeto(buffer)
                path.write_bytes(bz2.compress(buffer.getvalue()))


def mirror_config(tmp_path: Path, root: Path) -> Path:
    path = tmp_path / "mirror.yaml"
    path.write_text(yaml.safe_dump({"sdss": {"catalog_source": "mirror", "mirror_root": str(root)}}))
    return path


def test_the_demos_mirror_gives_exactly_the_demos_fields_for_its_centre(
    tmp_path, monkeypatch, capsys, model_checkpoints
):
    demo = yaml.safe_load((REPO / "config.yaml").read_text())
    root = tmp_path / "mirror"
    write_header_only_mirror(root, demo)
    from yl8c4net.simulate.survey import StripeGeometry

    geometry = StripeGeometry(demo["simulate"]["ra0_deg"], demo["simulate"]["dec0_deg"])
    (run,) = demo["runs"]
    centres = [geometry.frame_centre("N", 3, f) for f in range(run["fields"][0], run["fields"][1] + 1)]
    ra, dec = np.mean(centres, axis=0)
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    args = ["region", "--ra", f"{ra:.6f}", "--dec", f"{dec:.6f}", "--radius", "15"]
    assert cli_main([*args, "--configfile", str(mirror_config(tmp_path, root))]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["runs"] == [{"run": 9101, "camcols": [3], "fields": [11, 14], "roles": ["catalog"]}]
    # Written as a config overlay, it passes the config check with the models it needs.
    assert cli_main([*args, "--configfile", str(mirror_config(tmp_path, root)), "--out", "region.yaml"]) == 0
    assert "4 fields in 1 runs" in capsys.readouterr().out
    models = {
        "detector": {"weights": "shipped"},
        "classifier": {"weights": str(model_checkpoints / "conv4net.pt")},
        "fusion": {"model": str(model_checkpoints / "fusion.joblib")},
    }
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(models))
    assert cli_main(["check-config", "--configfile", "region.yaml", "models.yaml"]) == 0
    assert capsys.readouterr().out.strip() == "config OK: 1 run(s), 4 fields"


def test_primary_fields_split_the_overlap_and_all_fields_share_it(tmp_path):
    demo = yaml.safe_load((REPO / "config.yaml").read_text())
    root = tmp_path / "mirror"
    write_header_only_mirror(root, demo)
    from yl8c4net.sdss.queries import MirrorCatalogBackend
    from yl8c4net.simulate.survey import StripeGeometry, frame_wcs

    # A point 20 rows into field 12's overlap with 13, on 12's side of the overlap's middle.
    wcs12 = frame_wcs(StripeGeometry(10.0, 0.0), "N", 3, 12, "r")
    ra, dec = wcs12.pixel_to_world_values(1000.0, 1361.0 + 20.0)
    region = SkyRegion.circle(float(ra), float(dec), 0.05)
    backend = MirrorCatalogBackend(root)
    primary = fields_in_region(backend, region)
    every = fields_in_region(backend, region, primary=False)
    assert primary["field"].tolist() == [12]
    assert every["field"].tolist() == [12, 13]
    # 60 rows into the overlap is past its middle (64 rows): field 13 owns it.
    ra, dec = wcs12.pixel_to_world_values(1000.0, 1361.0 + 100.0)
    assert fields_in_region(backend, SkyRegion.circle(float(ra), float(dec), 0.05))["field"].tolist() == [13]
    # A box over fields 11 and 12 only.
    ra11, _ = wcs12.pixel_to_world_values(1000.0, -500.0)
    box = SkyRegion.rectangle(float(ra11) - 0.01, float(ra) - 0.12, float(dec) - 0.05, float(dec) + 0.05)
    assert fields_in_region(backend, box)["field"].tolist() == [11, 12]


@needs_shared
def test_real_fields_of_the_shared_mirror_are_found_by_their_own_wcs(tmp_path, capsys):
    from astropy.io import fits
    from astropy.wcs import WCS

    from yl8c4net.sdss.queries import MirrorCatalogBackend

    header = fits.getheader(real_frame_path(4510, 4, 30, "r"), 0)
    ra, dec = WCS(header).pixel_to_world_values(1024.0, 744.0)
    backend = MirrorCatalogBackend(SHARED_SAS)
    found = fields_in_region(backend, SkyRegion.circle(float(ra), float(dec), 1.0))
    assert found[["run", "camcol", "field"]].values.tolist() == [[4510, 4, 30]]
    # A circle 1' off the frame's edge finds nothing; one that reaches 2' past it finds it.
    ra_edge, dec_edge = WCS(header).pixel_to_world_values(-150.0, 744.0)  # 59" beyond column 0
    assert fields_in_region(backend, SkyRegion.circle(float(ra_edge), float(dec_edge), 0.5)).empty
    assert len(fields_in_region(backend, SkyRegion.circle(float(ra_edge), float(dec_edge), 2.0))) == 1
    config = mirror_config(tmp_path, SHARED_SAS)
    assert cli_main(["region", "--ra", "0.5", "--dec", "-80", "--radius", "5", "--configfile", str(config)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ERROR no SDSS field covers 5 arcmin around RA 0.5, Dec -80 deg") and "\n" not in err


def test_skyserver_answer_becomes_the_runs_block_and_the_sql_is_sent_as_built():
    answer = b"#Table1\nrun,rerun,camcol,field\n94,301,1,12\n94,301,1,13\n94,301,2,12\n1035,301,6,17\n"

    def skyserver(method, path, query, body, headers):
        return 200, answer

    region = SkyRegion.circle(323.36, -0.78, 4.0)
    with LocalHTTPServer(skyserver) as srv:
        fields = fields_in_region(SkyServerBackend(base_url=srv.url), region)
    (_, path, query, _, _) = srv.requests[-1]
    assert path == "/dr17/en/tools/search/x_results.aspx"
    assert query["cmd"].strip() == region_fields_sql(region)  # astroquery's payload, as SkyServer gets it
    assert "dbo.fGetNearbyObjEq(323.3600000, -0.7800000, 4.000000)" in query["cmd"]
    assert "JOIN PhotoPrimary AS p" in query["cmd"]
    assert "PhotoObjAll" in region_fields_sql(region, primary=False)
    assert runs_block(fields) == (
        "runs:\n"
        "  - {run: 94, camcols: [1, 2], fields: [12, 13], roles: [catalog]}\n"
        "  - {run: 1035, camcols: [6], fields: [17, 17], roles: [catalog]}\n"
    )
    box = SkyRegion.rectangle(10.0, 10.5, -1.0, 1.0)
    assert "dbo.fGetObjFromRectEq(10.0000000, -1.0000000, 10.5000000, 1.0000000)" in region_fields_sql(box)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--ra", "10", "--dec", "0", "--radius", "0"], "--radius 0.0: must be in (0, 600] arcmin"),
        (["--ra", "370", "--dec", "0", "--radius", "5"], "--ra 370.0: must be in [0, 360) degrees"),
        (["--ra", "10", "--radius", "5"], "--ra: a circle needs --ra, --dec and --radius"),
        (["--box", "10", "9", "0", "1"], "--box [10.0, 9.0, 0.0, 1.0]: RA must satisfy"),
        (["--ra", "nan", "--dec", "0", "--radius", "5"], "--ra nan: not a finite number"),
    ],
)
def test_bad_regions_are_one_line_naming_the_option(argv, message, tmp_path, monkeypatch, capsys):
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert cli_main(["region", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ERROR {message}") and "\n" not in err
    with pytest.raises(ConfigError):
        SkyRegion.circle(10, 95, 5)
