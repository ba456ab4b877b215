"""The end of a run and its start: the new set of files moved into place, the old set removed, temporaries swept.

A sharded run writes its record and index files into its staging folder
(`OutputLayout.staging_folder`). Once they are all there and checked (`outputs.output_check`),
`CommitOutput` removes the previous summary (so that an output caught half-way has none and
reads as incomplete), moves the staged files to their final names, removes every record, index,
dead-letter and duplicates file of the prefix that is not this run's (another shard count's
shards, an earlier run's dead letters, per-input files), writes the stamp and removes the run's
temporary folder. So a run replaces the old set only once the new one is complete, and a run
that fails leaves the old set as it was. A `--skip_existing` run writes each input's files in
place and keeps everything earlier runs wrote; its temporary folder is removed the same way.

`sweep_leftovers`, at launch while the lock is held, removes what killed runs left behind.
"""

import glob
import logging
import os
import posixpath
import re

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from gemma4_audio_embed.outputs.atomic import write_atomically
from gemma4_audio_embed.outputs.layout import OutputLayout
from gemma4_audio_embed.reprs import ConfigRepr


def _matched(pattern: str) -> list[str]:
    return sorted(metadata.path for metadata in FileSystems.match([pattern])[0].metadata_list)


def _exists(path: str) -> bool:
    return bool(FileSystems.match([path])[0].metadata_list)


def leftovers(layout: OutputLayout) -> list[str]:
    """What runs left behind under `layout`: temporary folders and files, Beam's sink folders.

    A local folder is listed as one path; on GCS, where folders are name prefixes, every object
    in it is listed.
    """
    found = []
    for pattern in layout.leftover_globs:
        found += glob.glob(pattern) if FileSystems.get_scheme(pattern) is None else _matched(pattern)
    return sorted(set(found))


def sweep_leftovers(layout: OutputLayout) -> list[str]:
    """Removes `leftovers(layout)`; returns what it removed. Call it only while holding the output lock."""
    found = leftovers(layout)
    if found:
        logging.warning("Removing %d leftovers of earlier runs under %s: %s", len(found), layout.prefix, found[:5])
        FileSystems.delete(found)
    return found


def run_files(layout: OutputLayout) -> list[str]:
    """Every record, index, dead-letter and duplicates file under the prefix, of any run and format."""
    name = re.escape(posixpath.basename(layout.prefix))
    runs_files = re.compile(rf"{name}-(dead-letter|duplicates)-(.+-)?\d{{5}}-of-\d{{5}}\.jsonl")
    found = [
        path
        for path in _matched(f"{layout.prefix}-*")
        if layout.is_sharded_record_file(path)
        or layout.is_index_file(path)
        or runs_files.fullmatch(posixpath.basename(path))
    ]
    return found + _matched(f"{layout.by_input_folder}/*")


def remove_folder(path: str) -> None:
    """Removes the folder `path` and all it holds, local or on GCS; nothing when it is not there."""
    if FileSystems.get_scheme(path) is None:
        if os.path.isdir(path):
            FileSystems.delete([path])
    else:
        FileSystems.delete([path.rstrip("/") + "/"])


def commit_shards(layout: OutputLayout, written: list, keep: list[str]) -> None:
    """Moves the staged files of `written` (`WrittenFile`s) into place and removes the prefix's
    other run files but `keep` (this run's dead-letter and duplicates files). Idempotent: a file
    already moved is left as it is."""
    if _exists(layout.summary):
        FileSystems.delete([layout.summary])
    sources, targets = [], []
    for report in written:
        for staged, final in (
            (report.written_index_file, report.index_file),
            (report.written_record_file, report.record_file),
        ):
            if staged != final and _exists(staged):
                sources.append(staged)
                targets.append(final)
    if sources:
        FileSystems.rename(sources, targets)  # replaces a file of the old set under the same name
    new_set = {report.record_file for report in written} | {report.index_file for report in written} | set(keep)
    stale = [path for path in run_files(layout) if path not in new_set]
    if stale:
        logging.info("Removing %d files of the output's previous set: %s", len(stale), stale[:5])
        FileSystems.delete(stale)


class _Commit(beam.DoFn):
    def __init__(self, layout: OutputLayout, run_id: str, stamp_json: str | None):
        self.layout = layout
        self.run_id = run_id
        self.stamp_json = stamp_json

    def process(self, checked, written, kept):
        if _exists(self.layout.report):  # a page of the outputs this run replaces or adds to
            FileSystems.delete([self.layout.report])
        if not self.layout.per_input:
            commit_shards(self.layout, list(written), list(kept))
        if self.stamp_json is not None:
            write_atomically(self.layout.stamp, self.stamp_json.encode())
        remove_folder(self.layout.temp_folder(self.run_id))
        yield checked


class CommitOutput(ConfigRepr, beam.PTransform):
    """Puts the run's checked files in place (`commit_shards`), writes the stamp, removes the run's temporary folder
    and the report page of the outputs it replaces or adds to.

    Applied to the one element `CheckOutput` emits.

    Args:
        layout: OutputLayout. The job's outputs.
        run_id: str. This run's id.
        written: PCollection of `WrittenFile`.
        kept: PCollection of str. This run's dead-letter and duplicates files.
        stamp_json: str or None. The stamp to write (`pipeline.stamp`), or None when the launch wrote it.

    Returns:
        The input element, once done.
    """

    def __init__(self, *, layout: OutputLayout, run_id: str, written, kept, stamp_json: str | None):
        super().__init__()
        self.layout = layout
        self.run_id = run_id
        self.written = written
        self.kept = kept
        self.stamp_json = stamp_json

    def expand(self, checked):
        return checked | "Commit" >> beam.ParDo(
            _Commit(self.layout, self.run_id, self.stamp_json),
            beam.pvalue.AsList(self.written),
            beam.pvalue.AsList(self.kept),
        )
