"""Read a GGUF file's metadata and tensor table quickly, and check the file is whole.

llama.cpp says little more than "failed to load" about a bad file, so we look first and
tell the user exactly what is wrong. The `gguf` package's reader builds numpy views of
every field and takes seconds on a real vocabulary; this reads the same layout in tens of
milliseconds.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import gguf

from opencoder_local.errors import ModelFileError

_SCALARS = {
    gguf.GGUFValueType.UINT8: "<B",
    gguf.GGUFValueType.INT8: "<b",
    gguf.GGUFValueType.UINT16: "<H",
    gguf.GGUFValueType.INT16: "<h",
    gguf.GGUFValueType.UINT32: "<I",
    gguf.GGUFValueType.INT32: "<i",
    gguf.GGUFValueType.FLOAT32: "<f",
    gguf.GGUFValueType.BOOL: "<?",
    gguf.GGUFValueType.UINT64: "<Q",
    gguf.GGUFValueType.INT64: "<q",
    gguf.GGUFValueType.FLOAT64: "<d",
}


_LENGTH = struct.Struct("<Q")  # a string's length, before its bytes
_MAX_DIMS = 4  # GGML_MAX_DIMS


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_in(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: _is_int(v) and low <= v <= high


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _list_of(item: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and all(item(x) for x in v)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class _Rule:
    ok: Callable[[Any], bool]
    must: str  # "<key> must be ..."


_STRING = _Rule(_is_str, "a string")
_FLAG = _Rule(lambda v: isinstance(v, bool), "true or false")
_TOKEN_ID = _Rule(_int_in(0, 2**32 - 1), "a token id")
_COUNT = _Rule(_int_in(1, 2**31 - 1), "a whole number from 1 to 2147483647")
_HEADS = _Rule(lambda v: _int_in(0, 2**20)(v) or _list_of(_int_in(0, 2**20))(v), "a head count or a list of them")
# The keys we read ourselves or llama.cpp trusts without checking: any other type or range is
# the file's fault, said in one line, never a ValueError (or a crash in llama.cpp) later on.
_RULES: dict[str, _Rule] = {
    gguf.Keys.General.ARCHITECTURE: _STRING,
    gguf.Keys.General.NAME: _STRING,
    gguf.Keys.General.BASENAME: _STRING,
    gguf.Keys.General.FINETUNE: _STRING,
    gguf.Keys.General.ALIGNMENT: _Rule(lambda v: _int_in(1, 1 << 30)(v) and v & (v - 1) == 0, "a power of two"),
    gguf.Keys.General.FILE_TYPE: _Rule(_int_in(0, 2**32 - 1), "a file type number"),
    gguf.Keys.Tokenizer.MODEL: _STRING,
    gguf.Keys.Tokenizer.PRE: _STRING,
    gguf.Keys.Tokenizer.LIST: _Rule(_list_of(_is_str), "a list of strings"),
    gguf.Keys.Tokenizer.TOKEN_TYPE: _Rule(_list_of(_int_in(-(2**31), 2**31 - 1)), "a list of token types"),
    gguf.Keys.Tokenizer.SCORES: _Rule(_list_of(_is_number), "a list of numbers"),
    gguf.Keys.Tokenizer.MERGES: _Rule(_list_of(_is_str), "a list of strings"),
    gguf.Keys.Tokenizer.CHAT_TEMPLATE: _STRING,
    gguf.Keys.Tokenizer.ADD_BOS: _FLAG,
    gguf.Keys.Tokenizer.ADD_EOS: _FLAG,
    gguf.Keys.Tokenizer.ADD_PREFIX: _FLAG,
    **{key: _TOKEN_ID for key in (gguf.Keys.Tokenizer.BOS_ID, gguf.Keys.Tokenizer.EOS_ID, gguf.Keys.Tokenizer.UNK_ID,
                                  gguf.Keys.Tokenizer.PAD_ID, gguf.Keys.Tokenizer.SEP_ID, gguf.Keys.Tokenizer.EOT_ID)},
}
_ARCH_RULES: dict[str, _Rule] = {
    gguf.Keys.LLM.CONTEXT_LENGTH: _COUNT,
    gguf.Keys.LLM.BLOCK_COUNT: _Rule(_int_in(0, 1 << 16), "a whole number from 0 to 65536"),
    gguf.Keys.LLM.EMBEDDING_LENGTH: _COUNT,
    gguf.Keys.LLM.VOCAB_SIZE: _COUNT,
    gguf.Keys.Attention.HEAD_COUNT: _HEADS,
    gguf.Keys.Attention.HEAD_COUNT_KV: _HEADS,
}
_TEMPLATE_PREFIX = gguf.Keys.Tokenizer.CHAT_TEMPLATE + "."  # named templates, e.g. tokenizer.chat_template.tool_use
# Arrays llama.cpp indexes for every token: a shorter one is read past its end.
_PER_TOKEN = (gguf.Keys.Tokenizer.TOKEN_TYPE, gguf.Keys.Tokenizer.SCORES)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Every key we (or llama.cpp, unchecked) use has the right type and range, or one ModelFileError."""
    arch = metadata.get(gguf.Keys.General.ARCHITECTURE)
    rules = dict(_RULES)
    if isinstance(arch, str):
        rules.update({template.format(arch=arch): rule for template, rule in _ARCH_RULES.items()})
    rules.update({key: _STRING for key in metadata if key.startswith(_TEMPLATE_PREFIX)})
    for key, rule in rules.items():
        if key in metadata and not rule.ok(metadata[key]):
            raise ModelFileError(f"{path} is damaged: its {key} must be {rule.must}, not {_shown(metadata[key])}")
    n_tokens = len(metadata.get(gguf.Keys.Tokenizer.LIST, []))
    for key in _PER_TOKEN:
        if key in metadata and len(metadata[key]) != n_tokens:
            raise ModelFileError(f"{path} is damaged: {key} has {len(metadata[key])} entries for {n_tokens} tokens")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int


@dataclass
class GGUFFile:
    """What a GGUF file says about itself."""

    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get(gguf.Keys.General.ARCHITECTURE, ""))

    def arch_key(self, template: str, default: Any = None) -> Any:
        """An architecture-scoped key such as gguf.Keys.LLM.CONTEXT_LENGTH."""
        return self.metadata.get(template.format(arch=self.architecture), default)

    def chat_templates(self) -> list[str]:
        """Every chat template in the file: the default and any named ones."""
        return [v for k, v in self.metadata.items() if k == gguf.Keys.Tokenizer.CHAT_TEMPLATE or k.startswith(_TEMPLATE_PREFIX)]

    @property
    def file_type_name(self) -> str:
        ftype = self.metadata.get(gguf.Keys.General.FILE_TYPE)
        if ftype is None:
            return "unknown"
        try:
            return gguf.LlamaFileType(ftype).name.removeprefix("MOSTLY_")
        except ValueError:
            return f"type {ftype}"


class _Cursor:
    def __init__(self, buf: mmap.mmap | bytes):
        self.buf = buf
        self.pos = 0

    def unpack(self, fmt: str) -> Any:
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        end = self.pos + n
        if end > len(self.buf):
            raise struct.error("string runs past the end of the file")
        raw = self.buf[self.pos:end]
        self.pos = end
        return raw.decode("utf-8", errors="replace")

    def strings(self, count: int) -> list[str]:
        """`count` strings in a row: a vocabulary's tokens and merges, read without a call per string."""
        buf, pos, size, out = self.buf, self.pos, len(self.buf), []
        length = _LENGTH.unpack_from
        for _ in range(count):
            end = pos + 8 + length(buf, pos)[0]
            if end > size:
                raise struct.error("string runs past the end of the file")
            out.append(buf[pos + 8:end].decode("utf-8", errors="replace"))
            pos = end
        self.pos = pos
        return out

    def value(self, vtype: int) -> Any:
        if vtype == gguf.GGUFValueType.STRING:
            return self.string()
        if vtype == gguf.GGUFValueType.ARRAY:
            etype = self.unpack("<I")
            if etype == gguf.GGUFValueType.ARRAY:
                raise ValueError("nested metadata arrays are not supported")
            count = self.unpack("<Q")
            if count > len(self.buf):
                raise struct.error("array longer than the file")
            if count == 0:
                return []
            if etype == gguf.GGUFValueType.STRING:
                return self.strings(count)
            return self.scalars(etype, count)
        return self.scalars(vtype, 1)[0]

    def scalars(self, vtype: int, count: int) -> list[Any]:
        """`count` numbers (or flags) of one type in a row, in one unpack."""
        fmt = _SCALARS.get(vtype)
        if fmt is None:
            raise ValueError(f"unknown GGUF value type {vtype}")
        many = struct.Struct(f"<{count}{fmt[1:]}")
        values = list(many.unpack_from(self.buf, self.pos))
        self.pos += many.size
        return values


def _tensor_nbytes(info: TensorInfo) -> int:
    try:
        block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(info.ggml_type)]
    except (ValueError, KeyError):
        raise ModelFileError(f"tensor {info.name} has an unknown type {info.ggml_type}") from None
    count = 1
    for dim in info.shape:
        count *= dim
    return count // block * type_size


def read_gguf(path: str | Path, check_data: bool = True) -> GGUFFile:
    """Parse the header, metadata and tensor table; raise ModelFileError on any damage."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelFileError(f"not a file: {path}")
    try:
        with path.open("rb") as fh:
            size = path.stat().st_size
            if size < 24:
                raise ModelFileError(f"{path} is not a GGUF model file (too small)")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(path, buf, size, check_data)
    except PermissionError:
        raise ModelFileError(f"cannot read {path}: permission denied") from None


def _parse(path: Path, buf: mmap.mmap, size: int, check_data: bool) -> GGUFFile:
    if buf[:4] != b"GGUF":
        raise ModelFileError(f"{path} is not a GGUF model file (convert it with opencoder-convert)")
    cur = _Cursor(buf)
    cur.pos = 4
    try:
        version = cur.unpack("<I")
        if version not in (2, 3):
            raise ModelFileError(f"{path} is GGUF version {version}; only versions 2 and 3 are supported")
        n_tensors = cur.unpack("<Q")
        n_kv = cur.unpack("<Q")
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = cur.string()
            metadata[key] = cur.value(cur.unpack("<I"))
        tensors = []
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.unpack("<I")
            if n_dims > _MAX_DIMS:
                raise ValueError(f"tensor {name} has {n_dims} dimensions")
            shape = tuple(cur.unpack("<Q") for _ in range(n_dims))
            tensors.append(TensorInfo(name, shape, cur.unpack("<I"), cur.unpack("<Q")))
    except (struct.error, ValueError, UnicodeDecodeError):
        raise ModelFileError(f"{path} is damaged or truncated: its header cannot be read") from None
    check_metadata(path, metadata)
    result = GGUFFile(path, version, metadata, tensors)
    if check_data and tensors:
        alignment = metadata.get(gguf.Keys.General.ALIGNMENT, gguf.GGUF_DEFAULT_ALIGNMENT)
        data_start = -(-cur.pos // alignment) * alignment
        end = max(data_start + t.offset + _tensor_nbytes(t) for t in tensors)
        if end > size:
            raise ModelFileError(
                f"{path} is truncated: {size:,} bytes on disk, {end:,} expected; download or convert it again"
            )
    return result
