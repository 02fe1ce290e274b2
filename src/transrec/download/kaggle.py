"""H&M from Kaggle: the competition's files through the Kaggle REST API, with credentials from the environment."""

from __future__ import annotations

from collections.abc import Mapping

from transrec.download.catalogue import RemoteFile

KAGGLE_API = "https://www.kaggle.com/api/v1"
CSV_FILES = ("articles.csv", "customers.csv", "transactions_train.csv")


class MissingCredentials(RuntimeError):
    """Kaggle credentials are not in the environment."""


def credentials(environ: Mapping[str, str], manual: str) -> tuple[str, str]:
    """(username, key) from KAGGLE_USERNAME and KAGGLE_KEY; without them, a message saying what to set or place."""
    user, key = environ.get("KAGGLE_USERNAME"), environ.get("KAGGLE_KEY")
    if not user or not key:
        raise MissingCredentials(
            "Kaggle credentials are missing: set KAGGLE_USERNAME and KAGGLE_KEY (kaggle.com -> Settings -> API -> "
            "Create New Token gives both, in kaggle.json) in the environment of the download job, and accept the "
            f"competition's rules on its page. Or, by hand: {manual}"
        )
    return user, key


def competition_files(competition: str, images: bool, api: str = KAGGLE_API) -> tuple[RemoteFile, ...]:
    """The competition's whole archive (images included: ~30 GB) when `images`, else only its three csv files."""
    if images:
        return (RemoteFile(f"{api}/competitions/data/download-all/{competition}", ".", unpack=True),)
    return tuple(RemoteFile(f"{api}/competitions/data/download/{competition}/{name}", name) for name in CSV_FILES)
