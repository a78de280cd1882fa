"""The network, bounded: the offline switch, timeouts and retries of every download.

Every request the project makes (AllenSDK metadata queries and data files, checkpoint
downloads) goes through this module's settings:

* ``RSA_OFFLINE=1`` (or the CLI's global ``--offline``) forbids every download; a file
  that is not on disk is then an error at once (:func:`offline`).
* ``RSA_NET_TIMEOUT`` (seconds, default :data:`DEFAULT_TIMEOUT_S`) is both the connect
  timeout and the read timeout (the longest wait for the *next* bytes, not for the
  whole transfer), so a server that accepts a connection and never answers cannot stall
  a run (:func:`timeout`).
* ``RSA_NET_RETRIES`` (default :data:`DEFAULT_RETRIES`) extra attempts after a
  connection error, a timeout or a broken transfer, with a short growing pause
  (:func:`retries`); HTTP errors such as 404 are not retried.

A request that still fails raises :class:`NetworkError`: one line naming the host, what
was being fetched (URL and target file) and the offline switch. It is a RuntimeError, so
the CLI prints it as ``error: ...`` without a traceback.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

__all__ = ["NetworkError", "DEFAULT_TIMEOUT_S", "DEFAULT_RETRIES", "offline", "timeout", "retries",
           "host_of", "with_retries", "get"]

#: Default connect and read timeout in seconds (``RSA_NET_TIMEOUT``).
DEFAULT_TIMEOUT_S = 30.0
#: Default number of extra attempts after a transient failure (``RSA_NET_RETRIES``).
DEFAULT_RETRIES = 2

OFFLINE_HINT = ("Without network access, run offline (`--offline` or RSA_OFFLINE=1) with the files "
                "already on disk; RSA_NET_TIMEOUT / RSA_NET_RETRIES set the timeout (s) and retries")

T = TypeVar("T")


class NetworkError(RuntimeError):
    """A download failed after its retries (host unreachable, timeout, broken transfer, HTTP error).

    Attributes ``host``, ``url`` and ``target`` (the file being written, or None).
    """

    def __init__(self, message: str, host: str = "", url: str = "", target: str | None = None):
        super().__init__(message)
        self.host, self.url, self.target = host, url, target


def offline() -> bool:
    """True when ``RSA_OFFLINE`` is ``1``/``true``/``yes``/``on``: no download of any kind."""
    return os.environ.get("RSA_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _env_number(name: str, default: float, cast: Callable[[str], Any], minimum: float) -> Any:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = cast(text)
    except ValueError:
        value = None
    if value is None or value < minimum or value != value:
        raise ValueError(f"{name}={text!r} is not a number >= {minimum}; set it to e.g. {default} or unset it")
    return value


def timeout() -> float:
    """Connect and read timeout in seconds: ``RSA_NET_TIMEOUT`` or :data:`DEFAULT_TIMEOUT_S`."""
    value = _env_number("RSA_NET_TIMEOUT", DEFAULT_TIMEOUT_S, float, 0.001)
    return float(value)


def retries() -> int:
    """Extra attempts after a transient failure: ``RSA_NET_RETRIES`` or :data:`DEFAULT_RETRIES`."""
    return int(_env_number("RSA_NET_RETRIES", DEFAULT_RETRIES, int, 0))


def host_of(url: str) -> str:
    """``host[:port]`` of a URL (``api.brain-map.org``)."""
    return urlsplit(url).netloc or url


def _transient() -> tuple[type[BaseException], ...]:
    import requests

    return (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError, ConnectionError, TimeoutError)


def with_retries(attempt: Callable[[], T], url: str, what: str, target: str | os.PathLike | None = None) -> T:
    """Call ``attempt()`` up to ``1 + retries()`` times while it fails transiently.

    Transient failures: connection errors (refused, unreachable, no DNS), timeouts and
    transfers broken off. The last one, or any HTTP error status, becomes a
    :class:`NetworkError` naming the host, ``what``, the URL, ``target`` and the offline switch.
    """
    import requests

    host = host_of(url)
    into = f" into {target}" if target is not None else ""
    n = 1 + retries()
    for i in range(n):
        try:
            return attempt()
        except requests.exceptions.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise NetworkError(
                f"downloading {what} from {url}{into} failed: {host} answered HTTP {status}. {OFFLINE_HINT}.",
                host, url, None if target is None else str(target)) from None
        except _transient() as exc:
            if i + 1 < n:
                time.sleep(min(0.2 * 2 ** i, 2.0))
                continue
            kind = ("timed out" if isinstance(exc, (requests.exceptions.Timeout, TimeoutError))
                    else "transfer broke off" if isinstance(exc, requests.exceptions.ChunkedEncodingError)
                    else "cannot be reached")
            raise NetworkError(
                f"downloading {what} from {url}{into} failed after {n} attempt(s): host {host} {kind} "
                f"(timeout {timeout():g} s; {type(exc).__name__}). {OFFLINE_HINT}.",
                host, url, None if target is None else str(target)) from None
    raise AssertionError("unreachable")  # pragma: no cover


def get(url: str, what: str, *, post_json: Any = None, stream: bool = False):
    """One ``requests`` GET (or POST of ``post_json``) with the timeouts, raising for HTTP errors.

    Not retried by itself: wrap it with :func:`with_retries`.
    """
    import requests

    t = timeout()
    if post_json is not None:
        response = requests.post(url, data=post_json, headers={"Content-Type": "application/json"},
                                 timeout=(t, t), stream=stream)
    else:
        response = requests.get(url, timeout=(t, t), stream=stream)
    try:
        response.raise_for_status()
    except Exception:
        response.close()
        raise
    return response
