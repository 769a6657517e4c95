"""The folder ``rsvision index`` writes: embeddings of images and scene tiles, what each one is (source, window,
tile size, footprint) and the model that made them, laid out so that a killed job loses at most one batch and
never corrupts what was committed before.

Layout of ``INDEX/``:

- ``index.json``: format, version, the model (name, sha256 of its weights) and the embedding width; written
  first, atomically. A folder without it (or with another model in it) is refused in one line.
- ``entries.sqlite``: one row per entry (key, source, window, tile size, CRS, footprints as WKT) and one per
  shard; SQLite commits a batch's rows in one transaction, so the done keys are the manifest of what is in.
- ``shards/NNNNNNNN.npz``: each batch's keys and vectors, written atomically *before* its transaction. A shard
  the transaction never registered (the job was killed between the two) is ignored and removed: its keys are
  not done, so a rerun embeds them again.
- ``vectors-XXXXXXXX.faiss`` + ``vectors.json``: the FAISS index over the registered shards (exact inner product
  below 50,000 vectors, IVF-Flat above), and which file and shards ``vectors.json`` commits to. A derived cache:
  extended or rebuilt from the shards when it lags (a job killed before its last save); a new file is written
  before the JSON names it. See docs/language.md, "Search", for why FAISS.

Keys are 63-bit hashes of (source, tile size, window): adding an entry twice is a no-op, which is what makes a
rerun of a killed job idempotent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsvision.core.files import atomic_output, check_writable
from rsvision.errors import SearchIndexError

FORMAT = "rsvision-search-index"
VERSION = 1
MANIFEST = "index.json"
DATABASE = "entries.sqlite"
SHARDS = "shards"
STORE_STATE = "vectors.json"
IVF_MIN = 50_000  # vectors: below, an exact scan takes under a few ms
TRAIN_PER_LIST = 40  # FAISS asks for 39 or more training vectors per list

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key INTEGER PRIMARY KEY, source TEXT NOT NULL, col INTEGER, row INTEGER, width INTEGER, height INTEGER,
    tile_size INTEGER, crs TEXT, footprint TEXT, footprint_lonlat TEXT, shard INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS shards (id INTEGER PRIMARY KEY, entries INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class ModelId:
    """What an index records of its model: a query or addition from another model is refused."""

    name: str
    sha256: str
    dim: int

    def describe(self) -> str:
        return f"{self.name} (sha256 {self.sha256[:12]})"


@dataclass(frozen=True)
class Entry:
    """One embedded image or tile: ``window`` is (col, row, width, height) pixels of ``source``; footprints are
    WKT polygons in ``crs`` (pixel coordinates when None) and in lon/lat (None without a CRS)."""

    source: str
    window: tuple[int, int, int, int]
    tile_size: int
    crs: str | None
    footprint: str
    footprint_lonlat: str | None

    @property
    def key(self) -> int:
        return entry_key(self.source, self.tile_size, self.window)


def entry_key(source: str, tile_size: int, window: Sequence[int]) -> int:
    """A stable 63-bit key (SQLite integers are signed) of what an entry is."""
    text = f"{source}|{tile_size}|{','.join(str(int(v)) for v in window)}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: float


class SearchIndex:
    """An index folder, open for searching and adding. Build with :meth:`create` or :meth:`open`."""

    def __init__(self, folder: Path, model: ModelId, db: sqlite3.Connection):
        self.folder, self.model, self.db = folder, model, db
        self._store = None

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, folder: str | os.PathLike, model: ModelId) -> SearchIndex:
        """A new index in ``folder``, which must not exist (or be empty); its parent must exist."""
        folder = Path(folder)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise SearchIndexError(f"{folder} exists and is not an rsvision index (no {MANIFEST} in it)")
        if not folder.exists():
            check_writable(folder)
            folder.mkdir()
        (folder / SHARDS).mkdir(exist_ok=True)
        db = _connect(folder / DATABASE)
        db.executescript(SCHEMA)
        record = {"format": FORMAT, "version": VERSION, "model": model.__dict__}
        with atomic_output(folder / MANIFEST) as tmp:  # last: a folder without it is refused, never half-trusted
            tmp.write_text(json.dumps(record, indent=2) + "\n")
        return cls(folder, model, db)

    @classmethod
    def open(cls, folder: str | os.PathLike, model: ModelId | None = None) -> SearchIndex:
        """The index in ``folder``; with ``model``, refused unless it is the model the index was built with."""
        folder = Path(folder)
        if not folder.is_dir():
            raise SearchIndexError(f"no such index folder: {folder}")
        own = _read_manifest(folder)
        if not (folder / DATABASE).is_file() or not (folder / SHARDS).is_dir():
            raise SearchIndexError(f"{folder}: half-written index ({DATABASE} or {SHARDS}/ missing); build it again")
        index = cls(folder, own, _connect(folder / DATABASE))
        try:
            index._check_tables()
            if model is not None:
                index.check_model(model)
        except SearchIndexError:
            index.close()
            raise
        return index

    @classmethod
    def open_or_create(cls, folder: str | os.PathLike, model: ModelId) -> SearchIndex:
        folder = Path(folder)
        return cls.open(folder, model) if (folder / MANIFEST).exists() else cls.create(folder, model)

    def check_model(self, model: ModelId) -> None:
        if (model.name, model.sha256) != (self.model.name, self.model.sha256):
            raise SearchIndexError(
                f"{self.folder} was built with {self.model.describe()}, not {model.describe()}: use -m "
                f"{self.model.name} or build another index"
            )

    def _check_tables(self) -> None:
        try:
            self.db.execute("SELECT key FROM entries LIMIT 1").fetchall()
            self.db.execute("SELECT id FROM shards LIMIT 1").fetchall()
        except sqlite3.DatabaseError as err:
            raise SearchIndexError(f"{self.folder}: corrupt index database ({err})") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ content
    def __len__(self) -> int:
        """Entries committed: the sum over the shards table (one row per batch; a COUNT(*) of a million entries
        took 20 ms, most of a query)."""
        return self.db.execute("SELECT COALESCE(SUM(entries), 0) FROM shards").fetchone()[0]

    def done(self, keys: Iterable[int]) -> set[int]:
        """Those of ``keys`` already in the index."""
        keys = [int(k) for k in keys]
        found: set[int] = set()
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            rows = self.db.execute(f"SELECT key FROM entries WHERE key IN ({','.join('?' * len(part))})", part)
            found.update(r[0] for r in rows)
        return found

    def entries(self, keys: Sequence[int]) -> dict[int, Entry]:
        rows = self.db.execute(
            f"SELECT key, source, col, row, width, height, tile_size, crs, footprint, footprint_lonlat FROM entries "
            f"WHERE key IN ({','.join('?' * len(keys))})",
            [int(k) for k in keys],
        )
        return {r[0]: Entry(r[1], (r[2], r[3], r[4], r[5]), r[6], r[7], r[8], r[9]) for r in rows}

    def sources(self) -> int:
        return self.db.execute("SELECT COUNT(DISTINCT source) FROM entries").fetchone()[0]

    # ------------------------------------------------------------------ adding
    def add(self, entries: Sequence[Entry], vectors: np.ndarray) -> int:
        """Commit one batch: its shard file, then its rows in one transaction. Entries already in are skipped
        (so a rerun adds nothing twice); returns how many were added."""
        vectors = np.asarray(vectors, np.float32)
        if vectors.shape != (len(entries), self.model.dim):
            raise SearchIndexError(f"{len(entries)} entries need ({len(entries)}, {self.model.dim}) vectors")
        keys = [e.key for e in entries]
        done, fresh = self.done(keys), []
        for i, key in enumerate(keys):
            if key not in done:
                done.add(key)
                fresh.append(i)
        if not fresh:
            return 0
        shard = self._next_shard()
        path = self.folder / SHARDS / f"{shard:08d}.npz"
        with atomic_output(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, keys=np.array([keys[i] for i in fresh], np.int64), vectors=vectors[fresh])
        with self.db:  # one transaction: the batch is in, or not at all
            self.db.executemany(
                "INSERT OR IGNORE INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [_row(entries[i], shard) for i in fresh],
            )
            self.db.execute("INSERT INTO shards VALUES (?, ?)", (shard, len(fresh)))
        return len(fresh)

    def _next_shard(self) -> int:
        registered = self.db.execute("SELECT MAX(id) FROM shards").fetchone()[0]
        on_disk = [int(p.stem) for p in (self.folder / SHARDS).glob("*.npz") if p.stem.isdigit()]
        return max([registered or 0, *on_disk]) + 1

    def remove_orphans(self) -> int:
        """Delete shard files no transaction registered (a job killed between the two writes)."""
        registered = {r[0] for r in self.db.execute("SELECT id FROM shards")}
        orphans = [
            p for p in (self.folder / SHARDS).glob("*.npz") if not p.stem.isdigit() or int(p.stem) not in registered
        ]
        for p in orphans:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        return len(orphans)

    # ------------------------------------------------------------------ the vector store
    def store(self):
        """The FAISS index over every registered shard: loaded, extended by the shards it lacks (rebuilt as IVF
        once the index outgrows an exact scan), and saved when it changed."""
        if self._store is not None:
            return self._store
        import faiss  # deferred: only searching and saving need it

        faiss.omp_set_num_threads(1)
        registered = {r[0]: r[1] for r in self.db.execute("SELECT id, entries FROM shards ORDER BY id")}
        state = self._store_state()
        total = sum(registered.values())
        store, held = None, set()
        if state and not (state["kind"] == "flat" and total >= IVF_MIN):
            store, held = faiss.read_index(str(self.folder / state["file"])), set(state["shards"])
        missing = [s for s in registered if s not in held]
        if store is None:
            store = new_store(self.model.dim, self._sample(missing, total), total)
        for shard in missing:
            keys, vectors = self._shard(shard)
            store.add_with_ids(vectors, keys)
        if missing:
            self._save_store(store, list(registered), state)
        self._store = store
        return store

    def _shard(self, shard: int) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self.folder / SHARDS / f"{shard:08d}.npz") as data:
            return data["keys"].astype(np.int64), np.ascontiguousarray(data["vectors"], np.float32)

    def _sample(self, shards: Sequence[int], total: int) -> np.ndarray | None:
        """Vectors to train IVF lists on (every ``step``-th shard until there are enough); None for a flat index."""
        if total < IVF_MIN:
            return None
        wanted = TRAIN_PER_LIST * lists_for(total)
        step = max(1, int(len(shards) * wanted / total))
        parts, have = [], 0
        for shard in shards[::step]:
            parts.append(self._shard(shard)[1])
            have += len(parts[-1])
            if have >= wanted:
                break
        return np.concatenate(parts)[:wanted]

    def _store_state(self) -> dict | None:
        path = self.folder / STORE_STATE
        try:
            state = json.loads(path.read_text())
            if (self.folder / state["file"]).is_file() and state["kind"] in ("flat", "ivf"):
                return state
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def _save_store(self, store, shards: Sequence[int], old: dict | None) -> None:
        """A new store file, then ``vectors.json`` naming it and its shards (the commit point), then the old file
        removed: a kill anywhere leaves a state that names a whole file and exactly the shards it holds."""
        import faiss

        if not os.access(self.folder, os.W_OK):
            return
        kind = "ivf" if isinstance(store, faiss.IndexIVF) else "flat"
        name = f"vectors-{uuid.uuid4().hex[:8]}.faiss"
        with atomic_output(self.folder / name) as tmp:
            faiss.write_index(store, str(tmp))
        with atomic_output(self.folder / STORE_STATE) as tmp:
            tmp.write_text(json.dumps({"file": name, "kind": kind, "shards": list(shards)}))
        for stale in self.folder.glob("vectors-*.faiss"):
            if stale.name != name:
                stale.unlink(missing_ok=True)

    def search(self, query: np.ndarray, k: int = 10) -> list[Hit]:
        """The ``k`` entries nearest ``query`` (a unit vector) by cosine similarity, best first."""
        if len(self) == 0:
            return []
        store = self.store()
        scores, keys = store.search(np.asarray(query, np.float32).reshape(1, -1), min(k, store.ntotal))
        pairs = [(int(key), float(s)) for key, s in zip(keys[0], scores[0]) if key >= 0]
        entries = self.entries([key for key, _ in pairs])
        return [Hit(entries[key], s) for key, s in pairs if key in entries]


def lists_for(total: int) -> int:
    """IVF lists for ``total`` vectors: about sqrt(n), so a list holds about as many vectors as there are lists."""
    return int(min(4096, max(64, round(total**0.5))))


def new_store(dim: int, sample: np.ndarray | None, total: int):
    """An empty FAISS index with ids: exact inner product below ``IVF_MIN`` vectors (``sample`` None), else IVF-Flat
    trained on ``sample``, searching 1/16 of its lists per query."""
    import faiss

    if sample is None or total < IVF_MIN:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    nlist = lists_for(total)
    quantizer = faiss.IndexFlatIP(dim)
    store = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    store.cp.niter = 10
    store.cp.max_points_per_centroid = TRAIN_PER_LIST
    store.train(np.ascontiguousarray(sample[: TRAIN_PER_LIST * nlist], np.float32))
    store.nprobe = max(8, nlist // 16)
    return store


def _row(entry: Entry, shard: int) -> tuple:
    return (entry.key, entry.source, *entry.window, entry.tile_size, entry.crs, entry.footprint,
            entry.footprint_lonlat, shard)  # fmt: skip


def _connect(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as err:
        raise SearchIndexError(f"{path}: corrupt index database ({err})") from None
    return db


def _read_manifest(folder: Path) -> ModelId:
    path = folder / MANIFEST
    if not path.is_file():
        raise SearchIndexError(f"{folder} is not an rsvision index, or a half-written one: no {MANIFEST} in it")
    try:
        record = json.loads(path.read_text())
        if record.get("format") != FORMAT:
            raise ValueError(f"format {record.get('format')!r}")
        if record.get("version") != VERSION:
            raise ValueError(f"version {record.get('version')} (this rsvision reads {VERSION})")
        return ModelId(**record["model"])
    except (ValueError, KeyError, TypeError) as err:
        raise SearchIndexError(f"{path}: not a valid index manifest ({err})") from None
