import copy
from pathlib import Path

import pytest
import yaml

from yl8c4net.config import field_ids, load_config, schema_default, validate_config
from yl8c4net.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def test_default_config_is_valid_and_gets_defaults():
    cfg = load_config(REPO / "config.yaml", SCHEMA)
    assert cfg["sdss"]["download"]["retries"] == 5
    assert cfg["runs"][0]["strip"] == "N"
    fids = field_ids(cfg)
    assert [(f.run, f.camcol, f.field) for f in fids][:2] == [(9101, 3, 11), (9101, 3, 12)]


def test_schema_default_is_what_a_run_without_the_key_gets():
    """Benchmarks measure the detector at schema_default("detector", "conf"): the value a
    config that leaves the key out is filled with, and the one config.yaml states."""
    cfg = copy.deepcopy(DEFAULT)
    del cfg["detector"]["conf"]
    filled = validate_config(cfg, SCHEMA, source="config.yaml")
    assert filled["detector"]["conf"] == schema_default("detector", "conf") == DEFAULT["detector"]["conf"]


def _bad(mutate):
    cfg = copy.deepcopy(DEFAULT)
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA, source="config.yaml")
    assert "\n" not in str(err.value)
    return str(err.value)


def test_unknown_key_is_named():
    msg = _bad(lambda c: c["sdss"].update(frame_sorce="mirror"))
    assert msg.startswith("config.yaml: sdss: unknown key(s)") and "frame_sorce" in msg


def test_bad_value_is_named():
    assert _bad(lambda c: c["runs"][0].update(camcols=[7])).startswith("config.yaml: runs.0.camcols.0: 7 is greater")
    assert "sdss.frame_source" in _bad(lambda c: c["sdss"].update(frame_source="ftp"))


def test_cross_key_rules():
    assert "sdss.bands: must include r with this config (missing r)" in _bad(
        lambda c: c["sdss"].update(bands=["u", "g"])
    )
    no_jpeg = _bad(lambda c: (c["sdss"].update(bands=["u", "r"]), c["training_data"].update(use_official_jpeg=False)))
    assert "sdss.bands: must include g, r, i with this config (missing g, i), or be auto" in no_jpeg
    assert "simulate.enabled" in _bad(lambda c: c["sdss"].update(frame_source="sas"))
    assert "first field 14 > last 11" in _bad(lambda c: c["runs"][0].update(fields=[14, 11]))
    assert "fusion.model: nowhere.joblib does not exist" in _bad(lambda c: c["fusion"].update(model="nowhere.joblib"))
    onnx_on_gpu = _bad(lambda c: c["detector"].update(runtime="onnx", device="cuda"))
    assert onnx_on_gpu == "config.yaml: detector.runtime: onnx runs on the CPU; set detector.device to auto or cpu"
    no_mirror = _bad(lambda c: c["real_pixels"].update(fields=["1035/6/17"], mirror_root="/nowhere"))
    assert no_mirror == "config.yaml: real_pixels.mirror_root: /nowhere is not a directory"
    fixed_fusion = _bad(
        lambda c: (
            c["real_pixels"].update(fields=["1035/6/17"], mirror_root=str(REPO)),
            c["fusion"].update(model=str(REPO / "config.yaml")),
        )
    )
    assert "real_pixels.fields: the classifier it fine-tunes needs its own fusion" in fixed_fusion
    assert "real_pixels.fields.0: '1035/7/17' does not match" in _bad(
        lambda c: c["real_pixels"].update(fields=["1035/7/17"], mirror_root=str(REPO))
    )


def test_unreadable_yaml_is_one_line(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("runs: [\n  - run: 1\n sdss: {")
    with pytest.raises(ConfigError, match=r"c.yaml: line 2, column 3: is not valid YAML \(.+\)") as err:
        load_config(bad, SCHEMA)
    assert "\n" not in str(err.value)


def test_infinite_or_huge_values_are_refused():
    """A backoff of .inf (float('inf') in YAML) passed the schema and overflowed the sleep."""
    assert "sdss.download.backoff_s" in _bad(lambda c: c["sdss"]["download"].__setitem__("backoff_s", float("inf")))
    assert "sdss.download.timeout_s" in _bad(lambda c: c["sdss"]["download"].__setitem__("timeout_s", 1e9))


def test_later_config_files_override_earlier_ones_key_by_key(tmp_path):
    partial = tmp_path / "partial.yaml"
    partial.write_text("runs:\n  - {run: 9102, camcols: [2], fields: [5, 6]}\ndetector: {conf: 0.1}\n")
    cfg = load_config([REPO / "config.yaml", partial], SCHEMA)
    assert [(f.run, f.camcol, f.field) for f in field_ids(cfg)] == [(9102, 2, 5), (9102, 2, 6)]
    assert cfg["detector"]["conf"] == 0.1 and cfg["detector"]["epochs"] == DEFAULT["detector"]["epochs"]
    with pytest.raises(ConfigError, match=r"partial.yaml: \(top level\): 'sdss' is a required property"):
        load_config(partial, SCHEMA)  # alone, the partial file is not a config


def test_keys_the_code_cannot_honour_are_refused():
    """cutout_px: Conv4Net is built for 48 x 48; data_release: SAS layouts known for DR12-17."""
    assert "classify_data.cutout_px" in _bad(lambda c: c["classify_data"].__setitem__("cutout_px", 64))
    assert "sdss.data_release" in _bad(lambda c: c["sdss"].__setitem__("data_release", 18))


def test_data_release_selects_the_sas_layout(tmp_path):
    """The release changes where frames are fetched from: a mirror laid out as DR16 serves a
    DR16 config and not a DR17 one."""
    from conftest import SHARED_SAS, needs_shared  # noqa: F401

    from yl8c4net.errors import DownloadError
    from yl8c4net.sdss.fetch import fetch_field
    from yl8c4net.sdss.fields import FieldId, frame_relpath, frame_url
    from yl8c4net.sdss.source import MirrorSource

    fid = FieldId(4510, 4, 30)
    assert str(frame_relpath(fid, "r", 12)).startswith("dr12/boss/photoObj/frames/301/4510/4/")
    assert str(frame_relpath(fid, "r", 16)).startswith("dr16/eboss/photoObj/frames/301/4510/4/")
    assert frame_url(fid, "r", data_release=17) == (
        "https://data.sdss.org/sas/dr17/eboss/photoObj/frames/301/4510/4/frame-r-004510-4-0030.fits.bz2"
    )
    if not SHARED_SAS.is_dir():
        pytest.skip(f"real SDSS test data not found at {SHARED_SAS}")
    mirror = tmp_path / "mirror"
    for band in "gri":
        dest = mirror / Path(*frame_relpath(fid, band, 16).parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(SHARED_SAS / Path(*frame_relpath(fid, band, 17).parts))
    manifest = fetch_field(fid, MirrorSource(mirror), "gri", tmp_path / "dr16", data_release=16)
    assert manifest["status"] == "ok" and set(manifest["frames"]) == set("gri")
    with pytest.raises(DownloadError, match="dr17/eboss/photoObj/frames/301/4510/4/frame-g-004510-4-0030"):
        fetch_field(fid, MirrorSource(mirror), "gri", tmp_path / "dr17", data_release=17)


def test_shipped_detector_is_resolved_to_the_package_file_and_checked():
    from yl8c4net.pipeline.model_files import shipped_detector

    cfg = copy.deepcopy(DEFAULT)
    cfg["detector"].update(weights="shipped", init_weights="shipped")
    out = validate_config(cfg, SCHEMA, source="config.yaml")
    assert out["detector"]["weights"] == out["detector"]["init_weights"] == str(shipped_detector())
    assert shipped_detector().stat().st_size < 10 * 2**20  # one file of at most ~10 MB
    assert (shipped_detector().parent / "detector-card.md").is_file()


def test_shipped_classifier_and_fusion_are_a_pair_with_their_cards():
    from yl8c4net.classify.fusion import load_fusion
    from yl8c4net.io import sha256_of
    from yl8c4net.pipeline.model_files import shipped_model

    cfg = copy.deepcopy(DEFAULT)
    cfg["classifier"]["weights"] = "shipped"
    cfg["fusion"]["model"] = "shipped"
    out = validate_config(cfg, SCHEMA, source="config.yaml")
    assert out["classifier"]["weights"] == str(shipped_model("classifier"))
    assert out["fusion"]["model"] == str(shipped_model("fusion"))
    for kind in ("classifier", "fusion"):
        path = shipped_model(kind)
        assert path.stat().st_size < 10 * 2**20  # one file of at most ~10 MB
        card = (path.parent / f"{kind}-card.md").read_text()
        assert sha256_of(path) in card  # the card names the file it describes
    # The fusion was fitted with this classifier, and carries the image's reference scale.
    fusion = load_fusion(shipped_model("fusion"))
    assert fusion.info["classifier_sha256"] == sha256_of(shipped_model("classifier"))
    assert fusion.image_type_scale > 0
    # The shipped fusion without the shipped classifier is refused, naming the key.
    cfg["classifier"]["weights"] = None
    with pytest.raises(ConfigError, match="fusion.model: the shipped fusion was fitted with the shipped classifier"):
        validate_config(cfg, SCHEMA, source="config.yaml")


def test_init_weights_that_are_not_a_detector_are_named(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    msg = _bad(lambda c: c["detector"].update(init_weights=str(junk)))
    assert msg.startswith("config.yaml: detector.init_weights:") and "junk.pt" in msg


def test_auto_bands_are_what_the_stages_read():
    """Issue 16: the demo's catalogue reads the irg JPEG and the r frame only."""
    assert validate_config(copy.deepcopy(DEFAULT), SCHEMA)["sdss"]["bands"] == ["r"]
    cfg = copy.deepcopy(DEFAULT)
    cfg["training_data"].update(use_official_jpeg=False, extra_bands=["z", "u"])
    assert validate_config(cfg, SCHEMA)["sdss"]["bands"] == ["u", "g", "r", "i", "z"]


def test_lean_mode_refuses_settings_that_read_fits_frames():
    def lean(**td):
        return lambda c: (c["sdss"].update(lean=True), c["training_data"].update(**td))

    assert _bad(lean(use_official_jpeg=False)) == (
        "config.yaml: sdss.lean: fetches no FITS frame, but training_data.use_official_jpeg needs them; change one of the two"
    )
    assert "training_data.extra_bands needs them" in _bad(lean(extra_bands=["u"]))
    cfg = copy.deepcopy(DEFAULT)
    cfg["sdss"]["lean"] = True
    assert validate_config(cfg, SCHEMA)["sdss"]["bands"] == []


def test_galaxy_sizes_reach_the_simulator_the_cutouts_and_the_photometry():
    import numpy as np

    from yl8c4net.config import simulated_galaxy_population, load_config, sim_config
    from yl8c4net.simulate.population import galaxy_half_light_radius

    cfg = load_config(REPO / "config.yaml")
    cfg["simulate"]["galaxy_sizes"] = {"hlr_at_r19_arcsec": 3.0, "dex_per_mag": -0.1, "scatter_dex": 0.0}
    for params in (sim_config(cfg).population, simulated_galaxy_population(cfg)):
        radii = galaxy_half_light_radius(np.random.default_rng(0), np.array([19.0, 21.0]), params)
        assert np.allclose(radii, [3.0, 3.0 * 10**-0.2])


def test_the_seeing_range_reaches_the_frames_the_cutouts_and_the_photometry():
    from yl8c4net.config import load_config, sim_config, simulated_seeing_range
    from yl8c4net.simulate.cutout_set import render_cutout_set
    from yl8c4net.simulate.photometry import photometry_training_table

    cfg = load_config(REPO / "config.yaml")
    cfg["simulate"]["seeing_range_arcsec"] = [1.7, 1.8]
    assert sim_config(cfg).seeing_range_arcsec == (1.7, 1.8)
    # The fusion's simulated photometry follows the simulator unless it is given its own.
    assert simulated_seeing_range(cfg, "fusion") == (1.7, 1.8)
    cfg["fusion"]["seeing_range_arcsec"] = [0.7, 0.75]
    assert simulated_seeing_range(cfg, "fusion") == (0.7, 0.75)
    _, table = render_cutout_set(3, 2, fwhm_range=simulated_seeing_range(cfg))
    assert table["fwhm_r"].between(1.7, 1.8).all()
    # The same simulated galaxies lose less light to the PSF magnitude in sharper seeing.
    sharp, broad = (photometry_training_table(1, 300, fwhm_range=fw) for fw in ((0.7, 0.75), (1.7, 1.8)))

    def galaxy_concentration(t):
        g = t[t["class"] == "GALAXY"]
        return (g["psfmag_r"] - g["r"]).median()

    assert galaxy_concentration(sharp) > galaxy_concentration(broad) + 0.2


def test_galaxy_colours_redden_with_r_in_the_simulator_the_cutouts_and_the_photometry():
    import numpy as np

    from yl8c4net.config import simulated_galaxy_population, load_config, sim_config
    from yl8c4net.simulate.photometry import photometry_training_table
    from yl8c4net.simulate.population import redden_galaxy_mags

    cfg = load_config(REPO / "config.yaml")
    cfg["simulate"]["galaxy_colours"] = {"g_r": 0.5, "r_i": 0.2, "r_start": 18.0, "r_full": 20.0}
    mags = np.array([[18.4, 17.4, 17.0, 16.6, 16.4], [21.4, 20.4, 20.0, 19.6, 19.4], [23.4, 22.4, 22.0, 21.6, 21.4]])
    for params in (sim_config(cfg).population, simulated_galaxy_population(cfg)):
        out = redden_galaxy_mags(mags, params)
        assert np.array_equal(out[:, 2], mags[:, 2])  # r is kept
        # No shift at r_start, the full one from r_full on; u - g and i - z kept.
        np.testing.assert_allclose((out[:, 1] - out[:, 2]) - (mags[:, 1] - mags[:, 2]), [0.0, 0.5, 0.5])
        np.testing.assert_allclose((out[:, 2] - out[:, 3]) - (mags[:, 2] - mags[:, 3]), [0.0, 0.2, 0.2])
        np.testing.assert_allclose(out[:, 0] - out[:, 1], mags[:, 0] - mags[:, 1])
        np.testing.assert_allclose(out[:, 3] - out[:, 4], mags[:, 3] - mags[:, 4])
    # The simulated photometry's faint galaxies are redder by the shift, its stars are not.
    cfg["simulate"]["galaxy_colours"]["g_r"] = 0.0
    plain = photometry_training_table(2, 400, r_range=(20.5, 21.0), params=simulated_galaxy_population(cfg))
    cfg["simulate"]["galaxy_colours"]["g_r"] = 0.5
    red = photometry_training_table(2, 400, r_range=(20.5, 21.0), params=simulated_galaxy_population(cfg))

    def median_g_r(t, cls):
        return (t["g"] - t["r"])[t["class"] == cls].median()

    assert median_g_r(red, "GALAXY") - median_g_r(plain, "GALAXY") == pytest.approx(0.5, abs=0.1)
    assert median_g_r(red, "STAR") == pytest.approx(median_g_r(plain, "STAR"), abs=0.05)


def test_real_pixel_fields_without_a_mirror_must_be_fetched_by_the_runs():
    """Without real_pixels.mirror_root the fine-tuning reads the runs' own fetched fields."""
    from yl8c4net.config import check_real_pixel_fields, field_ids

    cfg = validate_config(yaml.safe_load((REPO / "config.yaml").read_text()), SCHEMA, source="config.yaml")
    cfg["real_pixels"]["fields"] = ["9101/3/12", "9101/3/014"]
    check_real_pixel_fields(cfg, field_ids(cfg))  # the demo's fields 11-14: fine
    cfg["real_pixels"]["fields"] = ["9101/3/12", "1035/6/17"]
    with pytest.raises(ConfigError) as err:
        check_real_pixel_fields(cfg, field_ids(cfg), "config.yaml")
    assert str(err.value) == (
        "config.yaml: real_pixels.fields: 1035/6/17 is not a field of the config's runs; "
        "list it in runs or set real_pixels.mirror_root"
    )
    cfg["real_pixels"]["mirror_root"] = str(REPO)  # a mirror holds them: no check
    check_real_pixel_fields(cfg, field_ids(cfg))
    cfg["real_pixels"]["mirror_root"] = None
    cfg["real_pixels"]["fields"] = ["9101/3/12"]
    cfg["sdss"]["lean"] = True
    with pytest.raises(ConfigError, match="real_pixels.fields: sdss.lean fetches no r frame"):
        check_real_pixel_fields(cfg, field_ids(cfg))
