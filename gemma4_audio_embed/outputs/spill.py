"""Records to disk as they are encoded, so that only their places cross a shuffle.

`SpillRecords` runs right after `EncodeRecord` and takes no side input, so every runner fuses it
with the encoder: it appends each serialized record to its bundle's spill file in the run's
temporary folder (`OutputLayout.spill_folder`) and passes on a `RecordPiece`, the record's index
row and place (file, offset, length). The writer groups pieces, not records, by output file and
reads the records back in the order it writes them (`spilled_records`). A spill file is complete
when its bundle ends, before anything downstream of a shuffle reads it; a retried bundle writes
new spill files and its failed attempt's pieces are dropped with the attempt's other outputs, so
an orphaned spill file costs only disk until the run's temporary folder is removed.
"""

import collections
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from collections.abc import Iterator
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.reprs import ConfigRepr

SPILL_FILE_BYTES = 1 << 30  # a bundle starts a new spill file after 1 GiB of records
_OPEN_SPILL_FILES = 32  # local spill files kept open while records are read back


class RecordPiece(NamedTuple):
    """Where one serialized record waits: its index row, and `length` bytes at `offset` of `spill_file`."""

    row: dict
    spill_file: str
    offset: int
    length: int


class SpillRecords(ConfigRepr, beam.DoFn):
    """`(index row, record bytes)` -> `RecordPiece`, the bytes appended to this bundle's spill file.

    Args:
        folder: str. Where spill files go (local or any FileSystems URI); a bundle names its files
            `<uuid4 hex>.spill`.
    """

    def __init__(self, folder: str):
        self.folder = folder

    def start_bundle(self):
        self._file = self._path = None
        self._written = 0

    def _roll(self) -> None:
        self._close()
        self._path = FileSystems.join(self.folder, f"{uuid.uuid4().hex}.spill")
        self._file = FileSystems.create(self._path)
        self._written = 0

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def process(self, element):
        row, record = element
        if self._file is None or self._written >= SPILL_FILE_BYTES:
            self._roll()
        self._file.write(record)
        yield RecordPiece(row=row, spill_file=self._path, offset=self._written, length=len(record))
        self._written += len(record)

    def finish_bundle(self):
        self._close()  # the bundle's pieces are committed only after this, so their bytes are in place

    def teardown(self):
        self._close()


def _local_records(pieces: list) -> Iterator[bytes]:
    opened = collections.OrderedDict()  # spill file -> open file, least recently used first
    try:
        for piece in pieces:
            f = opened.pop(piece.spill_file, None) or open(piece.spill_file, "rb")
            opened[piece.spill_file] = f
            if len(opened) > _OPEN_SPILL_FILES:
                opened.popitem(last=False)[1].close()
            f.seek(piece.offset)
            data = f.read(piece.length)
            if len(data) != piece.length:
                raise OSError(f"{piece.spill_file} ends before byte {piece.offset + piece.length} of a spilled record")
            yield data
    finally:
        for f in opened.values():
            f.close()


def _remote_records(pieces: list) -> Iterator[bytes]:
    """Copies the pieces' bytes, file by file in file order, to one local scratch file; reads them from there."""
    folder = tempfile.mkdtemp(prefix="gemma4_embed_fetch_")
    try:
        scratch = os.path.join(folder, "records")
        places = {}  # position in `pieces` -> offset in the scratch file
        by_file = collections.defaultdict(list)
        for position, piece in enumerate(pieces):
            by_file[piece.spill_file].append((piece.offset, position))
        with open(scratch, "wb") as out:
            for spill_file, places_in_file in by_file.items():
                with FileSystems.open(spill_file) as f:
                    for offset, position in sorted(places_in_file):
                        f.seek(offset)
                        data = f.read(pieces[position].length)
                        if len(data) != pieces[position].length:
                            raise OSError(f"{spill_file} ends before byte {offset + len(data)} of a spilled record")
                        places[position] = out.tell()
                        out.write(data)
        with open(scratch, "rb") as f:
            for position, piece in enumerate(pieces):
                f.seek(places[position])
                yield f.read(piece.length)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def spilled_records(pieces: Iterable[RecordPiece]) -> Iterator[bytes]:
    """The records of `pieces`, in the order of `pieces`, one at a time.

    Local spill files are read in place; remote ones (`gs://`) are first copied, each read front
    to back, into a local scratch file, so that no record costs a request of its own.
    """
    pieces = list(pieces)
    if all(FileSystems.get_scheme(piece.spill_file) is None for piece in pieces):
        return _local_records(pieces)
    return _remote_records(pieces)
