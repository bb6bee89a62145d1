"""Phase 3-4: write metadata, then stream tensors into a GGUF that appears only when complete.

Tensors are converted in row chunks straight from memory-mapped safetensors, so peak memory
is a few chunks plus a constant, whatever the model's size. The file is written under a
temporary name in the destination folder, fsynced and renamed; on any error or Ctrl+C the
temporary file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import gguf
import numpy as np

from opencoder_convert.checkpoint import to_f32
from opencoder_convert.tensors import Q, TensorPlan
from opencoder_local.errors import UserError

CHUNK_BYTES = 4 * 1024 * 1024
_SAME_TYPE = {"BF16": Q.BF16, "F16": Q.F16, "F32": Q.F32}


class OutputError(UserError):
    """The output cannot be written: folder missing or read-only, disk full."""


class Progress:
    """A one-line progress bar (bytes, rate, ETA) on a terminal; silent otherwise."""

    def __init__(self, label: str, total: int, stream=None):
        self.label, self.total, self.done = label, max(total, 1), 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.start = self._last = time.monotonic()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.1 or self.done >= self.total):
            self._last = now
            self._draw(now)

    def set(self, done: int) -> None:
        self.advance(done - self.done)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-6)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0
        frac = min(self.done / self.total, 1.0)
        bar = "#" * int(frac * 24)
        self.stream.write(
            f"\r{self.label} [{bar:<24}] {self.done / 1e9:6.2f}/{self.total / 1e9:.2f} GB "
            f"{rate / 1e6:7.1f} MB/s ETA {int(eta) // 60}:{int(eta) % 60:02d} "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


def check_output_folder(dest: Path, needed_bytes: int) -> None:
    """Fail before any work if the destination folder is missing, read-only or too small."""
    folder = dest.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {dest}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {dest}: folder {folder} is not writable")
    if dest.is_dir():
        raise OutputError(f"cannot write {dest}: it is a folder; give a file name with -o")
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise OutputError(
            f"not enough disk space in {folder}: {needed_bytes / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free"
        )


@contextlib.contextmanager
def atomic_output(dest: Path, suffix: str = ".partial") -> Iterator[Path]:
    """Yield a temporary path next to `dest`; on success fsync and rename it, otherwise delete it."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        _fsync_folder(dest.parent)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise OutputError(f"disk full while writing {dest}; free some space and try again") from None
        raise OutputError(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def convert_rows(raw: np.ndarray, src_dtype: str, ggml_type: Q) -> np.ndarray:
    """Rows in the checkpoint's dtype -> the bytes of `ggml_type` (bit-exact when types match)."""
    if _SAME_TYPE.get(src_dtype) == ggml_type:
        return raw
    return gguf.quants.quantize(to_f32(raw, src_dtype), ggml_type)


class _StreamedTensor:
    """Stands in for an ndarray in GGUFWriter.write_tensor_data (which only uses nbytes and
    tofile), so one tensor is converted and written chunk by chunk instead of held whole."""

    def __init__(self, plan: TensorPlan, progress: Progress):
        self.plan, self.progress, self.nbytes = plan, progress, plan.nbytes

    def tofile(self, fout: BinaryIO) -> None:
        src = self.plan.source
        n_rows = src.shape[0] if len(src.shape) > 1 else 1
        step = max(1, CHUNK_BYTES // max(src.row_bytes, 1)) if len(src.shape) > 1 else 1
        written = 0
        for first in range(0, n_rows, step):
            stop = min(first + step, n_rows)
            raw = self._rows(first, stop) if len(src.shape) > 1 else src.rows()
            out = np.ascontiguousarray(convert_rows(raw, src.dtype, self.plan.ggml_type))
            fout.write(memoryview(out).cast("B"))
            written += out.nbytes
            self.progress.advance(raw.nbytes)
            del raw, out
        assert written == self.nbytes, f"{self.plan.name}: wrote {written} bytes, planned {self.nbytes}"

    def _rows(self, first: int, stop: int) -> np.ndarray:
        order = self.plan.row_order
        if order is None:
            return self.plan.source.rows(first, stop)
        return np.asarray(self.plan.source.rows()[order[first:stop]])


def write_gguf(
    path: Path, plans: list[TensorPlan], add_metadata: Callable[[gguf.GGUFWriter], None], label: str
) -> None:
    """Write header, metadata, tensor table, then each tensor's data, one tensor at a time."""
    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    add_metadata(writer)
    for plan in plans:
        writer.add_tensor_info(plan.name, plan.shape, np.dtype(np.float32), plan.nbytes, raw_dtype=plan.ggml_type)
    progress = Progress(label, sum(p.source.nbytes for p in plans))
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for plan in plans:
            writer.write_tensor_data(_StreamedTensor(plan, progress))  # type: ignore[arg-type]
    finally:
        writer.close()
        progress.close()
