"""Hashes of Ray Tune's experiment snapshot, checked before ``accelsearch resume`` reads it.

Ray Tune saves a search's state (``tuner.pkl``, ``experiment_state-*.json``,
``searcher-state-*.pkl``, ``search_gen_state-*.json``, ``callback-states-*.pkl``) in
``<run>/ray/search/`` and reads it back with pickle on resume; a pickle can run any code, so
a run folder is trusted input. To refuse a snapshot file that changed after accelsearch wrote
it (replaced, corrupted, copied in from another run), the driver records the sha256 of every
top-level file of the experiment folder, and of each failed trial's ``error.pkl``, in the
run's state file (``search_state.json``, ``checkpoint_sha256``) each time Ray Tune writes
one, and :func:`verify` compares them before anything is unpickled.

What it does not do: stop someone who can write the whole run folder, state file included
(they can record hashes of their own); see docs/reliability.md, "Trusted input".

Ray Tune writes a snapshot into the driver's staging folder and copies it to the
experiment folder in the background, so the hashes are taken from the staging copy right
after each snapshot (a Tune ``Callback``'s ``on_step_end``), and the last :data:`KEEP` hashes
of each file are kept: the copy in the experiment folder may still be an older one when the
driver stops.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ray.tune import Callback

from accelsearch.core.errors import ConfigError

HASH_KEY = "checkpoint_sha256"
KEEP = 4  # hashes kept per file name


#: what Ray Tune unpickles inside a trial's folder: the error of a failed trial (read back
#: into the result grid when a resumed search ends)
TRIAL_FILES = ("error.pkl",)


def _files(folder: str) -> dict[str, Any]:
    """The files of an experiment folder Ray Tune may unpickle -> a reader of each: every
    top-level file but hidden ones (Ray's temporary and marker files), and TRIAL_FILES in
    the trials' folders. ``folder`` is a local path or a pyarrow URI (s3://, gs://)."""
    if "://" in folder:
        return _remote_files(folder)
    path = Path(folder)
    if not path.is_dir():
        return {}
    out: dict[str, Any] = {}
    for p in path.iterdir():
        if p.name.startswith("."):
            continue
        if p.is_file():
            out[p.name] = p.read_bytes
        elif p.is_dir():
            for name in TRIAL_FILES:
                if (p / name).is_file():
                    out[f"{p.name}/{name}"] = (p / name).read_bytes
    return out


def _remote_files(uri: str) -> dict[str, Any]:
    import pyarrow.fs  # optional heavy dependency, for remote experiment storage only

    fs, root = pyarrow.fs.FileSystem.from_uri(uri)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))
    infos = [i for i in infos if not Path(i.path).name.startswith(".")]
    trial_files = [
        f"{i.path}/{name}"
        for i in infos
        if i.type == pyarrow.fs.FileType.Directory
        for name in TRIAL_FILES
    ]
    found = [i for i in infos if i.type == pyarrow.fs.FileType.File]
    found += [i for i in fs.get_file_info(trial_files) if i.type == pyarrow.fs.FileType.File]
    return {
        i.path[len(root.rstrip("/")) + 1 :]: (lambda p=i.path: fs.open_input_stream(p).readall())
        for i in found
    }


def hash_folder(folder: str | Path) -> dict[str, str]:
    """sha256 of the files of ``folder`` that Ray Tune may unpickle (see ``_files``)."""
    return {name: hashlib.sha256(read()).hexdigest() for name, read in _files(str(folder)).items()}


def record(state_path: str | Path, hashes: dict[str, str]) -> None:
    """Add ``hashes`` to the run's state file (the last KEEP per file), written atomically."""
    path = Path(state_path)
    state = json.loads(path.read_text()) if path.exists() else {}
    known: dict[str, list[str]] = state.setdefault(HASH_KEY, {})
    changed = False
    for name, digest in hashes.items():
        history = known.setdefault(name, [])
        if not history or history[-1] != digest:
            history.append(digest)
            del history[:-KEEP]
            changed = True
    if changed:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, path)


def verify(state_path: str | Path, experiment: str | Path) -> None:
    """Refuse, before Ray Tune unpickles anything, an experiment folder holding a file whose
    hash the run did not record."""
    path = Path(state_path)
    state = json.loads(path.read_text()) if path.exists() else {}
    known: dict[str, list[str]] = state.get(HASH_KEY, {})
    bad = [
        f"{name} (sha256 {digest[:12]}...)"
        for name, digest in sorted(hash_folder(experiment).items())
        if digest not in known.get(name, [])
    ]
    if not bad:
        return
    why = (
        "no checkpoint hashes were recorded for this run (made by an older accelsearch?)"
        if not known
        else f"these files do not match the hashes recorded in {path.name} when they were "
        f"written: {', '.join(bad)}"
    )
    raise ConfigError(
        f"not resuming {str(experiment)!r}: {why}. Ray Tune reads these files with pickle, "
        "which can run any code, so a run folder is trusted input; resume only a folder you "
        "(or your team) wrote and nobody else changed. If that is so (e.g. the driver was "
        "killed while writing a snapshot), resume with --trust-checkpoints "
        "(docs/reliability.md, 'Trusted input')"
    )


class CheckpointHasher(Callback):
    """Records the hashes of the snapshot files Ray Tune has just written (see the module)."""

    def __init__(self, state_path: str | Path) -> None:
        self.state_path = str(state_path)
        self._seen: dict[str, tuple[int, int]] = {}  # file -> (mtime_ns, size) last hashed

    def _record_staged(self, trials) -> None:
        if not trials:
            return
        staging = Path(trials[0].storage.experiment_driver_staging_path)
        if not staging.is_dir():
            return
        fresh = {}
        for p in staging.iterdir():
            if not p.is_file() or p.name.startswith("."):
                continue
            st = p.stat()
            if self._seen.get(p.name) != (st.st_mtime_ns, st.st_size):
                fresh[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
                self._seen[p.name] = (st.st_mtime_ns, st.st_size)
        if fresh:
            record(self.state_path, fresh)

    def on_step_end(self, iteration, trials, **info) -> None:  # right after a snapshot
        self._record_staged(trials)

    def _record_error(self, trial) -> None:
        """A failed trial's ``error.pkl``, written by Ray Tune just before these hooks."""
        path = Path(trial.local_path) / TRIAL_FILES[0]
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            record(self.state_path, {f"{path.parent.name}/{path.name}": digest})

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._record_error(trial)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self._record_error(trial)

    def on_experiment_end(self, trials, **info) -> None:  # after the final snapshot
        self._record_staged(trials)

    def __getstate__(self) -> dict[str, Any]:  # pickled with the Tuner: nothing stale
        return {"state_path": self.state_path, "_seen": {}}
