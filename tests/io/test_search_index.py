"""The index folder: batches committed once, orphan shards ignored, another model and half-written folders refused."""

import json

import numpy as np
import pytest

from rsvision.errors import SearchIndexError
from rsvision.io import search_index
from rsvision.io.search_index import Entry, ModelId, SearchIndex

MODEL = ModelId("tiny", "a" * 64, 8)


def entries(n: int, start: int = 0) -> list[Entry]:
    return [Entry("/data/scene.tif", (i * 32, 0, 32, 32), 32, None, "POLYGON EMPTY", None) for i in range(start, n)]


def unit(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, MODEL.dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_adding_twice_adds_once(tmp_path):
    vectors = unit(10)
    with SearchIndex.create(tmp_path / "idx", MODEL) as index:
        assert index.add(entries(10), vectors) == 10
        assert index.add(entries(10), vectors) == 0
        assert len(index) == 10
        hits = index.search(vectors[3], k=3)
    assert hits[0].entry.window == (96, 0, 32, 32) and hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_orphan_shard_is_ignored_and_removed(tmp_path):
    with SearchIndex.create(tmp_path / "idx", MODEL) as index:
        index.add(entries(4), unit(4))
    orphan = tmp_path / "idx" / "shards" / "00000099.npz"
    np.savez(orphan, keys=np.array([e.key for e in entries(8, 4)]), vectors=unit(4, 1))  # killed before its commit
    with SearchIndex.open(tmp_path / "idx", MODEL) as index:
        assert len(index) == 4 and index.store().ntotal == 4
        assert index.remove_orphans() == 1 and not orphan.exists()


def test_store_catches_up_after_a_kill_before_its_save(tmp_path):
    with SearchIndex.create(tmp_path / "idx", MODEL) as index:
        index.add(entries(4), unit(4))
        index.store()
        index.add(entries(8, 4), unit(4, 1))  # committed, but the store file was not saved again
    with SearchIndex.open(tmp_path / "idx", MODEL) as index:
        assert index.store().ntotal == 8
    state = json.loads((tmp_path / "idx" / "vectors.json").read_text())
    assert state["shards"] == [1, 2] and len(list((tmp_path / "idx").glob("vectors-*.faiss"))) == 1


def test_large_index_becomes_ivf(tmp_path, monkeypatch):
    monkeypatch.setattr(search_index, "IVF_MIN", 100)
    vectors = unit(3000)
    with SearchIndex.create(tmp_path / "idx", MODEL) as index:
        for start in range(0, 3000, 1000):
            index.add(entries(start + 1000, start), vectors[start : start + 1000])
        assert index.search(vectors[1234], k=1)[0].entry.window[0] == 1234 * 32
    assert json.loads((tmp_path / "idx" / "vectors.json").read_text())["kind"] == "ivf"


def test_another_model_is_refused(tmp_path):
    SearchIndex.create(tmp_path / "idx", MODEL).close()
    with pytest.raises(SearchIndexError, match="was built with tiny"):
        SearchIndex.open(tmp_path / "idx", ModelId("tiny", "b" * 64, 8))


@pytest.mark.parametrize("damage", ["no_manifest", "bad_manifest", "no_database", "missing"])
def test_half_written_folder_is_refused(tmp_path, damage):
    folder = tmp_path / "idx"
    with SearchIndex.create(folder, MODEL) as index:
        index.add(entries(2), unit(2))
    if damage == "no_manifest":
        (folder / "index.json").unlink()
    elif damage == "bad_manifest":
        (folder / "index.json").write_text('{"format": "rsvision-search-index", "vers')
    elif damage == "no_database":
        (folder / "entries.sqlite").unlink()
    else:
        folder = tmp_path / "nowhere"
    with pytest.raises(SearchIndexError) as err:
        SearchIndex.open(folder, MODEL)
    assert "\n" not in str(err.value)


def test_create_refuses_a_folder_with_other_files(tmp_path):
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "photo.jpg").write_bytes(b"x")
    with pytest.raises(SearchIndexError, match="not an rsvision index"):
        SearchIndex.create(tmp_path / "idx", MODEL)
    assert (tmp_path / "idx" / "photo.jpg").exists()
