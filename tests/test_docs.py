"""The docs as claims: README.md stays a short guide, the generated tables match their code, links resolve.

The schema table of docs/outputs.md and the flags table of docs/operations.md are the exact text
of `schema_table()` and `flags_table()` between their markers; regenerate them from those
functions when a field or flag changes.
"""

import pathlib
import re

import pytest

from gemma4_audio_embed.outputs.schema import schema_table
from gemma4_audio_embed.pipeline.options import flags_table

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
MAX_README_LINES = 200
FENCED_BLOCK = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
STALE_SPELLINGS = ("python -m pipeline", "from transforms")


def _guide_pages() -> list[pathlib.Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _markdown_files() -> list[pathlib.Path]:
    """Every Markdown file of the repository, outside hidden folders and build output."""
    return sorted(
        path
        for path in REPO_ROOT.rglob("*.md")
        if not any(part.startswith(".") or part.endswith(".egg-info") for part in path.relative_to(REPO_ROOT).parts)
    )


def _between_markers(path: pathlib.Path, name: str) -> str:
    text = path.read_text()
    found = re.search(rf"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->", text, re.S)
    assert found, f"{path.name} has no <!-- {name}:start --> ... <!-- {name}:end --> block"
    return found.group(1)


def test_readme_is_a_short_guide():
    assert len(README.read_text().splitlines()) <= MAX_README_LINES


def test_outputs_page_holds_the_schema_table():
    assert _between_markers(DOCS / "outputs.md", "schema") == schema_table()


def test_operations_page_holds_the_flags_table():
    assert _between_markers(DOCS / "operations.md", "flags") == flags_table()


def test_flags_table_lists_each_job_flag_once():
    # One row per option string (--no_features_on_device has its own); --help is argparse's, not the job's.
    options = [re.match(r"\| `(--\w+)", row).group(1) for row in flags_table().splitlines()[2:]]
    assert len(options) == len(set(options))
    assert {"--input", "--output", "--no_features_on_device", "--skip_existing"} <= set(options)
    assert "--help" not in options


def _anchors(page: pathlib.Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation but `-` dropped, spaces as `-`."""
    headings = re.findall(r"^#+ (.+)$", FENCED_BLOCK.sub("", page.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", _guide_pages(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_relative_links_point_to_files_in_the_repository(page):
    text = FENCED_BLOCK.sub("", page.read_text())
    for target in INLINE_LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # a URL
        name, _, anchor = target.partition("#")
        path = (page.parent / name).resolve()
        assert path.is_relative_to(REPO_ROOT), f"{page.name}: {target} leaves the repository"
        assert path.exists(), f"{page.name}: {target} names no file"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{page.name}: {target} names no heading of {path.name}"


def test_no_markdown_file_spells_the_old_layout():
    for path in _markdown_files():
        text = path.read_text()
        for stale in STALE_SPELLINGS:
            assert stale not in text, f"{path.relative_to(REPO_ROOT)} mentions {stale!r}"
