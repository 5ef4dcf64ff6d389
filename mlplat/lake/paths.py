"""Locations in the lake by URL scheme: local folders are ``file://`` URLs, the rest stay as given."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from mlplat.errors import ValidationError

SCHEMES = ("file", "hdfs", "s3a", "s3", "gs", "abfss")


def to_url(path_or_url: str) -> str:
    """A lake location as a URL; plain paths become ``file://`` URLs."""
    parsed = urlparse(path_or_url)
    if parsed.scheme in SCHEMES:
        return path_or_url
    if parsed.scheme and len(parsed.scheme) > 1:
        raise ValidationError(
            f"unsupported URL scheme {parsed.scheme!r} in {path_or_url!r}; use one of {', '.join(SCHEMES)} or a path"
        )
    return Path(path_or_url).expanduser().resolve().as_uri()


def local_path(url: str) -> Path | None:
    """The filesystem path of a ``file://`` URL, None for remote stores."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return None


def join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts)])


__all__ = ["SCHEMES", "join", "local_path", "to_url"]
