"""Executed notebooks -> pandoc Markdown, per target (``"html"`` or ``"typst"``).

Honours Quarto's cell options (``#| echo``, ``output``, ``include``, ``label``,
``fig-cap``/``tbl-cap``); a labelled figure or table becomes a fenced div
``{#fig-...}`` with an ``.rsa-caption`` div, which the Lua filter
(``filters/rsa-book.lua``) turns into a numbered figure. Per output, the richest
MIME type the target can show is chosen: HTML pages take ``text/html`` (the
interactive plotly div), Typst/PDF ``image/png`` (the static figure).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis.bookbuild.execute import cell_options


def _joined(v: Any) -> str:
    return "".join(v) if isinstance(v, list) else str(v)


def _fence(text: str, info: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


_PRIORITY = {
    "html": ("text/markdown", "text/html", "image/svg+xml", "image/png", "image/jpeg", "text/plain"),
    "typst": ("text/markdown", "image/png", "image/jpeg", "text/latex", "text/plain"),
}


class Converter:
    """Turns executed notebooks into pandoc Markdown, honouring Quarto cell options."""

    def __init__(self, target: str, defaults: dict[str, Any], media_dir: Path, media_ref: str):
        self.target = target
        self.defaults = defaults
        self.media_dir = media_dir
        self.media_ref = media_ref

    def image(self, data: str, name: str, ext: str) -> str:
        import base64

        self.media_dir.mkdir(parents=True, exist_ok=True)
        raw = base64.b64decode(data) if ext != "svg" else data.encode()
        fname = f"{name}.{ext}"
        (self.media_dir / fname).write_bytes(raw)
        width = "{width=100%}" if self.target == "typst" else ""
        return f"![]({self.media_ref}/{fname}){width}"

    def output(self, out: dict, asis: bool, name: str) -> str | None:
        kind = out.get("output_type")
        if kind == "stream":
            if out.get("name") == "stderr" and not self.defaults.get("warning", True):
                return None
            text = _joined(out.get("text", ""))
            return text if asis else _fence(text)
        if kind == "error":
            return _fence("\n".join(out.get("traceback", [])))
        if kind not in ("display_data", "execute_result"):
            return None
        data = out.get("data", {})
        for mime in _PRIORITY[self.target]:
            if mime not in data:
                continue
            v = _joined(data[mime])
            if mime == "text/markdown":
                return v
            if mime == "text/html":
                return _fence(v, "{=html}")
            if mime.startswith("image/"):
                return self.image(v, name, {"image/png": "png", "image/jpeg": "jpg",
                                            "image/svg+xml": "svg"}[mime])
            if mime == "text/latex":
                continue
            return v if asis else _fence(v)
        return None

    def notebook(self, nb, stem: str) -> str:
        blocks: list[str] = []
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                blocks.append(cell.source)
                continue
            if cell.cell_type != "code":
                continue  # raw cells (front matter) are Quarto's, not content
            opts, code = cell_options(cell.source)
            merged = {**self.defaults, **opts}
            if merged.get("include") is False:
                continue
            if "injected-parameters" in cell.metadata.get("tags", []) or \
                    "parameters" in cell.metadata.get("tags", []):
                if not opts.get("echo", False):
                    continue
            parts = []
            if merged.get("echo", True) and code.strip():
                parts.append(_fence(code, "python"))
            if merged.get("output", True) is not False:
                asis = merged.get("output") == "asis"
                for k, out in enumerate(cell.get("outputs", [])):
                    md = self.output(out, asis, f"{stem}-cell{i}-{k}")
                    if md:
                        parts.append(md)
            label = str(opts.get("label", ""))
            if label.startswith(("fig-", "tbl-")):
                cap = str(opts.get(label[:3] + "-cap", ""))
                body = "\n\n".join(parts[1:] if merged.get("echo", True) and code.strip() else parts)
                code_part = parts[0] + "\n\n" if merged.get("echo", True) and code.strip() else ""
                parts = [f"{code_part}::::: {{#{label}}}\n{body}\n\n::: {{.rsa-caption}}\n{cap}\n:::\n:::::"]
            if parts:
                blocks.append("\n\n".join(parts))
        return "\n\n".join(blocks) + "\n"
