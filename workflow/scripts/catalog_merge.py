"""Rule catalog: the whole catalogue from the per-run partitions (Parquet and FITS)."""

from yl8c4net.catalog.columns import CATALOG_COLUMNS, UNMATCHED_COLUMNS
from yl8c4net.catalog.fits_copy import write_catalog_fits
from yl8c4net.catalog.partition import coverage_summary, merge_partitions
from yl8c4net.pipeline.steps import step

with step(snakemake.log[0], "catalog") as log:
    for kind, partitions, out, columns in (
        ("matched", snakemake.input.matched, snakemake.output.catalog, CATALOG_COLUMNS),
        ("unmatched", snakemake.input.unmatched, snakemake.output.unmatched, UNMATCHED_COLUMNS),
    ):
        rows = merge_partitions(partitions, out, columns, snakemake.params.code)
        log.info("%s: %d rows from %d run partitions", kind, rows, len(partitions))
    write_catalog_fits(snakemake.output.catalog, snakemake.output.fits)
    asked, done, quarantined = coverage_summary(snakemake.input.matched)
    if quarantined:
        # Loud on purpose: the run ends with exit 0 (the catalogue is valid for the fields in
        # it), so this line is how an operator learns that fields are missing.
        stages = sorted({q["stage"] for q in quarantined.values()})
        retry = sorted({q["retry"] for q in quarantined.values()})
        log.warning(
            "INCOMPLETE CATALOGUE: built from %d of %d fields; %d quarantined (stages: %s; reasons in the block"
            " manifests and the job logs). Retry them after fixing the cause: snakemake --profile profiles/local -R %s",
            done,
            asked,
            len(quarantined),
            ", ".join(stages),
            " ".join(retry),
        )
        for tag, q in sorted(quarantined.items()):
            log.warning("quarantined %s at %s: %s", tag, q["stage"], q["reason"])
    else:
        log.info("catalogue built from all %d fields asked", asked)
