"""The examples run as their docstrings say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from faceripper.config import load_config

from conftest import run_cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _need(module: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        __import__(module)  # CI installs the 'test' extra: a missing module fails there
    else:
        pytest.importorskip(module, reason=f"{module} is in the 'test' extra")


def test_example_config_is_v1_format_and_loads():
    config = load_config(EXAMPLES / "config.json", check_folders=False)
    mina = config.person("Myoui Mina")
    assert (mina.label, mina.group) == ("名井 南", "TWICE (트와이스)")
    assert mina.faces_dir == (EXAMPLES / "refs" / "mina").resolve()


@pytest.mark.slow
def test_demo_builds_a_video_and_rips_it(tmp_path):
    _need("skimage")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py"), str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    crops = list((tmp_path / "demo" / "faces" / "eileen_collins").glob("*.jpg"))
    assert len(crops) >= 30
    assert "crops in" in result.stdout


@pytest.mark.slow
def test_train_classifier_runs_on_a_ripped_dataset(reference_run):
    _need("torchvision")
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "train_classifier.py"),
            str(reference_run),
            "--epochs",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "classes: halle, hu" in result.stdout
    assert "validation accuracy" in result.stdout


@pytest.mark.slow
def test_train_classifier_runs_on_a_leak_free_split(reference_run, tmp_path):
    _need("torchvision")
    split = tmp_path / "split"
    result = run_cli(["split", str(reference_run), "--out", str(split), "--fractions", "0.5,0.5"])
    assert result.exit_code == 0, result.stderr
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_classifier.py"), str(split), "--epochs", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "classes: halle, hu" in result.stdout
    assert "validation accuracy" in result.stdout and "training and" in result.stdout
