"""Arrays read from a database, kept beside it as .npy files (`.kb.db.arrays/`) for the next reader
to memory-map: search opens at 100,000 cases in well under a second instead of reading, decoding and
grouping every row again (7.5 s).

The folder holds one subfolder per database file, named by its key: the build id the build writes
into kb_meta, and the file's size and modification time. A rebuilt file (a new id), one changed in
place (a new time) or one copied elsewhere is never served another file's arrays; a file built
before ids existed is keyed by its size and time alone. Under a key, each part (one index of one
precision) is a folder written whole under a temporary name and renamed into place, with a manifest
of its arrays' shapes and types; files are never rewritten, so a reader that mapped them keeps them
however the folder changes. Anything missing, stale, truncated or not as the manifest says, and
the caller reads the database instead (and may save the part again)."""
from __future__ import annotations

import contextlib
import json
import mmap
import os
import shutil
import sqlite3
import uuid
import weakref
from pathlib import Path

import numpy as np

MANIFEST = "manifest.json"
TEMPORARY = ".tmp-"


class Rows:
    """An array to save that is never whole in memory: its shape, its type and the function that
    fills it, given the saved file's rows to assign to as to an array's, each assignment written at
    once (_RowWriter; it is then read back a few rows at a time, see RowFile)."""

    def __init__(self, shape: tuple[int, ...], dtype, fill):
        self.shape, self.dtype, self.fill = tuple(shape), np.dtype(dtype), fill


class RowFile:
    """A saved array read a few rows at a time with pread, never mapped: the float32 vectors search
    re-scores a few hundred documents from (1.2 GB at 100,000 cases) would otherwise add every page
    ever read to the process's memory. Eight times faster than reading the same rows from SQLite."""

    def __init__(self, path: Path, shape: list[int], dtype: str):
        self._file = open(path, "rb")  # noqa: SIM115 - open while the index lives, as a mapping would be
        try:
            version = np.lib.format.read_magic(self._file)
            read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            found, fortran, kind = read[version](self._file)
        except (ValueError, KeyError):
            self._file.close()
            raise
        self.dtype = np.dtype(kind)
        self.shape = tuple(found)
        self._offset = self._file.tell()
        self._row = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        if (fortran or list(found) != shape or self.dtype.str != dtype
                or os.fstat(self._file.fileno()).st_size != self._offset + self.shape[0] * self._row):
            self._file.close()
            raise ValueError(f"{path} is not as its manifest says")
        weakref.finalize(self, self._file.close)

    def __len__(self) -> int:
        return self.shape[0]

    def spans(self, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Rows starts[i] .. starts[i] + counts[i] - 1 for each i, one after another."""
        out = np.empty((int(np.sum(counts)), *self.shape[1:]), dtype=self.dtype)
        view = memoryview(out.reshape(-1).view(np.uint8))
        at = 0
        for start, count in zip(np.asarray(starts).tolist(), np.asarray(counts).tolist()):
            size = count * self._row
            if os.preadv(self._file.fileno(), [view[at:at + size]], self._offset + start * self._row) != size:
                raise OSError(f"{self._file.name} ended early")
            at += size
        return out


def folder(db_path: Path) -> Path:
    """The sidecar folder of a database, hidden beside it like its record cache."""
    db_path = Path(db_path)
    return db_path.with_name(f".{db_path.name}.arrays")


def new_build_id() -> str:
    return uuid.uuid4().hex


def build_id(conn: sqlite3.Connection) -> str | None:
    """The id the build stored in kb_meta (JSON, like its other values); None for an older file."""
    try:
        found = conn.execute("select value from kb_meta where key = 'build_id'").fetchone()
        return json.loads(found[0]) if found else None
    except (sqlite3.Error, ValueError, TypeError):
        return None


def file_key(db_path: Path, build: str | None) -> str | None:
    stamp = _stamp(db_path)
    return f"{build or 'unversioned'}{stamp}" if stamp else None


def _stamp(db_path: Path) -> str | None:
    try:
        st = os.stat(db_path)
    except OSError:
        return None
    return f"-{st.st_size}-{st.st_mtime_ns}"


class Sidecar:
    """The parts saved for one database file (see the module's note)."""

    def __init__(self, db_path: Path, key: str):
        self.db_path = Path(db_path)
        self.root = folder(db_path)
        self.key = key
        self.here = self.root / key

    @classmethod
    def of(cls, db_path: Path, conn: sqlite3.Connection) -> "Sidecar | None":
        key = file_key(db_path, build_id(conn))
        return cls(db_path, key) if key else None

    def load(self, part: str) -> tuple[dict[str, np.ndarray], dict] | None:
        """A part's arrays (read-only, memory-mapped) and its information; None unless every array
        is there with the shape and type its manifest gives."""
        where = self.here / part
        try:
            manifest = json.loads((where / MANIFEST).read_text(encoding="utf-8"))
            if manifest.get("key") != self.key:
                return None
            arrays = {}
            for name, (shape, dtype) in manifest["arrays"].items():
                path = where / f"{name}.npy"
                if name in manifest.get("rows", []):
                    arrays[name] = RowFile(path, shape, dtype)
                    continue
                # an empty array cannot be mapped; anything else is mapped, never read whole
                found = np.load(path, mmap_mode="r" if np.prod(shape) else None, allow_pickle=False)
                if list(found.shape) != shape or found.dtype.str != dtype:
                    return None
                if isinstance(found, np.memmap):
                    # read ahead in the background: the first search after a reboot waits less for the disk
                    with contextlib.suppress(AttributeError, OSError, ValueError):
                        found._mmap.madvise(mmap.MADV_WILLNEED)
                    found = found.view(np.ndarray)  # the mapping stays open through .base
                found.flags.writeable = False
                arrays[name] = found
            return arrays, manifest["info"]
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            return None

    def save(self, part: str, arrays: dict[str, np.ndarray], info: dict) -> bool:
        """Write a part (atomically: whole or not at all), removing other files' parts; False where
        it cannot be written (a read-only folder, a full disk)."""
        if not self.key.endswith(_stamp(self.db_path) or "?"):
            return False  # another file has been swapped in since: nobody will look for these, keep its arrays
        temp = self.root / f"{TEMPORARY}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        old = temp.with_name(f"{temp.name}-old")
        try:
            self.root.mkdir(exist_ok=True)
            self._remove_stale()
            temp.mkdir()
            shapes, rows = {}, []
            for name, array in arrays.items():
                with open(temp / f"{name}.npy", "w+b") as out:
                    if isinstance(array, Rows):
                        _write_rows(out, array)
                        rows.append(name)
                    else:
                        array = np.ascontiguousarray(array)
                        np.save(out, array, allow_pickle=False)
                    out.flush()
                    os.fsync(out.fileno())
                shapes[name] = [list(array.shape), array.dtype.str]
            (temp / MANIFEST).write_text(json.dumps({"key": self.key, "arrays": shapes, "rows": rows, "info": info}),
                                         encoding="utf-8")
            _fsync(temp / MANIFEST)
            _fsync(temp)
            self.here.mkdir(exist_ok=True)
            # a copy already there is one that did not load (truncated, damaged) or another process's
            # of the same file: moved aside, then removed, so a reader finds one whole part or none
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.here / part, old)
            os.rename(temp, self.here / part)
            _fsync(self.here)
            return True
        except (OSError, ValueError, TypeError):
            return False
        finally:
            shutil.rmtree(temp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)

    def _remove_stale(self) -> None:
        """Other files' parts, and temporaries of writers that have stopped."""
        for entry in self.root.iterdir():
            if entry.name.startswith(TEMPORARY):
                if process_alive(entry.name[len(TEMPORARY):].split("-")[0]):
                    continue
            elif entry.name == self.key:
                continue
            shutil.rmtree(entry, ignore_errors=True)


def remove_stale(db_path: Path) -> None:
    """After a database is swapped in: its former arrays (and any other file's) go."""
    db_path = Path(db_path)
    root = folder(db_path)
    if root.is_dir():
        with contextlib.suppress(OSError, sqlite3.Error):
            conn = sqlite3.connect(f"file:{db_path.resolve()}?mode=ro", uri=True)
            try:
                key = file_key(db_path, build_id(conn))
            finally:
                conn.close()
            Sidecar(db_path, key or "")._remove_stale()


def link(db_path: Path, to: Path) -> None:
    """Hard links, beside another name of the same file (kb.site.pin), to the arrays saved for it."""
    # best effort: without them the server reads the database, only more slowly
    stamp = _stamp(db_path)
    with contextlib.suppress(OSError):
        root = folder(db_path)
        for keyed in root.iterdir() if root.is_dir() and stamp else []:
            if keyed.name.startswith(TEMPORARY) or not keyed.name.endswith(stamp):
                continue
            for part in keyed.iterdir():
                if not part.is_dir():
                    continue
                temp = folder(to) / keyed.name / f"{TEMPORARY}{os.getpid()}-{part.name}"
                temp.mkdir(parents=True, exist_ok=True)
                for file in part.iterdir():
                    os.link(file, temp / file.name)
                os.rename(temp, temp.parent / part.name)


def process_alive(pid: str) -> bool:
    """Whether the process with this id (as text, from a file or folder name) still runs."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _write_rows(out, array: Rows) -> None:
    np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(array.dtype),
                                               "fortran_order": False, "shape": array.shape})
    out.flush()
    offset = out.tell()
    out.truncate(offset + int(np.prod(array.shape, dtype=np.int64)) * array.dtype.itemsize)
    if np.prod(array.shape):
        array.fill(_RowWriter(out.fileno(), offset, array.shape, array.dtype))


class _RowWriter:
    """The rows of a file being saved, assigned as a numpy array's are (`rows[i:j] = block`,
    `rows[positions] = block`) and written at once with pwrite: a mapping of the file would keep
    every row written in the process's memory until the end (the float32 vectors of 100,000 cases
    and their lessons, 2.9 GB, had taken a build's peak to 2.6 GB)."""

    def __init__(self, fd: int, offset: int, shape: tuple[int, ...], dtype: np.dtype):
        self._fd, self._offset, self.shape, self.dtype = fd, offset, shape, dtype
        self._row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

    def __setitem__(self, where, rows) -> None:
        at = (np.arange(*where.indices(self.shape[0])) if isinstance(where, slice)
              else np.asarray(where, dtype=np.int64).reshape(-1))
        if len(at) and (at.min() < 0 or at.max() >= self.shape[0]):
            raise ValueError(f"rows {at.min()} to {at.max()} are not all within {self.shape[0]}")
        rows = np.ascontiguousarray(np.broadcast_to(rows, (len(at), *self.shape[1:])), dtype=self.dtype)
        order = np.argsort(at, kind="stable")
        at, rows = at[order], rows[order]
        runs = np.flatnonzero(np.diff(at) != 1) + 1  # each run of consecutive rows is one write
        for lo, hi in zip(np.r_[0, runs].tolist(), np.r_[runs, len(at)].tolist()):
            if os.pwrite(self._fd, rows[lo:hi], self._offset + int(at[lo]) * self._row) != (hi - lo) * self._row:
                raise OSError("a saved array's rows were not all written (is the disk full?)")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
