"""The prefix cache's files without a model: the header, the checksums, the cap and atomic writes."""

import os
import time

import pytest

from opencoder_local.engine import kv_store
from opencoder_local.engine.kv_store import KvStore

IDS = list(range(1, 201))


def store(folder, identity="model-a", cap=1 << 20) -> KvStore:
    return KvStore(folder, cap, identity)


def payload(n=10_000, seed=7) -> memoryview:
    return memoryview(bytes((i * seed) % 251 for i in range(n)))


def only_file(folder):
    files = [p for p in folder.iterdir()]
    assert len(files) == 1, files
    return files[0]


def test_a_saved_state_is_found_by_its_longest_shared_prefix_and_read_back(tmp_path):
    cache = store(tmp_path)
    cache.save(IDS, payload())
    entry, shared = cache.best(IDS[:150] + [999, 1000], most=4096)
    assert shared == 150 and entry.ids == tuple(IDS)
    assert bytes(cache.read(entry)) == bytes(payload())
    assert cache.best([5, 6, 7], most=4096) is None  # shares nothing
    assert cache.best(IDS, most=100) is None  # longer than the window
    assert cache.notices == []


def test_a_state_saved_for_another_model_is_not_used(tmp_path):
    store(tmp_path, "model-a").save(IDS, payload())
    other = store(tmp_path, "model-b")
    assert other.best(IDS, most=4096) is None
    # the same file under this model's name: read, found to be another model's, removed with a notice
    saved = only_file(tmp_path)
    os.rename(saved, tmp_path / saved.name.replace(store(tmp_path, "model-a").prefix, other.prefix))
    assert other.best(IDS, most=4096) is None
    assert list(tmp_path.iterdir()) == []
    assert len(other.notices) == 1 and "another model file" in other.notices[0]


def test_a_flipped_byte_in_the_payload_is_caught_before_llama_cpp_sees_it(tmp_path):
    cache = store(tmp_path)
    cache.save(IDS, payload())
    path = only_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[-500] ^= 0x01
    path.write_bytes(data)
    fresh = store(tmp_path)
    assert fresh.read(fresh.best(IDS, most=4096)[0]) is None
    assert not path.exists()
    assert len(fresh.notices) == 1 and "checksum" in fresh.notices[0] and "\n" not in fresh.notices[0]


def test_a_flipped_byte_in_the_ids_is_caught(tmp_path):
    store(tmp_path).save(IDS, payload())
    path = only_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[kv_store._HEAD.size + len(b"model-a") + 40] ^= 0x10  # inside the ids
    path.write_bytes(data)
    fresh = store(tmp_path)
    assert fresh.best(IDS, most=4096) is None
    assert not path.exists() and len(fresh.notices) == 1


@pytest.mark.parametrize("keep", [10, kv_store._HEAD.size + 20, 2_000])
def test_a_truncated_file_is_ignored_and_removed(tmp_path, keep):
    store(tmp_path).save(IDS, payload())
    path = only_file(tmp_path)
    path.write_bytes(path.read_bytes()[:keep])
    fresh = store(tmp_path)
    assert fresh.best(IDS, most=4096) is None
    assert not path.exists()
    assert len(fresh.notices) == 1 and "truncated" in fresh.notices[0]


def test_the_least_recently_used_states_go_first_past_the_cap(tmp_path):
    size = len(payload()) + 2_000  # a file: the payload and its header
    cache = store(tmp_path, cap=2 * size)
    a, b, c = ([n] * 200 for n in (1, 2, 3))
    cache.save(a, payload())
    cache.save(b, payload())
    os.utime(only_of(tmp_path, cache, b), (time.time() - 100, time.time() - 100))  # b is the older now
    cache.read(cache.best(a, most=4096)[0])  # a is used: the most recent
    cache.save(c, payload())
    kept = {entry.ids[0] for entry in cache.entries()}
    assert kept == {1, 3}


def only_of(folder, cache, ids):
    return folder / f"{cache.prefix}{kv_store.ids_key(ids)}{kv_store.SUFFIX}"


def test_a_state_too_big_for_the_cap_is_not_saved(tmp_path):
    cache = store(tmp_path, cap=5_000)
    assert cache.save(IDS, payload()) is None
    assert list(tmp_path.iterdir()) == []


def test_a_longer_state_replaces_the_states_it_covers(tmp_path):
    cache = store(tmp_path)
    cache.save(IDS[:100], payload())
    cache.save(IDS, payload())
    assert [entry.ids for entry in cache.entries()] == [tuple(IDS)]


def test_a_save_past_its_deadline_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(kv_store, "_CHUNK", 1_000)  # several chunks, a deadline check between them
    cache = store(tmp_path)
    assert cache.save(IDS, payload(), deadline=time.monotonic() - 1) is None
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_half_way_leaves_no_partial_file(tmp_path, monkeypatch):
    monkeypatch.setattr(kv_store, "_CHUNK", 1_000)
    calls = []
    real_monotonic = time.monotonic

    def clock():  # the write is interrupted after a few chunks (a full disk, a kill)
        calls.append(1)
        if len(calls) > 4:
            raise OSError(28, "No space left on device")
        return real_monotonic()

    monkeypatch.setattr(kv_store.time, "monotonic", clock)
    with pytest.raises(Exception):
        store(tmp_path).save(IDS, payload(), deadline=real_monotonic() + 60)
    assert list(tmp_path.iterdir()) == []


def test_a_temp_file_a_killed_save_left_is_removed_by_the_next_store(tmp_path):
    old = tmp_path / f".{'x' * 16}-abc.kv.1234.partial"
    old.write_bytes(b"half")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    recent = tmp_path / ".y.kv.5678.partial"  # another process may be writing this one now
    recent.write_bytes(b"half")
    store(tmp_path)
    assert not old.exists() and recent.exists()
