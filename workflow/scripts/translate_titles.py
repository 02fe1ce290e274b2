"""Translate a dataset's titles with the configured backend and the persistent cache."""

from pathlib import Path

from transrec.data.translate import translate_titles
from transrec.io import write_json
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):
    settings = dict(snakemake.params.settings)
    cache = Path(snakemake.params.cache_dir) / f"{settings['source_lang']}_{settings['target_lang']}.jsonl"
    report = translate_titles(
        snakemake.input.item_table,
        snakemake.output.out_table,
        backend=settings.pop("backend"),
        translation_table=settings.pop("table"),
        cache_path=cache,
        **settings,
    )
    write_json(snakemake.output.report, report)
