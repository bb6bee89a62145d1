"""The conversion, phase by phase: read config -> map tensor names -> write metadata ->
stream tensors -> quantize."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from opencoder_convert.checkpoint import Checkpoint, read_checkpoint
from opencoder_convert.outtypes import BITS_PER_WEIGHT  # approximate: for the bar and the disk check
from opencoder_convert.metadata import add_model_metadata
from opencoder_convert.quantize import LLAMA_TYPES, quantize
from opencoder_convert.tensors import FILE_TYPES, OWN_TYPES, TensorPlan, plan_tensors
from opencoder_convert.vocab import Vocab, read_vocab
from opencoder_convert.writer import check_output_folder, write_gguf
from opencoder_local.errors import UserError
from opencoder_local.files import atomic_path, check_replaceable, temp_file, user_path
from opencoder_local.progress import Bars

OUTTYPES = (*OWN_TYPES, *LLAMA_TYPES)
DEFAULT_OUTTYPE = "q4_k_m"


class OutTypeError(UserError):
    pass


@dataclass(frozen=True)
class Job:
    checkpoint: Checkpoint
    vocab: Vocab
    name: str
    outtype: str
    dest: Path


def prepare(folder: Path, outtype: str = DEFAULT_OUTTYPE, outfile: Path | None = None,
            name: str | None = None) -> Job:
    """Read and check everything a conversion needs; nothing is written yet."""
    if outtype not in OUTTYPES:
        raise OutTypeError(f"unknown output type {outtype!r}; choose one of {', '.join(OUTTYPES)}")
    folder = Path(os.path.realpath(user_path(folder)))  # not .resolve(): it raises on a symlink loop
    dest = (user_path(outfile) if outfile else folder.parent / f"{folder.name}-{outtype.upper()}.gguf").absolute()
    check_replaceable(dest)
    checkpoint = read_checkpoint(folder)
    name = name or folder.name
    vocab = read_vocab(folder, checkpoint.config, name)
    return Job(checkpoint, vocab, name, outtype, dest)


def intermediate_type(checkpoint: Checkpoint) -> str:
    """The lossless type to hand llama.cpp's quantizer: the checkpoint's own when it has one."""
    dtypes = {t.dtype for t in checkpoint.tensors.values() if len(t.shape) > 1}
    return {frozenset({"BF16"}): "bf16", frozenset({"F16"}): "f16"}.get(frozenset(dtypes), "f32")


def run(job: Job, bars: Bars | None = None) -> Path:
    """Write job.dest atomically; return it. `bars` shows each stage (a terminal bar by default)."""
    own = job.outtype if job.outtype in OWN_TYPES else intermediate_type(job.checkpoint)
    plans = plan_tensors(job.checkpoint, own)
    own_bytes = sum(p.nbytes for p in plans)
    if job.outtype in OWN_TYPES:
        check_output_folder(job.dest, own_bytes)
        with atomic_path(job.dest) as tmp:
            _write(job, plans, own, tmp, bars)
        return job.dest
    n_weights = sum(int(np.prod(p.shape)) for p in plans)
    final_bytes = int(n_weights * BITS_PER_WEIGHT[job.outtype] / 8)
    check_output_folder(job.dest, own_bytes + final_bytes)
    with atomic_path(job.dest) as tmp, temp_file(job.dest.parent, ".f.gguf", ".opencoder-convert.") as scratch:
        _write(job, plans, own, scratch, bars)
        quantize(scratch, tmp, job.outtype, final_bytes, bars=bars)
    return job.dest


def _write(job: Job, plans: list[TensorPlan], outtype: str, path: Path, bars: Bars | None) -> None:
    def metadata(writer) -> None:
        add_model_metadata(writer, job.checkpoint.config, job.vocab, job.name, FILE_TYPES[outtype])

    write_gguf(path, plans, metadata, f"converting {outtype}", bars)
