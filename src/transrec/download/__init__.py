"""Fetch each dataset's public files from their official locations into data/raw/<name>/ for the ingest stage."""

from transrec.download.catalogue import RELEASES, Release, RemoteFile, release
from transrec.download.dataset import DownloadSettings, download_dataset
from transrec.download.http import DownloadError, Policy, fetch

__all__ = [
    "RELEASES",
    "Release",
    "RemoteFile",
    "release",
    "DownloadSettings",
    "download_dataset",
    "DownloadError",
    "Policy",
    "fetch",
]
