"""Vector stores for ``rsvision index``: FAISS, LanceDB and USearch on the same synthetic vectors, to choose one.

Vectors are random normal, L2-normalised float32 (``--dim`` 256, the dual encoder's width); queries are fresh
vectors of the same kind; every library runs on one thread (the machine is shared).

- build: seconds to add ``--build`` (100,000) vectors to an empty store and save it; ``add``: seconds to add
  1,000 more to the built store and save again (what one ``rsvision index`` batch costs).
- query: p50 / p95 milliseconds of one k=10 query (``--queries`` of them) at 100,000 vectors for every store, and
  at ``--large`` (1,000,000) vectors for the chosen one, beside brute-force numpy (``q @ X.T`` + argpartition) on
  the same vectors (``speedup_ratio`` = numpy p50 / store p50), with its recall@10 against numpy.
- crash: a subprocess adds and saves in a loop and is killed (SIGKILL) mid-way; ``ok`` when the store on disk
  still opens afterwards, with the rows it had at its last complete save.

    nice -n 19 .venv/bin/python benchmarks/vector_store.py                    # all three at 100k, faiss at 1M
    nice -n 19 .venv/bin/python benchmarks/vector_store.py --large 0          # skip the 1M run
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

K = 10


def vectors(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def percentiles(times: list[float]) -> tuple[float, float]:
    ms = np.asarray(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def time_queries(search, queries: np.ndarray) -> tuple[float, float, list[np.ndarray]]:
    times, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        found.append(search(q))
        times.append(time.perf_counter() - t0)
    return *percentiles(times), found


def numpy_search(data: np.ndarray):
    def search(q: np.ndarray) -> np.ndarray:
        scores = data @ q
        top = np.argpartition(-scores, K)[:K]
        return top[np.argsort(-scores[top])]

    return search


# ----------------------------------------------------------------------------------------------- the stores
class Usearch:
    name = "usearch"

    def __init__(self, dim: int):
        from usearch.index import Index

        self.index = Index(ndim=dim, metric="ip", dtype="f32", connectivity=16, expansion_add=128, expansion_search=64)

    def add(self, keys: np.ndarray, data: np.ndarray) -> None:
        self.index.add(keys, data, threads=1)

    def save(self, path: Path) -> None:
        self.index.save(str(path))

    def search(self, q: np.ndarray) -> np.ndarray:
        return self.index.search(q, K, threads=1).keys

    @staticmethod
    def count(path: Path) -> int:
        from usearch.index import Index

        return len(Index.restore(str(path)))


class Faiss:
    """IVF-Flat (exact vectors, inverted lists), as :mod:`rsvision.io.search_index` builds it: trained on the first
    chunk added (k-means on up to 256 vectors per list), then ``nprobe`` lists searched per query."""

    name = "faiss"

    def __init__(self, dim: int):
        import faiss

        faiss.omp_set_num_threads(1)
        self.faiss, self.dim, self.index = faiss, dim, None

    def prepare(self, data: np.ndarray) -> None:
        """Train the lists on a sample of the vectors to come (the index trains on its shards the same way)."""
        from rsvision.io.search_index import new_store

        self.index = new_store(self.dim, data, len(data))

    def add(self, keys: np.ndarray, data: np.ndarray) -> None:
        if self.index is None:
            self.prepare(data)
        self.index.add_with_ids(data, keys.astype(np.int64))

    def save(self, path: Path) -> None:
        self.faiss.write_index(self.index, str(path))

    def search(self, q: np.ndarray) -> np.ndarray:
        return self.index.search(q[None], K)[1][0]

    @staticmethod
    def count(path: Path) -> int:
        import faiss

        return faiss.read_index(str(path)).ntotal


class Lance:
    name = "lancedb"

    def __init__(self, dim: int, path: Path | None = None):
        import lancedb

        self.db = lancedb.connect(str(path or tempfile.mkdtemp()))
        self.table = None

    def add(self, keys: np.ndarray, data: np.ndarray) -> None:
        import pyarrow as pa

        vec = pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1)), data.shape[1])
        batch = pa.table({"key": pa.array(keys.astype(np.int64)), "vector": vec})
        if self.table is None:
            self.table = self.db.create_table("v", batch, mode="overwrite")
        else:
            self.table.add(batch)

    def save(self, path: Path) -> None:  # every add is a committed version already
        pass

    def search(self, q: np.ndarray) -> np.ndarray:
        hits = self.table.search(q).metric("dot").limit(K).select(["key"]).to_arrow()
        return hits["key"].to_numpy()

    @staticmethod
    def count(path: Path) -> int:
        import lancedb

        return lancedb.connect(str(path)).open_table("v").count_rows()


STORES = {"faiss": Faiss, "lancedb": Lance, "usearch": Usearch}


# ----------------------------------------------------------------------------------------------- measures
def build(store_cls, data: np.ndarray, folder: Path, chunk: int = 10_000):
    """The store with ``data`` added in chunks (keys 0..n-1) and saved, and the seconds it took."""
    store = store_cls(data.shape[1], folder) if store_cls is Lance else store_cls(data.shape[1])
    t0 = time.perf_counter()
    if hasattr(store, "prepare"):
        store.prepare(data)
    for start in range(0, len(data), chunk):
        store.add(np.arange(start, min(start + chunk, len(data)), dtype=np.uint64), data[start : start + chunk])
    store.save(folder / "store.bin")
    return store, time.perf_counter() - t0


def recall(found: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(np.mean([len(set(map(int, f)) & set(map(int, t))) / K for f, t in zip(found, truth)]))


def measure_store(name: str, data: np.ndarray, queries: np.ndarray, truth: list[np.ndarray], work: Path) -> dict:
    folder = work / name
    folder.mkdir()
    store, seconds = build(STORES[name], data, folder)
    p50, p95, found = time_queries(store.search, queries)
    extra = vectors(1000, data.shape[1], 99)
    t0 = time.perf_counter()
    store.add(np.arange(len(data), len(data) + 1000, dtype=np.uint64), extra)
    store.save(folder / "store.bin")
    add_s = time.perf_counter() - t0
    return {"build_s": seconds, "p50_ms": p50, "p95_ms": p95, "recall_at_10": recall(found, truth), "add_1000_s": add_s}


CRASH_CHILD = """
import sys, numpy as np
sys.path.insert(0, {bench!r})
from vector_store import STORES, Lance, vectors
from pathlib import Path
folder = Path({folder!r})
cls = STORES[{name!r}]
store = cls({dim}, folder) if cls is Lance else cls({dim})
data = vectors(20000, {dim}, 5)
for i in range(1000):
    store.add(np.arange(i * 20000, (i + 1) * 20000, dtype=np.uint64), data)
    store.save(folder / "store.bin")
    print(i, flush=True)
"""


def crash(name: str, dim: int, work: Path, after_s: float = 4.0) -> dict:
    """Kill a process that adds 20,000 vectors and saves, in a loop; does the store on disk still open?"""
    folder = work / f"crash-{name}"
    folder.mkdir()
    code = CRASH_CHILD.format(bench=str(Path(__file__).parent), folder=str(folder), name=name, dim=dim)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    time.sleep(after_s)
    proc.send_signal(signal.SIGKILL)
    saves = len(proc.communicate()[0].split("\n")) - 1
    target = folder if name == "lancedb" else folder / "store.bin"
    try:
        rows = STORES[name].count(target)
        return {"ok": True, "saves_done": saves, "rows": rows, "whole_batches": rows % 20000 == 0}
    except Exception as err:  # what a killed save leaves is the point of the measure
        return {"ok": False, "saves_done": saves, "error": str(err).splitlines()[0][:120]}


def large_run(name: str, n: int, dim: int, queries: np.ndarray, work: Path) -> dict:
    data = vectors(n, dim, 1)
    brute_p50, brute_p95, truth = time_queries(numpy_search(data), queries)
    folder = work / f"large-{name}"
    folder.mkdir()
    store, seconds = build(STORES[name], data, folder, chunk=50_000)
    p50, p95, found = time_queries(store.search, queries)
    return {
        "vectors": n,
        "build_s": seconds,
        "p50_ms": p50,
        "p95_ms": p95,
        "recall_at_10": recall(found, truth),
        "numpy_p50_ms": brute_p50,
        "numpy_p95_ms": brute_p95,
        "speedup_ratio": brute_p50 / p50,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--build", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--stores", default="faiss,lancedb,usearch")
    parser.add_argument("--chosen", default="faiss")
    parser.add_argument("--no-crash", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    queries = vectors(args.queries, args.dim, 7)
    data = vectors(args.build, args.dim, 1)
    truth = time_queries(numpy_search(data), queries)[2]
    figures: dict = {"bench": "vector_store", "dim": args.dim, "build_vectors": args.build, "chosen": args.chosen}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.stores.split(","):
            figures[name] = measure_store(name, data, queries, truth, work)
            if not args.no_crash:
                figures[name]["crash"] = crash(name, args.dim, work)
            print(name, json.dumps(figures[name]), flush=True)
        if args.large:
            figures["large"] = large = large_run(args.chosen, args.large, args.dim, queries, work)
            figures.update(p50_ms=large["p50_ms"], p95_ms=large["p95_ms"], speedup_ratio=large["speedup_ratio"])
            print("large", json.dumps(large), flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
