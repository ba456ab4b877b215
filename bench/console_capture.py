"""The console as a user sees it: `gemma4-embed` on a pseudo-terminal, its progress bar and closing lines captured.

Makes seeded 16 kHz mono WAV clips of 1-3 s (bench/host_cost.py's), a few of them broken (bytes
that are no audio, so the closing lines show dead letters with their reasons), and the tiny
encoder, then runs `gemma4-embed` (FnApiRunner) with stdin, stdout and stderr on a pseudo-terminal
of `--columns` columns, so it draws its progress bar as on a user's terminal. Writes, into
`--output_folder`:

- `console.txt`: every frame the bar drew (one a line: the terminal's carriage returns are line
  ends here) and the closing lines, with the command above them;
- `console.png` (with `--png`): the last frame before 100% and the closing lines, drawn as a
  terminal would, by headless Chromium (`/usr/bin/chromium`).

Usage:

    python bench/console_capture.py --clips 600 --output_folder docs --png
    python bench/console_capture.py --output_folder docs --png_only  # console.png from console.txt

Nothing here is timed; it shows the console, the figures in it are the run's.
"""

import argparse
import html
import os
import pathlib
import re
import select
import subprocess
import sys
import tempfile

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # terminal control sequences (cursor moves, line erases)
CHROMIUM = "/usr/bin/chromium"


def run_on_terminal(command: list[str], columns: int, env: dict) -> str:
    """Runs `command` with a pseudo-terminal of `columns` x 40 as its stdin, stdout and stderr; returns what it wrote."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: every process holding it exited
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    process.wait()
    os.close(leader)
    if process.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed ({process.returncode}):\n{b''.join(chunks).decode()[-4000:]}")
    return b"".join(chunks).decode("utf-8", "replace")


def frames(raw: str) -> list[str]:
    """The terminal's lines as drawn in turn: carriage returns and newlines both end one; control sequences dropped."""
    return [line.rstrip() for line in re.split(r"\r\n|\r|\n", CSI.sub("", raw)) if line.strip()]


def render_png(lines: list[str], path: pathlib.Path, columns: int) -> None:
    """`lines` as a dark terminal window, screenshot by headless Chromium into `path`."""
    path = path.resolve()
    page = path.with_suffix(".html")
    body = html.escape("\n".join(lines))
    page.write_text(
        "<!doctype html><meta charset='utf-8'><style>body{margin:0;background:#1e1e1e}"
        "pre{margin:0;padding:12px;color:#e6e6e6;font:14px/1.35 'DejaVu Sans Mono',monospace}</style>"
        f"<pre>{body}</pre>",
        encoding="utf-8",
    )
    width, height = max(columns, *map(len, lines)) * 9 + 40, len(lines) * 19 + 30
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        + ["--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
        + [f"--window-size={width},{height}", f"--screenshot={path}", f"file://{page}"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    page.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--broken", type=int, default=3, help="Of them, files that are no audio.")
    parser.add_argument("--columns", type=int, default=130)
    parser.add_argument("--output_folder", default="docs")
    parser.add_argument("--png", action="store_true", help="Also draw the last frames as console.png (Chromium).")
    parser.add_argument("--png_only", action="store_true", help="Only draw console.png from an existing console.txt.")
    args = parser.parse_args()

    folder = pathlib.Path(args.output_folder)
    if not args.png_only:
        text = capture(args)
        (folder / "console.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
        print(f"{len(text)} lines captured into {folder / 'console.txt'}")
    if args.png or args.png_only:
        text = (folder / "console.txt").read_text(encoding="utf-8").splitlines()
        bars = [index for index, line in enumerate(text) if "inputs [" in line and "100%" not in line]
        last_bar = bars[-1] if bars else 1
        closing = [line for line in text[last_bar + 1 :] if "inputs [" not in line]
        render_png([text[0], text[last_bar], *closing], folder / "console.png", args.columns)


def capture(args) -> list[str]:
    """The command and every line `gemma4-embed` drew on the terminal, temporary paths shown as /tmp/corpus."""
    from host_cost import make_clips
    from host_cost import make_encoder

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="gemma4_console_"))
    clips, weights = workdir / "clips", workdir / "tiny.keras"
    clips.mkdir()
    make_clips(clips, args.clips)
    for index in range(args.broken):
        (clips / f"clip-{index:05d}.wav").write_bytes(b"this is no audio " * 40)
    make_encoder(weights)
    flags = ["--input", f"{clips}/*.wav", "--output", f"{workdir}/out/embeddings", "--weights", str(weights)]
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT), "TERM": "xterm-256color", "COLUMNS": str(args.columns)}
    drawn = frames(run_on_terminal([sys.executable, "-m", "gemma4_audio_embed", *flags], args.columns, env))
    shown_flags = " ".join(flag.replace(str(workdir), "/tmp/corpus") for flag in flags)
    return [f"$ gemma4-embed {shown_flags}", *[line.replace(str(workdir), "/tmp/corpus") for line in drawn]]


if __name__ == "__main__":
    main()
