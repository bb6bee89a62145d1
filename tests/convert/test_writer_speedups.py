"""The writer's fast paths give exactly the bytes of the slow ones: bf16->f16, array metadata."""

import numpy as np

from opencoder_convert.checkpoint import to_f32
from opencoder_convert.tensors import Q
from opencoder_convert.writer import convert_rows


def test_every_bf16_bit_pattern_converts_like_the_f32_cast():
    bits = np.arange(1 << 16, dtype=np.uint16).reshape(256, 256)
    with np.errstate(over="ignore"):
        expected = to_f32(bits, "BF16").astype(np.float16)
    got = convert_rows(bits, "BF16", Q.F16)
    assert got.dtype == np.float16 and got.shape == bits.shape
    assert np.array_equal(got.view(np.uint16), expected.view(np.uint16))


def test_fast_array_packing_writes_the_same_bytes_as_gguf(tmp_path):
    import gguf

    from opencoder_convert.writer import _GGUFWriter

    def write(cls, path):
        writer = cls(path, "llama")
        writer.add_token_list(["<unk>", "▁def", "ü", "<0x0A>"] * 50)
        writer.add_token_scores([0.0, -1.5, -2.25, 3.0] * 50)
        writer.add_token_types([2, 1, 1, 6] * 50)
        writer.add_array("test.ints", [1, -2, 3])
        writer.add_array("test.bools", [True, False])
        writer.add_name("x")
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        writer.close()
        return path.read_bytes()

    assert write(_GGUFWriter, tmp_path / "fast.gguf") == write(gguf.GGUFWriter, tmp_path / "slow.gguf")
