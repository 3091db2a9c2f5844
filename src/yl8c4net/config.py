"""Loading and validating the workflow configuration.

The schema lives in ``workflow/schemas/config.schema.yaml``; `validate_config` checks a
config dict against it, fills defaults, applies the cross-key rules a schema cannot express,
and raises `ConfigError` with one line that names the bad key.
"""

from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path

import yaml

from yl8c4net.images.composite import LuptonStretch
from yl8c4net.errors import ConfigError
from yl8c4net.sdss.fields import FieldId, field_triple

#: The config schema ships inside the package (workflow/schemas/ links to it), so a
#: non-editable install validates configs too.
DEFAULT_SCHEMA = resources.files("yl8c4net") / "schemas" / "config.schema.yaml"


def _key_path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def _fill_defaults(schema: dict, instance) -> None:
    if not isinstance(instance, dict) or schema.get("type") != "object":
        if isinstance(instance, list) and isinstance(schema.get("items"), dict):
            for item in instance:
                _fill_defaults(schema["items"], item)
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(sub, instance[key])


def load_schema(schema_path: str | Path | None = None) -> dict:
    path = Path(schema_path) if schema_path else DEFAULT_SCHEMA
    return yaml.safe_load(path.read_text())


def schema_default(section: str, key: str):
    """The schema's default of ``section.key`` (e.g. ``detector``, ``conf``): what a run uses
    when no config file sets it, and what benchmarks use to measure as the workflow runs."""
    return load_schema()["properties"][section]["properties"][key]["default"]


def validate_config(config: dict, schema_path: str | Path | None = None, source: str = "config") -> dict:
    """Validate ``config``; return a copy with defaults filled in.

    Raises
    ------
    ConfigError
        ``"{source}: {key.path}: {problem}"`` for the first problem found.
    """
    import jsonschema

    schema = load_schema(schema_path)
    cfg = copy.deepcopy(config)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        err = errors[0]
        msg = err.message
        if err.validator == "additionalProperties":
            msg = msg.replace("Additional properties are not allowed", "unknown key(s)")
        raise ConfigError(f"{source}: {_key_path(err)}: {msg}")
    _fill_defaults(schema, cfg)
    _check_cross_keys(cfg, source)
    return cfg


def _check_cross_keys(cfg: dict, source: str) -> None:
    sdss = cfg["sdss"]
    td = cfg["training_data"]
    if sdss["bands"] != "auto":
        # A listed set is fetched as listed: say what is missing rather than add it quietly.
        needed = {"r", *td["extra_bands"], *(() if td["use_official_jpeg"] else ("g", "i"))}
        missing_bands = needed - set(sdss["bands"])
        if missing_bands:
            raise ConfigError(
                f"{source}: sdss.bands: must include {', '.join(b for b in 'ugriz' if b in needed)} with this "
                f"config (missing {', '.join(b for b in 'ugriz' if b in missing_bands)}), or be auto"
            )
    if sdss["lean"]:
        reads_frames = {
            "training_data.use_official_jpeg": not td["use_official_jpeg"],
            "training_data.extra_bands": bool(td["extra_bands"]),
            "detector.bright_complement.enabled": cfg["detector"]["bright_complement"]["enabled"],
            "sdss.bands": sdss["bands"] != "auto",
        }
        for key, conflict in reads_frames.items():
            if conflict:
                raise ConfigError(
                    f"{source}: sdss.lean: fetches no FITS frame, but {key} needs them; change one of the two"
                )
    from yl8c4net.sdss.fetch import frame_bands

    sdss["bands"] = list(frame_bands(sdss["bands"], td["use_official_jpeg"], td["extra_bands"], sdss["lean"]))
    uses_mirror = sdss["frame_source"] == "mirror" or sdss["catalog_source"] == "mirror"
    if uses_mirror and not sdss.get("mirror_root"):
        raise ConfigError(f"{source}: sdss.mirror_root: required when a source is 'mirror'")
    if cfg["simulate"]["enabled"] and (sdss["frame_source"], sdss["catalog_source"]) != ("mirror", "mirror"):
        raise ConfigError(f"{source}: simulate.enabled: needs sdss.frame_source and sdss.catalog_source 'mirror'")
    try:
        from yl8c4net.images.labels import BoxTable

        BoxTable.from_config(cfg["training_data"]["box_table"])
    except ValueError as exc:
        raise ConfigError(f"{source}: training_data.box_table: {str(exc).removeprefix('box table: ')}") from None
    fractions = cfg["classify_data"]["fractions"]
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"{source}: classify_data.fractions: must sum to 1 (got {sum(fractions):g})")
    for section in ("detector", "classifier"):
        if cfg[section]["runtime"] == "onnx" and cfg[section]["device"] == "cuda":
            raise ConfigError(f"{source}: {section}.runtime: onnx runs on the CPU; set {section}.device to auto or cpu")
    from yl8c4net.pipeline.model_files import SHIPPED, check_detector_weights, resolve_shipped

    if cfg["fusion"]["enabled"] and cfg["fusion"]["model"] == SHIPPED and cfg["classifier"]["weights"] != SHIPPED:
        raise ConfigError(
            f"{source}: fusion.model: the shipped fusion was fitted with the shipped classifier;"
            " set classifier.weights: shipped, or train the fusion (fusion.model: null)"
        )
    for section, key, kind in (
        ("detector", "weights", "detector"),
        ("detector", "init_weights", "detector"),
        ("classifier", "weights", "classifier"),
        ("fusion", "model", "fusion"),
    ):
        try:
            cfg[section][key] = resolve_shipped(cfg[section][key], kind)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {section}.{key}: {exc}") from None
    if cfg["detector"]["init_weights"]:
        try:
            check_detector_weights(cfg["detector"]["init_weights"])
        except ConfigError as exc:
            raise ConfigError(f"{source}: {str(exc).replace('detector.weights', 'detector.init_weights')}") from None
    # A model given as weights needs no training data: a catalogue-only config lists
    # only runs with the role 'catalog'.
    needed = {"catalog": None, "detect_train": "detector", "classify_train": "classifier"}
    for role, model in needed.items():
        if model is not None and cfg[model]["weights"]:
            _check_weights(cfg, model, source)
            continue
        if not any(role in r["roles"] for r in cfg["runs"]):
            hint = f" (or set {model}.weights to a trained model)" if model else ""
            raise ConfigError(f"{source}: runs: no run has the role {role!r}{hint}")
    real = cfg["real_pixels"]
    if real["fields"]:
        if real["mirror_root"] and not Path(real["mirror_root"]).is_dir():
            raise ConfigError(f"{source}: real_pixels.mirror_root: {real['mirror_root']} is not a directory")
        if not any("classify_train" in r["roles"] for r in cfg["runs"]):
            raise ConfigError(
                f"{source}: real_pixels.fields: fine-tuning keeps the simulated cut-outs in every epoch,"
                " so a run needs the role 'classify_train'"
            )
        if cfg["fusion"]["enabled"] and cfg["fusion"]["model"]:
            raise ConfigError(
                f"{source}: real_pixels.fields: the classifier it fine-tunes needs its own fusion;"
                " set fusion.model: null (the run fits it) or empty real_pixels.fields"
            )
    fusion = cfg["fusion"]
    if fusion["enabled"] and fusion["model"]:
        if not Path(fusion["model"]).is_file():
            raise ConfigError(f"{source}: fusion.model: {fusion['model']} does not exist")
    elif fusion["enabled"] and not any("classify_train" in r["roles"] for r in cfg["runs"]):
        raise ConfigError(
            f"{source}: fusion.model: needed when no run has the role 'classify_train' (the fusion "
            "is fitted on the classifier's validation cut-outs), or set fusion.enabled: false"
        )
    seen = set()
    for k, r in enumerate(cfg["runs"]):
        if r["run"] in seen:
            raise ConfigError(f"{source}: runs.{k}.run: run {r['run']} is listed twice")
        seen.add(r["run"])
        if "fields" not in r and cfg["simulate"]["enabled"]:
            raise ConfigError(f"{source}: runs.{k}.fields: a simulated run needs a fields range (nothing to index)")
        if "fields" in r and r["fields"][0] > r["fields"][1]:
            raise ConfigError(f"{source}: runs.{k}.fields: first field {r['fields'][0]} > last {r['fields'][1]}")


def _check_weights(cfg: dict, model: str, source: str) -> None:
    """A model file given in the config is complete and of the right kind (at planning)."""
    from yl8c4net.pipeline.model_files import check_classifier_weights, check_detector_weights
    from yl8c4net.sdss.queries import SPEC_CLASSES

    weights = cfg[model]["weights"]
    try:
        if model == "detector":
            check_detector_weights(weights)
        else:
            check_classifier_weights(weights, SPEC_CLASSES, 3 + len(cfg["training_data"]["extra_bands"]))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def read_yaml_mapping(path: str | Path) -> dict:
    """A YAML file whose top level is a mapping; errors name the file, line and column."""
    path = Path(path)
    try:
        with open(path) as fh:
            raw = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file does not exist") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or "parse error"
        raise ConfigError(f"{path}:{where} is not valid YAML ({problem})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys")
    return raw


def merge_configs(base: dict, overlay: dict) -> dict:
    """``overlay`` on top of ``base``, mappings merged key by key, anything else replaced
    (Snakemake's rule for ``--configfile`` files on top of the Snakefile's config)."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_configs(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(paths: str | Path | list, schema_path: str | Path | None = None) -> dict:
    """Read one YAML config file, or several merged in order (later files override keys of
    earlier ones, as Snakemake's ``--configfile`` over ``config.yaml``), and validate the
    result (see `validate_config`)."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    raw: dict = {}
    for path in paths:
        raw = merge_configs(raw, read_yaml_mapping(path))
    return validate_config(raw, schema_path, source=" + ".join(str(p) for p in paths))


def field_ids(cfg: dict) -> list[FieldId]:
    """Every field the config asks for, in run / camcol / field order: a run's ``fields``
    range, or, where it has none, the fields of its cached field index."""
    from yl8c4net.sdss.field_index import indexed_fields

    rerun = cfg["sdss"]["rerun"]
    out = []
    for r in cfg["runs"]:
        if "fields" in r:
            out += [
                FieldId(r["run"], c, f, rerun)
                for c in sorted(r["camcols"])
                for f in range(r["fields"][0], r["fields"][1] + 1)
            ]
        else:
            out += indexed_fields(cfg["sdss"]["field_index_dir"], r["run"], rerun, r["camcols"])
    return out


def check_real_pixel_fields(cfg: dict, run_fields, source: str = "config") -> None:
    """Without ``real_pixels.mirror_root`` the weak labels come from the workflow's own
    fetched fields: each of ``real_pixels.fields`` must be one of the runs' fields
    (``run_fields``: `~yl8c4net.sdss.fields.FieldId`), fetched with its r frame (not
    ``sdss.lean``). Raises `ConfigError` with one line naming the field or key."""
    section = cfg.get("real_pixels", {})
    if section.get("mirror_root") or not section.get("fields"):
        return
    if cfg["sdss"]["lean"]:
        raise ConfigError(
            f"{source}: real_pixels.fields: sdss.lean fetches no r frame to label sources on; "
            "set sdss.lean false or real_pixels.mirror_root"
        )
    known = {(f.run, f.camcol, f.field) for f in run_fields}
    for name in section["fields"]:
        if field_triple(name) not in known:
            raise ConfigError(
                f"{source}: real_pixels.fields: {name} is not a field of the config's runs; "
                "list it in runs or set real_pixels.mirror_root"
            )


def lupton_stretch(cfg: dict) -> LuptonStretch:
    c = cfg["composite"]
    return LuptonStretch(
        tuple(c["scales"]), c["q"], c["stretch"], c["minimum"], c["clip_negative"], c["saturation_nmgy"]
    )


def simulated_galaxy_population(cfg: dict):
    """The simulator's default `~yl8c4net.simulate.population.PopulationParams` with the
    galaxy sizes of ``simulate.galaxy_sizes`` and colours of ``simulate.galaxy_colours`` (for
    the rendered cut-outs and the simulated photometry, which take no sky densities from the
    config)."""
    from yl8c4net.simulate.population import PopulationParams, with_galaxy_colours, with_galaxy_sizes

    sim = cfg.get("simulate", {})
    return with_galaxy_colours(
        with_galaxy_sizes(PopulationParams(), sim.get("galaxy_sizes", {})), sim.get("galaxy_colours", {})
    )


def simulated_seeing_range(cfg: dict, section: str = "simulate") -> tuple[float, float]:
    """The r-band FWHM range (arcsec) a simulated product is drawn with: ``section``'s
    ``seeing_range_arcsec`` where it is set, else ``simulate.seeing_range_arcsec``, else the
    simulator's default."""
    from yl8c4net.simulate.render import SEEING_RANGE_ARCSEC

    for part in (section, "simulate"):
        value = cfg.get(part, {}).get("seeing_range_arcsec")
        if value is not None:
            return (float(value[0]), float(value[1]))
    return SEEING_RANGE_ARCSEC


def sim_config(cfg: dict):
    """The simulator's `~yl8c4net.simulate.mirror.SimConfig` for this config's runs."""
    from yl8c4net.simulate.mirror import SimConfig

    from dataclasses import replace

    sim = dict(cfg["simulate"])
    sim["runs"] = cfg["runs"]
    parsed = SimConfig.from_dict(sim, stretch=lupton_stretch(cfg))
    return replace(parsed, data_release=cfg["sdss"].get("data_release", 17))


def config_hash(cfg: dict) -> str:
    """Stable short hash of a config (for provenance)."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]


def frame_source(cfg: dict):
    """The frame backend (`~yl8c4net.sdss.source.FileSource`) the config names."""
    from yl8c4net.sdss.source import make_source

    s = cfg["sdss"]
    d = s.get("download", {})
    return make_source(
        s["frame_source"],
        mirror_root=s.get("mirror_root"),
        base_url=s["sas_base_url"],
        retries=d.get("retries", 5),
        backoff_s=d.get("backoff_s", 2.0),
        timeout_s=d.get("timeout_s", 60),
    )


def catalog_backend(cfg: dict):
    """The catalogue backend (`~yl8c4net.sdss.queries.CatalogBackend`) the config names."""
    from yl8c4net.sdss.http import RetryPolicy
    from yl8c4net.sdss.queries import make_catalog_backend

    s = cfg["sdss"]
    return make_catalog_backend(
        s["catalog_source"],
        mirror_root=s.get("mirror_root"),
        skyserver_url=s["skyserver_url"],
        data_release=s["data_release"],
        policy=RetryPolicy.from_config(s["download"]),
    )
