#!/usr/bin/env bash
# Regenerates the synthetic speech clips in tests/data/ and examples/ with espeak-ng and sox.
#
# Needs: espeak-ng 1.51, sox 14.4 with libsox-fmt-all (for Ogg Vorbis and MP3), GNU tar, and
# python with soundfile >= 0.13 for the final decode check. On Debian/Ubuntu:
#   apt-get update && apt-get install -y espeak-ng sox libsox-fmt-all
# Run from anywhere: bash tests/data/make_speech_clips.sh
#
# Every clip starts as espeak-ng's native output (22050 Hz, mono, 16-bit WAV); sox then
# peak-normalises to -3 dBFS (`norm -3`, headroom so resampling never clips), resamples,
# changes the channel count and encodes. sox runs with -D (no dither) and -R (repeatable) so a
# rerun with the same tool versions gives the same samples. Stereo files carry the same signal
# on both channels (sox -c 2 duplicates a mono input).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TESTS="$ROOT/tests/data"
EXAMPLES="$ROOT/examples"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# speak NAME VOICE TEXT: espeak-ng at 150 words per minute into $WORK/NAME.wav (22050 Hz mono).
speak() {
  espeak-ng -v "$2" -s 150 -w "$WORK/$1.wav" "$3"
}

# ---- tests/data: one sentence, five containers, rates and channel counts -------------------
speak fox en-us "The quick brown fox jumps over the lazy dog."
sox -D -R "$WORK/fox.wav" -r 16000 -c 1 -b 16 "$TESTS/speech_16k.wav" norm -3
sox -D -R "$WORK/fox.wav" -r 22050 -c 1 -b 16 "$TESTS/speech_22k.flac" norm -3
sox -D -R "$WORK/fox.wav" -r 44100 -c 2 -b 16 "$TESTS/speech_44k_stereo.wav" norm -3
sox -D -R "$WORK/fox.wav" -r 8000 -c 1 -C 3 "$TESTS/speech_8k.ogg" norm -3
sox -D -R "$WORK/fox.wav" -r 48000 -c 1 -C 64 "$TESTS/speech_48k.mp3" norm -3

# ---- examples: a small mixed corpus ----------------------------------------------------------
speak weather en-us "Tomorrow will be sunny in the morning, with light rain expected in the evening."
speak directions en-gb "Turn left at the second junction, then follow the signs to the railway station."
speak greeting en-us+f3 "Hello, and welcome to the audio embedding example."
speak recipe en-gb-scotland "Whisk two eggs with a cup of milk, then fold in the flour slowly."
speak numbers en-us "One, two, three, four, five, six, seven, eight, nine, ten."
sox -D -R "$WORK/weather.wav" -r 16000 -c 1 -b 16 "$EXAMPLES/weather_16k.wav" norm -3
sox -D -R "$WORK/directions.wav" -r 22050 -c 1 -b 16 "$EXAMPLES/directions_22k.flac" norm -3
sox -D -R "$WORK/greeting.wav" -r 44100 -c 2 -b 16 "$EXAMPLES/greeting_44k_stereo.wav" norm -3
sox -D -R "$WORK/recipe.wav" -r 48000 -c 2 -C 64 "$EXAMPLES/recipe_48k_stereo.mp3" norm -3
sox -D -R "$WORK/numbers.wav" -r 8000 -c 1 -C 3 "$EXAMPLES/numbers_8k.ogg" norm -3

# A ~70 s clip (longer than HF's 30 s window): one paragraph in three voices, joined by sox.
PARAGRAPH="Speech embeddings turn a recording into a sequence of vectors. \
The encoder listens to one second of audio and produces twenty five tokens. \
Long recordings are cut into windows, encoded one window at a time, and joined again. \
This paragraph is long enough to need more than one window, which is the point of it. \
That is all. Thank you for listening."
speak long_a en-us "$PARAGRAPH"
speak long_b en-gb "$PARAGRAPH"
speak long_c en-us+f3 "$PARAGRAPH"
sox -D -R "$WORK/long_a.wav" "$WORK/long_b.wav" "$WORK/long_c.wav" -r 16000 -c 1 -C 3 \
  "$EXAMPLES/long_story_16k.ogg" norm -3

# A WebDataset-style shard: members <key>.flac and <key>.json, grouped by key, fixed metadata.
SHARD="$WORK/shard"
mkdir -p "$SHARD"
shard_clip() {  # shard_clip KEY VOICE TEXT
  speak "$1" "$2" "$3"
  sox -D -R "$WORK/$1.wav" -r 16000 -c 1 -b 16 "$SHARD/$1.flac" norm -3
  printf '{"key": "%s", "voice": "%s", "sample_rate": 16000, "text": "%s"}\n' \
    "$1" "$2" "$3" > "$SHARD/$1.json"
}
shard_clip clip-000 en-us "The library opens at nine on weekdays."
shard_clip clip-001 en-gb "Please keep your ticket until the end of the journey."
shard_clip clip-002 en-us+f3 "The meeting has been moved to Thursday afternoon."
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2026-01-01 00:00:00Z' \
  -C "$SHARD" -cf "$EXAMPLES/shard-000000.tar" \
  clip-000.flac clip-000.json clip-001.flac clip-001.json clip-002.flac clip-002.json

# ---- every file must decode with soundfile ---------------------------------------------------
python - "$TESTS" "$EXAMPLES" "$SHARD" <<'EOF'
import pathlib
import sys

import soundfile

for folder in sys.argv[1:]:
    for path in sorted(pathlib.Path(folder).glob("*")):
        if path.suffix in {".wav", ".flac", ".ogg", ".mp3"}:
            samples, rate = soundfile.read(path, always_2d=True)
            print(f"{path.name}: {rate} Hz, {samples.shape[1]} ch, {samples.shape[0] / rate:.2f} s")
EOF
