"""Tests for transforms/metrics.py: the progress log."""

import logging

from transforms.metrics import ProgressLog


def test_progress_log_reports_clips_and_audio(caplog):
    progress = ProgressLog(interval_seconds=0.0)
    with caplog.at_level(logging.INFO):
        progress.add(1800.0)
        progress.add(1800.0)
    assert "Embedded 2 clips, 1.00 h of audio" in caplog.text


def test_progress_log_is_quiet_within_its_interval(caplog):
    progress = ProgressLog(interval_seconds=3600.0)
    with caplog.at_level(logging.INFO):
        progress.add(1.0)
    assert "Embedded" not in caplog.text
