"""Progress reporting: a tqdm bar on a terminal, a few plain log lines elsewhere.

A tqdm bar redraws itself with carriage returns; in a CI log, a file or a notebook
that becomes hundreds of partial lines. :func:`progress` therefore returns a tqdm bar
only when standard error is a terminal (and ``RSA_PROGRESS`` is not ``0``); otherwise
it writes one line when the work starts, one each time another ~10 % of a known total
is done, and one at the end, each with the elapsed seconds::

    features: start (12 batch)
    features: 2/12 batch (16 %), 0.8 s
    ...
    features: done, 12 batch in 4.9 s

Both kinds are iterables (when given one) and support ``update(n)``, ``close()`` and
``with``, so callers use either the same way.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterable, Iterator, TextIO

#: Environment variable: ``0`` turns the bars off (plain lines even on a terminal).
ENV_PROGRESS = "RSA_PROGRESS"
#: Plain progress lines over a known total (one each time another 1/STEPS is done).
STEPS = 10


def use_bar(stream: TextIO | None = None) -> bool:
    """Whether a tqdm bar is shown: ``stream`` (default standard error) is a terminal
    and ``RSA_PROGRESS`` is not ``0``."""
    if os.environ.get(ENV_PROGRESS, "").strip() == "0":
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress(iterable: Iterable | None = None, *, total: float | None = None, desc: str = "",
             unit: str = "it", unit_scale: bool = False, disable: bool = False,
             stream: TextIO | None = None):
    """A progress reporter over ``iterable`` (or, without one, advanced by ``update(n)``).

    Parameters
    ----------
    iterable:
        Items to iterate over; ``total`` defaults to its ``len()`` when it has one.
    total:
        Number of units expected (``None``: unknown; then only the start and end lines).
    desc, unit, unit_scale:
        As in tqdm: a label, the unit's name, and whether to scale numbers (k, M, G).
    disable:
        Report nothing (the object still iterates and accepts updates).
    stream:
        Where to report (default: standard error at the time of the call).

    Returns
    -------
    A ``tqdm`` bar when :func:`use_bar` is true, otherwise a :class:`LineProgress`.
    """
    stream = sys.stderr if stream is None else stream
    if total is None and iterable is not None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not disable and use_bar(stream):
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, unit_scale=unit_scale, file=stream)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, unit_scale=unit_scale,
                        disable=disable, stream=stream)


class LineProgress:
    """Plain-line progress: start, every ~10 % of ``total``, end (see :func:`progress`)."""

    def __init__(self, iterable: Iterable | None = None, *, total: float | None = None, desc: str = "",
                 unit: str = "it", unit_scale: bool = False, disable: bool = False,
                 stream: TextIO | None = None) -> None:
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.unit_scale = unit_scale
        self.disable = disable
        self.stream = sys.stderr if stream is None else stream
        self.n = 0
        self._next_report = 1
        self._closed = False
        self._start = time.monotonic()
        size = "" if total is None else f" ({self._fmt(total)} {unit})"
        self._write(f"start{size}")

    def _fmt(self, value: float) -> str:
        if self.unit_scale:
            from tqdm import tqdm

            return tqdm.format_sizeof(value, divisor=1024 if self.unit == "B" else 1000)
        return f"{value:g}" if isinstance(value, float) else str(value)

    def _write(self, message: str) -> None:
        if self.disable:
            return
        label = f"{self.desc}: " if self.desc else ""
        self.stream.write(f"{label}{message}\n")
        self.stream.flush()

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self._start:.1f} s"

    def update(self, n: float = 1) -> None:
        """Advance by ``n`` units; write a line each time another ~10 % of ``total`` is done."""
        self.n += n
        if not self.total or self.n >= self.total:
            return  # unknown total: start and end only; the end line is written by close()
        done = int(self.n * STEPS / self.total + 1e-9)  # steps of 1/STEPS completed
        if done >= self._next_report:
            self._next_report = done + 1
            self._write(f"{self._fmt(self.n)}/{self._fmt(self.total)} {self.unit} "
                        f"({100 * self.n / self.total:.0f} %), {self._elapsed()}")

    def close(self) -> None:
        """Write the end line (once)."""
        if not self._closed:
            self._closed = True
            self._write(f"done, {self._fmt(self.n)} {self.unit} in {self._elapsed()}")

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """Accepted for tqdm compatibility; plain lines carry no postfix."""

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("LineProgress without an iterable is advanced with update()")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
