"""Recommend from a finished run (or an exported folder): top-k for every user, or for a history given here.

python -m transrec.recommend <run dir | export folder> --out topk.parquet [--k 10] [--history full|test]
python -m transrec.recommend <...> --ids N12 N40 N7            # one history, catalogue item ids, oldest first
python -m transrec.recommend <...> --titles "red dress" "..."  # one history as raw titles (text models)
python -m transrec.recommend <...> --items new_items.tsv ...   # add cold-start items first: item_id<TAB>title,
                                                               # or item_id<TAB>title<TAB>image (image/multimodal runs)
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
from pathlib import Path

import polars as pl

from transrec.io import write_parquet
from transrec.serve.recommender import Recommender

log = logging.getLogger(__name__)


def open_recommender(source: str | os.PathLike, base_dir: str | os.PathLike = ".") -> Recommender:
    """A run folder (run.json + best.pt) or an export folder (config.json from transrec.export)."""
    source = Path(source)
    if (source / "run.json").is_file():
        return Recommender.from_run(source, base_dir)
    return Recommender.from_pretrained(source)


HEADERS = (["item_id", "title"], ["item_id", "title", "image"])


def read_new_items(path: str | os.PathLike) -> tuple[list[str], list[str | None], list[str | None] | None]:
    """(item ids, titles, image paths) of a cold-start items file; a bad line raises naming file and line.

    Lines are `item_id<TAB>title` or `item_id<TAB>title<TAB>image` (an optional first line names those columns); an
    image path is relative to the file's folder unless absolute. Of a 3-column line the title or the image may be
    empty (None), not both. Image paths are None when no line gives a third column."""
    ids: list[str] = []
    titles: list[str | None] = []
    images: list[str | None] = []
    any_image = False
    folder = Path(path).parent
    with open(path, encoding="utf-8", newline="") as handle:
        for line_no, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not row or not "".join(row).strip():
                continue
            cells = [cell.strip() for cell in row]
            if not ids and [cell.lower() for cell in cells] in HEADERS:
                continue  # the header line
            two = len(cells) == 2 and cells[1]
            three = len(cells) == 3 and (cells[1] or cells[2])
            if not cells[0] or not (two or three):
                raise ValueError(
                    f"{path}, line {line_no}: expected `item_id<TAB>title` or "
                    f"`item_id<TAB>title<TAB>image`, got {row!r}"
                )
            image = None
            if len(cells) == 3 and cells[2]:
                image = Path(cells[2]).expanduser()
                image = image if image.is_absolute() else folder / image
                if not image.is_file():
                    raise ValueError(f"{path}, line {line_no}: no image file at {image}")
                any_image = True
            ids.append(cells[0])
            titles.append(cells[1] or None)
            images.append(str(image) if image is not None else None)
    if not ids:
        raise ValueError(f"{path}: no items")
    return ids, titles, images if any_image else None


def recommend(
    run_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    k: int = 10,
    history: str = "full",
    base_dir: str | os.PathLike = ".",
    new_items: str | os.PathLike | None = None,
) -> pl.DataFrame:
    """Top-k of every user of the run's target to `out` (user, rank, item_id, title, score), history masked."""
    recommender = open_recommender(run_dir, base_dir)
    if new_items:
        recommender.add_items(*read_new_items(new_items))
    run = recommender.run
    split = pl.read_parquet(Path(base_dir) / run.data.split)
    sequences = (Path(base_dir) / run.data.items).with_name("sequences.parquet")
    users = pl.read_parquet(sequences, columns=["user_idx", "user_id"]) if sequences.is_file() else None
    top = recommender.recommend_users(split, k, history=history, users=users)
    write_parquet(top, out)
    log.info("top-%d of %d users -> %s", k, split.height, out)
    return top


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m transrec.recommend",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("source", help="a finished run folder (results/runs/...) or an export folder")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", help="every user's top-k to this parquet (run folders)")
    parser.add_argument(
        "--history",
        choices=["full", "test"],
        default="full",
        help="full: each user's last L items; test: the evaluation's test history",
    )
    parser.add_argument("--ids", nargs="+", help="one history as catalogue item ids, oldest first")
    parser.add_argument("--titles", nargs="+", help="one history as raw titles, oldest first (text models)")
    parser.add_argument(
        "--items",
        help="cold-start items to add first: a tsv of item_id<TAB>title, or "
        "item_id<TAB>title<TAB>image (a path, relative to the tsv unless absolute)",
    )
    parser.add_argument("--base-dir", default=".", help="the workflow's working directory (run.json's paths)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.out:
        recommend(args.source, args.out, k=args.k, history=args.history, base_dir=args.base_dir, new_items=args.items)
        return
    if not (args.ids or args.titles):
        parser.error("give --out (every user) or a history (--ids or --titles)")
    recommender = open_recommender(args.source, args.base_dir)
    if args.items:
        recommender.add_items(*read_new_items(args.items))
    top = recommender.recommend_history(item_ids=args.ids, titles=args.titles, k=args.k)
    top.drop("user").write_csv(sys.stdout, separator="\t")


if __name__ == "__main__":
    main()
