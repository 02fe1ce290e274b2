"""A trained recommender over its catalogue: top-k for histories (ids or titles), cold-start items, save and load."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import polars as pl
import torch
from huggingface_hub import PyTorchModelHubMixin, snapshot_download
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from transrec.data.split import left_pad
from transrec.io import read_json, write_json, write_parquet
from transrec.models.transrec import TransRec
from transrec.serve.model import (
    GivenTokens,
    build_trained,
    catalogue_table,
    encode_given,
    image_bytes,
    image_content,
    init_tensors,
    load_items,
    load_run,
    tokenizer_of,
)
from transrec.train import checkpoint
from transrec.train.config import RunConfig

FORMAT = 1  # version of the exported folder's layout


class Recommender(nn.Module, PyTorchModelHubMixin, library_name="transrec", tags=["recommendation", "transrec"]):
    """A run's model, its item id map and its item table (N+1, d); ranks every item by dot product."""

    def __init__(
        self,
        run: RunConfig,
        model: TransRec,
        items: pl.DataFrame,
        table: Tensor,
        tokenizer: str | None = None,
        max_tokens: int | None = None,
        init: dict[str, Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.run, self.model, self.items, self.tokenizer, self.max_tokens = run, model, items, tokenizer, max_tokens
        self.init = init  # the source checkpoint's tensors the run started from (exported with it)
        self.trained_items = items.height  # the catalogue the model was built for (an ID table has this many rows)
        self.register_buffer("table", table, persistent=False)  # (N+1, d)
        self._tokenizer: Any = None

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike, base_dir: str | os.PathLike = ".") -> Recommender:
        """A finished run folder (run.json, best.pt); the paths in run.json are relative to `base_dir`."""
        run, model = load_run(run_dir, base_dir)
        items = load_items(Path(base_dir) / run.data.items)
        tokenizer, max_tokens = None, None
        if run.data.content.kind in ("text", "multimodal"):
            cache = run.data.content.path if run.data.content.kind == "text" else run.data.content.paths["text"]
            tokenizer, max_tokens = tokenizer_of(Path(base_dir) / cache)
        return cls(
            run, model, items, catalogue_table(run, model, base_dir), tokenizer, max_tokens, init_tensors(run, base_dir)
        )

    # --- ranking
    @torch.no_grad()
    def user_vectors(self, item_vectors: Tensor, mask: Tensor) -> Tensor:
        """(U, L, d) item vectors of left-padded histories, mask (U, L) True = real -> (U, d) user vectors."""
        return self.model.encode_users(item_vectors, mask)[:, -1]

    @torch.no_grad()
    def top_k(self, histories: Tensor, k: int, mask_history: bool = True) -> tuple[Tensor, Tensor]:
        """(scores (U, k), item_idx (U, k)) for left-padded item_idx histories (U, L); history items ranked last
        (as in evaluation) when `mask_history`."""
        histories = histories[:, -self.run.model.max_len :].long()
        scores = self.user_vectors(self.table[histories], histories != 0) @ self.table.T  # (U, N+1)
        scores[:, 0] = float("-inf")
        if mask_history:
            scores.scatter_(1, histories, float("-inf"))
        return scores.topk(min(k, self.table.shape[0] - 1), dim=1)

    def recommend_users(
        self, split: pl.DataFrame, k: int, history: str = "full", users: pl.DataFrame | None = None, batch: int = 1024
    ) -> pl.DataFrame:
        """Top-k of every user of a split table: user, rank, item_id, title, score.

        history "full": the user's last L items (what to show next); "test": the evaluation's test history, so the
        share of users whose test target is in the top 10 is the run's HR@10. `users` (user_idx, user_id) names them.
        """
        split = split.sort("user_idx")
        seq = pl.col("sequence")
        cut = seq if history == "full" else seq.list.slice(0, seq.list.len() - 1)
        if history not in ("full", "test"):
            raise ValueError(f"history must be 'full' or 'test', not {history!r}")
        histories = left_pad(split.select(cut.alias("h"))["h"], self.run.model.max_len)
        scores, idx = zip(*(self.top_k(histories[i : i + batch], k) for i in range(0, len(histories), batch)))
        names = split["user_idx"].cast(pl.String)
        if users is not None:
            names = split.join(users.select("user_idx", pl.col("user_id").cast(pl.String)), on="user_idx", how="left")[
                "user_id"
            ]
        return self._frame(torch.cat(scores), torch.cat(idx), names.to_list())

    def recommend_history(
        self, item_ids: list[str] | None = None, titles: list[str] | None = None, k: int = 10
    ) -> pl.DataFrame:
        """Top-k for one history given as item ids of the catalogue, or as raw titles (any text: each is encoded as
        a cold-start item); catalogue items with those ids or titles are ranked last."""
        if (item_ids is None) == (titles is None):
            raise ValueError("give the history as item ids or as titles, not both or neither")
        if item_ids is not None:
            idx = self.item_idx(item_ids)
            scores, top = self.top_k(torch.tensor([idx]), k)
        else:
            vectors = self.encode_titles(titles)[-self.run.model.max_len :]  # (L, d)
            user = self.user_vectors(vectors[None], torch.ones(1, len(vectors), dtype=torch.bool))  # (1, d)
            scores = user @ self.table.T
            scores[:, 0] = float("-inf")
            lowered = {t.strip().lower() for t in titles}
            same = self.items.filter(pl.col("title").str.strip_chars().str.to_lowercase().is_in(lowered))["item_idx"]
            scores[:, same.to_list()] = float("-inf")
            scores, top = scores.topk(min(k, self.table.shape[0] - 1), dim=1)
        return self._frame(scores, top, ["history"])

    def item_idx(self, item_ids: list[str]) -> list[int]:
        """item_idx of catalogue item ids; an unknown id raises naming it."""
        lookup = dict(zip(self.items["item_id"].to_list(), self.items["item_idx"].to_list()))
        unknown = [i for i in item_ids if i not in lookup]
        if unknown:
            raise KeyError(f"item ids not in the catalogue: {unknown[:5]} (add new items with --items)")
        return [lookup[i] for i in item_ids]

    def _frame(self, scores: Tensor, idx: Tensor, users: list[str]) -> pl.DataFrame:
        """One row per (user, rank); a user with fewer than k unseen items gets fewer rows
        (masked ones are never shown)."""
        k = idx.shape[1]
        rows = self.items.select("item_id", "title")
        picked = rows[(idx.reshape(-1) - 1).tolist()]  # item_idx i is row i-1
        return pl.DataFrame(
            {
                "user": [u for u in users for _ in range(k)],
                "rank": list(range(1, k + 1)) * len(users),
                "item_id": picked["item_id"],
                "title": picked["title"],
                "score": scores.reshape(-1).float().numpy(),
            },
            schema_overrides={"rank": pl.Int32},
        ).filter(pl.col("score") > float("-inf"))

    # --- cold-start items
    @property
    def modality(self) -> str:
        """What the run's items are read from: text, image, multimodal (title + image), id or features."""
        return self.run.data.content.kind

    def _tokens(self, titles: list[str]) -> GivenTokens:
        """Title tokens as the run's token cache holds them (its tokenizer and max tokens)."""
        if self.tokenizer is None:
            raise ValueError(f"this {self.modality} run has no tokenizer: it cannot encode items from titles")
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(
                self.tokenizer, local_files_only=Path(self.tokenizer).is_dir()
            )
        text = [t.lower() for t in titles]  # titles are lower-cased for text datasets (PROTOCOL.md §Data)
        tokens = self._tokenizer(text, truncation=True, max_length=self.max_tokens, padding=True, return_tensors="pt")
        return GivenTokens(tokens["input_ids"], tokens["attention_mask"])

    @torch.no_grad()
    def encode_titles(self, titles: list[str]) -> Tensor:
        """Item vectors (M, d) of items given only by title, through the trained item encoder, without retraining."""
        if self.modality != "text" or self.run.encoder.kind != "text":
            raise ValueError(
                f"a {self.modality} model cannot encode items from titles alone"
                + (" (give each item's image too)" if self.modality == "multimodal" else "")
            )
        return encode_given(self.run, self.model, {"text": self._tokens(titles)})

    @torch.no_grad()
    def encode_new_items(
        self, titles: list[str | None] | None = None, images: list[Any] | None = None, item_ids: list[str] | None = None
    ) -> Tensor:
        """Item vectors (M, d) of items given by what the run reads: titles (text), images (image: file paths or PIL
        images) or both (multimodal), preprocessed and encoded exactly as the catalogue table is; a missing input
        raises naming it (and the item, by `item_ids` when given)."""
        count = len(titles if titles is not None else images if images is not None else item_ids or [])
        names = item_ids or [f"#{i + 1}" for i in range(count)]
        needs = {"text": ("titles",), "image": ("images",), "multimodal": ("titles", "images")}.get(self.modality)
        if needs is None:
            raise ValueError(
                f"a {self.modality} run cannot encode new items (its items are read from "
                f"{'an id table' if self.modality == 'id' else 'stored features'}, not titles or images)"
            )
        given = {"titles": titles, "images": images}
        for what, values in given.items():
            if what in needs:
                if values is None:
                    raise ValueError(
                        f"a {self.modality} run encodes new items from their {' and '.join(needs)}: give {what}"
                    )
                if len(values) != len(names):
                    raise ValueError(f"{len(values)} {what} for {len(names)} new items")
                empty = [n for n, v in zip(names, values) if v is None or (isinstance(v, str) and not v.strip())]
                if empty:
                    raise ValueError(
                        f"a {self.modality} run needs each new item's {what[:-1]}; missing for {empty[:5]}"
                    )
            elif what == "images" and values is not None and any(v is not None for v in values):
                raise ValueError(f"a {self.modality} run reads titles, not images: it cannot encode the images given")
        parts: dict[str, Any] = {}
        if "titles" in needs:
            parts["text"] = self._tokens(list(titles or []))
        if "images" in needs:
            pictures = [image_bytes(image, name) for image, name in zip(images or [], names)]
            parts["image"] = image_content(self.model, pictures)
        return encode_given(self.run, self.model, parts)

    def add_items(
        self, item_ids: list[str], titles: list[str | None] | None = None, images: list[Any] | None = None
    ) -> None:
        """Append cold-start items to the catalogue (item_idx N+1, ...): they are ranked like any other item.

        Give what the run's items are read from: titles (text runs), images (image runs: file paths or PIL images;
        titles optional, kept for display) or both (multimodal runs)."""
        clash = set(item_ids) & set(self.items["item_id"].to_list())
        if clash or len(set(item_ids)) != len(item_ids):
            raise ValueError(f"new item ids must be new and distinct; already there or repeated: {sorted(clash)[:5]}")
        if titles is not None and len(titles) != len(item_ids):
            raise ValueError(f"{len(titles)} titles for {len(item_ids)} new items")
        vectors = self.encode_new_items(titles, images, item_ids)
        start = self.items.height + 1
        self.table = torch.cat([self.table, vectors])
        self.items = pl.concat(
            [
                self.items,
                pl.DataFrame(
                    {
                        "item_idx": range(start, start + len(item_ids)),
                        "item_id": item_ids,
                        "title": titles if titles is not None else [None] * len(item_ids),
                    },
                    schema=self.items.schema,
                ),
            ]
        )

    # --- export folder (huggingface_hub's save_pretrained / from_pretrained / push_to_hub call these)
    def _save_pretrained(self, save_directory: Path) -> None:
        save_directory = Path(save_directory)
        run = self.run.to_dict()
        save_file(_contiguous(checkpoint.trainable_state(self.model)), save_directory / "trainable.safetensors")
        if self.init:
            save_file(_contiguous(self.init), save_directory / "init.safetensors")
        save_file({"table": self.table.contiguous()}, save_directory / "catalogue.safetensors")
        write_parquet(self.items, save_directory / "items.parquet")
        if self.tokenizer:
            from transformers import AutoTokenizer

            AutoTokenizer.from_pretrained(
                self.tokenizer, local_files_only=Path(self.tokenizer).is_dir()
            ).save_pretrained(save_directory / "tokenizer")
        write_json(
            save_directory / "config.json",
            {"transrec_format": FORMAT, "run": run, "num_items": self.trained_items, "max_tokens": self.max_tokens},
        )

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None = None,
        cache_dir: Any = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: Any = None,
        **kwargs: Any,
    ) -> Recommender:
        folder = (
            Path(model_id)
            if Path(model_id).is_dir()
            else Path(
                snapshot_download(
                    model_id,
                    revision=revision,
                    cache_dir=cache_dir,
                    force_download=force_download,
                    local_files_only=local_files_only,
                    token=token,
                )
            )
        )
        config = read_json(folder / "config.json")
        if config.get("transrec_format") != FORMAT:
            raise ValueError(f"{folder}/config.json is not a transrec export of format {FORMAT}")
        spec = copy.deepcopy(config["run"])
        encoder = spec["encoder"]  # a bundled base encoder (--full) is stored relative to the folder
        if encoder.get("path", "") and encoder["path"].startswith("encoder/"):
            encoder["path"] = str(folder / encoder["path"])
        encoder["paths"] = {
            m: str(folder / p) if p.startswith("encoder/") else p for m, p in (encoder.get("paths") or {}).items()
        }
        run = RunConfig.from_dict(spec)
        init = load_file(folder / "init.safetensors") if (folder / "init.safetensors").is_file() else None
        model = build_trained(run, config["num_items"], load_file(folder / "trainable.safetensors"), init)
        items = pl.read_parquet(folder / "items.parquet")  # cold-start items added before saving included
        tokenizer = str(folder / "tokenizer") if (folder / "tokenizer").is_dir() else None
        loaded = cls(
            run,
            model,
            items,
            load_file(folder / "catalogue.safetensors")["table"],
            tokenizer,
            config["max_tokens"],
            init,
        )
        loaded.trained_items = config["num_items"]
        return loaded


def _contiguous(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
