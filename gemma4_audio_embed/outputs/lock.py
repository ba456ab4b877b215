"""The output lock, `<output>-lock.json`: one live run per output prefix.

A launch creates the lock with a create-if-absent write, so of two launches into one prefix
exactly one wins: `O_EXCL` on a local disk, and on `gs://` an upload with
`if_generation_match=0` (google-cloud-storage's generation precondition). The lock holds the
run id, host, pid, start time and heartbeat. While the launcher waits for its job it rewrites
the heartbeat every `HEARTBEAT_SECONDS`; the job's last step removes the lock, and so does the
launcher when the job fails. A lock is stale when its process is gone (same host, pid not
running) or its heartbeat is older than its `stale_seconds`; the next launch takes a stale lock
over, and says so. A lock written by a launch that does not wait (a Flex Template) has no
heartbeat: it is held until the job's last step removes it.

Every change of an existing lock is a compare-and-swap against the version last read (the
generation on GCS; locally the bytes, under a short-lived `O_EXCL` mutex file), so a heartbeat,
a takeover and a release never undo one another.
"""

import contextlib
import dataclasses
import json
import logging
import os
import socket
import threading
import time
import uuid

from apache_beam.io.filesystems import FileSystems

HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 300.0  # a lock whose heartbeat is this old belongs to a run that is gone
_MUTEX_STALE_SECONDS = 60.0  # a local mutex file this old was left by a killed process
_MUTEX_WAIT_SECONDS = 10.0


class OutputHeld(RuntimeError):
    """Raised at launch when another live run holds the output prefix; `holder` is its lock."""

    def __init__(self, path: str, holder: dict):
        self.path = path
        self.holder = holder
        super().__init__(f"{path} is held by {describe_holder(holder)}")


def describe_holder(holder: dict) -> str:
    """`run R (host H, pid P, started ..., heartbeat N s ago)`, from a lock's JSON fields."""
    started = holder.get("started")
    started_text = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)) if started else "?"
    heartbeat = holder.get("heartbeat")
    beat = "no heartbeat: a submitted job" if heartbeat is None else f"heartbeat {time.time() - heartbeat:.0f} s ago"
    return (
        f"run {holder.get('run_id', '?')} (host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, "
        f"started {started_text}, {beat})"
    )


def _pid_running(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True  # someone else's process, or a pid we cannot test: assume it runs
    return True


def is_stale(holder: dict, now: float | None = None) -> bool:
    """Whether the run of lock `holder` is gone: its process has ended on this host, or its
    heartbeat is older than its `stale_seconds`. A lock without heartbeat (a submitted job) is
    never stale; one that is not a lock's JSON object is."""
    if not isinstance(holder, dict) or "run_id" not in holder:
        return True
    if holder.get("heartbeat") is None:
        return False
    if holder.get("host") == socket.gethostname() and not _pid_running(holder.get("pid")):
        return True
    now = time.time() if now is None else now
    return now - float(holder["heartbeat"]) > float(holder.get("stale_seconds", STALE_SECONDS))


class _LocalStore:
    """The lock as a local file; versions are its bytes, changed only under an `O_EXCL` mutex file."""

    def __init__(self, path: str):
        self.path = path
        self._mutex = f"{path}.mutex"

    def create(self, data: bytes):
        """Creates the lock file whole or not at all: written under a unique name, then hard-linked
        to its name, which fails if the name exists. (`O_EXCL` then a write would let another
        launch read an empty file between the two, take it for a broken lock and take it over.)"""
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        temporary = f"{self.path}.{uuid.uuid4().hex}.tmp"
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temporary, self.path)
        except FileExistsError:
            return None
        except OSError:  # a file system without hard links (some FUSE mounts): O_EXCL, then the bytes
            return self._create_exclusive(data)
        finally:
            os.remove(temporary)
        return data

    def _create_exclusive(self, data: bytes):
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return None
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return data

    def read(self):
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        return data, data

    @contextlib.contextmanager
    def _exclusive(self):
        deadline = time.monotonic() + _MUTEX_WAIT_SECONDS
        while True:
            try:
                os.close(os.open(self._mutex, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                break
            except FileExistsError:
                with contextlib.suppress(FileNotFoundError):
                    if time.time() - os.stat(self._mutex).st_mtime > _MUTEX_STALE_SECONDS:
                        os.remove(self._mutex)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self._mutex} has been held for over {_MUTEX_WAIT_SECONDS} s") from None
                time.sleep(0.02)
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._mutex)

    def replace(self, data: bytes, version):
        with self._exclusive():
            found = self.read()
            if found is None or found[1] != version:
                return None
            temporary = f"{self.path}.new"
            with open(temporary, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path)
        return data

    def delete(self, version) -> bool:
        with self._exclusive():
            found = self.read()
            if found is None or found[1] != version:
                return False
            os.remove(self.path)
        return True


class _GcsStore:
    """The lock as a GCS object; versions are its generation, every change a generation precondition."""

    def __init__(self, uri: str):
        from apache_beam.io.gcp import gcsio

        self._bucket_name, self._name = gcsio.parse_gcs_path(uri)
        self._bucket = gcsio.GcsIO().client.bucket(self._bucket_name)

    def _upload(self, data: bytes, generation):
        from google.api_core import exceptions

        blob = self._bucket.blob(self._name)
        try:
            blob.upload_from_string(data, content_type="application/json", if_generation_match=generation)
        except exceptions.PreconditionFailed:
            return None
        return blob.generation

    def create(self, data: bytes):
        return self._upload(data, 0)

    def read(self):
        from google.api_core import exceptions

        blob = self._bucket.get_blob(self._name)
        if blob is None:
            return None
        try:
            return blob.download_as_bytes(if_generation_match=blob.generation), blob.generation
        except (exceptions.NotFound, exceptions.PreconditionFailed):
            return None  # changed between the two requests: the caller reads again

    def replace(self, data: bytes, version):
        return self._upload(data, version)

    def delete(self, version) -> bool:
        from google.api_core import exceptions

        try:
            self._bucket.blob(self._name).delete(if_generation_match=version)
        except (exceptions.NotFound, exceptions.PreconditionFailed):
            return False
        return True


def _store(path: str):
    scheme = FileSystems.get_scheme(path)
    if scheme is None:
        return _LocalStore(path)
    if scheme == "gs":
        return _GcsStore(path)
    raise ValueError(f"An output lock needs a local or gs:// --output. Received: {path!r}")


@dataclasses.dataclass
class OutputLock:
    """The lock of one run on its output prefix.

    Args:
        path: str. The lock file, `OutputLayout.lock`, local or `gs://`.
        run_id: str. This run's id.
        heartbeat_seconds: float. Time between heartbeats while held. Defaults to 30.
        stale_seconds: float. Heartbeat age after which another launch may take the lock over;
            written into the lock. Defaults to 300.
    """

    path: str
    run_id: str
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    stale_seconds: float = STALE_SECONDS

    def __post_init__(self):
        if not 0 < self.heartbeat_seconds < self.stale_seconds:
            raise ValueError(
                "`heartbeat_seconds` must be positive and less than `stale_seconds`. "
                f"Received: heartbeat_seconds={self.heartbeat_seconds}, stale_seconds={self.stale_seconds}"
            )
        self._store = _store(self.path)
        self._version = None
        self._started = time.time()
        self._stop = threading.Event()
        self._beats = None

    def _data(self, heartbeat: bool) -> bytes:
        now = time.time()
        holder = {
            "run_id": self.run_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": self._started,
            "heartbeat": now if heartbeat else None,
            "stale_seconds": self.stale_seconds,
        }
        return (json.dumps(holder, sort_keys=True) + "\n").encode()

    def acquire(self, *, heartbeat: bool = True):
        """Takes the lock; with `heartbeat`, keeps it fresh from a thread until `release`.

        Returns:
            None when the prefix was free, or the JSON fields of the stale lock taken over.

        Raises:
            OutputHeld: another live run holds the prefix (or won every race for it).
        """
        for _ in range(5):
            version = self._store.create(self._data(heartbeat))
            if version is not None:
                self._version, taken_over = version, None
                break
            found = self._store.read()
            if found is None:
                continue  # released between our create and read: try again
            try:
                holder = json.loads(found[0])
            except ValueError:
                holder = {"content": found[0][:200].decode(errors="replace")}
            if not is_stale(holder):
                raise OutputHeld(self.path, holder)
            version = self._store.replace(self._data(heartbeat), found[1])
            if version is not None:
                self._version, taken_over = version, holder
                break
        else:
            raise OutputHeld(self.path, {"run_id": "unknown: the lock kept changing while this launch read it"})
        if heartbeat:
            self._beats = threading.Thread(target=self._beat, name="output-lock-heartbeat", daemon=True)
            self._beats.start()
        return taken_over

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                version = self._store.replace(self._data(heartbeat=True), self._version)
            except Exception as error:  # noqa: BLE001 - a missed heartbeat is retried at the next one
                logging.warning("Could not refresh the output lock %s: %s", self.path, error)
                continue
            if version is None:
                return  # removed by the job's last step, or taken over: nothing of ours to refresh
            self._version = version

    def release(self) -> None:
        """Stops the heartbeat and removes the lock if it is still this run's."""
        self._stop.set()
        if self._beats is not None:
            self._beats.join()
        if self._version is not None:
            self._store.delete(self._version)
            self._version = None


def release_run_lock(path: str, run_id: str) -> bool:
    """Removes the lock at `path` if run `run_id` holds it (the job's last step); returns whether it did."""
    store = _store(path)
    found = store.read()
    if found is None:
        return False
    try:
        holder = json.loads(found[0])
    except ValueError:
        return False
    return holder.get("run_id") == run_id and store.delete(found[1])
