"""rip --scheduler: the work units on a real Dask cluster (separate processes, 127.0.0.1).

Each run's output must equal the local reference run's file for file, manifest
included. Needs the ``distributed`` extra; skipped without it, except under ``CI=true``.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from faceripper.writer import read_manifest

from conftest import IN_CI, distributed_package, local_cluster, rip_args, run_cli, tree_digest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dask() -> Any:
    """The ``distributed`` package (the test is skipped without it, except in CI)."""
    return distributed_package()


@pytest.fixture(scope="module")
def cluster(dask) -> Any:
    """A scheduler (in this process) and two single-threaded worker processes."""
    with local_cluster() as local:
        yield local


@pytest.fixture
def control(cluster, dask) -> Any:
    """A client of the test's own, to look at and kill workers."""
    with dask.Client(cluster.scheduler_address, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


def _target(reference_run: Path, tmp_path: Path) -> Path:
    """A fresh target beside a copy of the reference run's encodings cache."""
    shutil.copy(reference_run.parent / "refs.npz", tmp_path / "refs.npz")
    return tmp_path / "faces"


def test_cluster_run_equals_local_run(reference_run, lfw_clip, cluster, tmp_path):
    target = _target(reference_run, tmp_path)
    args = rip_args(lfw_clip, target, "--scheduler", cluster.scheduler_address)
    # A video folder relative to the client's working folder, which the workers do not share.
    args[args.index("--video-dir") + 1] = "videos"
    result = run_cli(args, cwd=lfw_clip["base"])
    assert result.exit_code == 0, result.stderr
    assert tree_digest(target) == tree_digest(reference_run)
    rows = len(read_manifest(target / "manifest.csv"))
    assert f"; {rows} manifest rows" in result.stdout  # the same summary as a local run


def _faceripper(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "faceripper", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_for_rows(target: Path, process: subprocess.Popen[bytes], limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if (target / "manifest.csv").is_file() and read_manifest(target / "manifest.csv"):
            return
        if process.poll() is not None:
            pytest.fail(f"rip ended before writing a row: {process.stderr.read().decode()}")
        time.sleep(0.05)
    pytest.fail(f"no manifest row after {limit_s} s")


def test_a_worker_killed_mid_run_loses_nothing(reference_run, lfw_clip, control, tmp_path):
    target = _target(reference_run, tmp_path)
    address = control.scheduler.address
    process = _faceripper(rip_args(lfw_clip, target, "--scheduler", address))
    try:
        pids = control.run(os.getpid)
        # Both workers busy: two segments in flight (the clip has one scan, before them).
        deadline = time.monotonic() + 60
        busy: list[str] = []
        while len(busy) < 2 and process.poll() is None and time.monotonic() < deadline:
            busy = [worker for worker, keys in control.processing().items() if keys]
            time.sleep(0.05)
        assert len(busy) == 2 and process.poll() is None, "no two segments in flight"
        os.kill(pids[busy[0]], signal.SIGKILL)  # its unit in flight is lost with it
        _, stderr = process.communicate(timeout=120)
    finally:
        _stop(process)
    assert process.returncode == 0, stderr.decode()
    assert "crashed" not in stderr.decode()
    assert tree_digest(target) == tree_digest(reference_run)


def _crash_on_b(task):
    """A segment function whose worker dies outright on one video, as a decoder crash would."""
    from faceripper.worker import process_segment

    if task.video_key.startswith("b_"):
        os._exit(139)
    return process_segment(task)


def test_a_unit_that_keeps_killing_workers_is_its_videos_error(
    reference_run, lfw_clip, cluster, control, tmp_path, monkeypatch
):
    """KilledWorker (after allowed-failures) becomes the segment's crash; the run goes on."""
    import faceripper.pipeline

    videos = tmp_path / "videos"
    videos.mkdir()
    clip = (lfw_clip["videos"] / "clip.avi").read_bytes()
    for name in ("a_good.avi", "b_crash.avi"):
        (videos / name).write_bytes(clip + name.encode())  # two files, not one under two names
    monkeypatch.setattr(faceripper.pipeline, "process_segment", _crash_on_b)
    monkeypatch.setattr(cluster.scheduler, "allowed_failures", 0)  # the first death is final
    target = _target(reference_run, tmp_path)
    args = rip_args(lfw_clip, target, "--scheduler", cluster.scheduler_address)
    args[args.index("--video-dir") + 1] = str(videos)
    args[args.index("--segment-frames") + 1] = "60"  # one segment a video: one crash
    # Two units in flight on two idle workers: Dask gives them a worker each, so the death
    # of b's worker counts against b's unit alone (a unit queued on a dying worker gets a
    # strike too; with allowed-failures 0, one strike is final).
    result = run_cli([*args, "--threads", "1"])
    assert result.exit_code == 1, result.stderr
    assert "b_crash.avi" in result.stderr and "the worker process crashed" in result.stderr
    assert "a_good.avi" not in result.stderr
    rows = read_manifest(target / "manifest.csv")
    assert not [r for r in rows if r["video"] == "b_crash.avi"]
    assert [r for r in rows if r["video"] == "a_good.avi"]
    control.wait_for_workers(2, timeout=60)  # the nanny restarts the dead worker


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill a process group started by this test, if it still runs."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dask_command(*args: str) -> subprocess.Popen[bytes]:
    dask_cli = Path(sys.executable).with_name("dask")
    return subprocess.Popen(
        [str(dask_cli), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_losing_the_scheduler_stops_the_run_and_the_next_run_completes(
    dask, reference_run, lfw_clip, tmp_path
):
    """A scheduler and a worker started by hand, as docs/distributed.md shows; the
    scheduler is killed mid-run; rerunning without --scheduler finishes the dataset."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _dask_command(
        "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"
    )
    worker = _dask_command(
        "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"
    )
    children = [worker, scheduler]
    try:
        with dask.Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)
        target = _target(reference_run, tmp_path)
        args = rip_args(lfw_clip, target)
        process = _faceripper([*args, "--scheduler", address])
        children.insert(0, process)
        _wait_for_rows(target, process)
        os.killpg(scheduler.pid, signal.SIGKILL)
        started = time.monotonic()
        _, stderr = process.communicate(timeout=60)
        assert time.monotonic() - started < 20
    finally:
        for child in children:
            _stop(child)
    assert process.returncode == 1, stderr.decode()
    assert "lost the connection to the Dask scheduler" in stderr.decode()
    assert "Traceback" not in stderr.decode()  # one clear line, not Dask's reconnection log
    assert tree_digest(target) != tree_digest(reference_run)  # it was cut short
    resumed = run_cli([*args, "--threads", "2"])
    assert resumed.exit_code == 0, resumed.stderr
    assert tree_digest(target) == tree_digest(reference_run)


def test_an_unreachable_scheduler_fails_at_once(dask, lfw_clip, tmp_path):
    target = tmp_path / "faces"
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    result = run_cli(rip_args(lfw_clip, target, "--scheduler", address, "--scheduler-timeout", "1"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot connect to the Dask scheduler at {address}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 15
    assert not (tmp_path / "refs.npz").exists()  # failed before encoding the references
    assert not target.exists() or not any(target.iterdir())


def test_scheduler_without_the_extra_is_a_one_line_error(lfw_clip, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    result = run_cli(rip_args(lfw_clip, tmp_path / "faces", "--scheduler", "tcp://10.0.0.1:8786"))
    assert result.exit_code == 2
    assert result.stderr == (
        'error: --scheduler needs the package "distributed": '
        'pip install "faceripper[distributed]"\n'
    )


# --- TLS ---------------------------------------------------------------------------------


def _certificates(folder: Path) -> dict[str, Path]:
    """A throwaway CA, and a certificate + key it signed for the cluster and the client."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def write_key(key: Any, path: Path) -> Path:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return path

    def build(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    files = {}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("faceripper test CA", ca_key, "faceripper test CA", ca_key, ca=True)
    files["ca"] = folder / "ca.pem"
    files["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    for who in ("cluster", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = build(who, key, "faceripper test CA", ca_key, ca=False)
        files[f"{who}_key"] = write_key(key, folder / f"{who}.key")
        files[f"{who}_cert"] = folder / f"{who}.pem"
        files[f"{who}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def test_tls_cluster_with_client_certificates(dask, reference_run, lfw_clip, tmp_path):
    if not IN_CI:
        pytest.importorskip("cryptography", reason="makes the test certificates (test extra)")
    pki = tmp_path / "pki"
    pki.mkdir()
    files = _certificates(pki)
    security = dask.security.Security(
        tls_ca_file=str(files["ca"]),
        tls_scheduler_cert=str(files["cluster_cert"]),
        tls_scheduler_key=str(files["cluster_key"]),
        tls_worker_cert=str(files["cluster_cert"]),
        tls_worker_key=str(files["cluster_key"]),
        tls_client_cert=str(files["client_cert"]),
        tls_client_key=str(files["client_key"]),
        require_encryption=True,
    )
    tls = [
        "--tls-ca-file",
        str(files["ca"]),
        "--tls-cert",
        str(files["client_cert"]),
        "--tls-key",
        str(files["client_key"]),
    ]
    # One worker with two threads: it must still run one unit at a time (dlib's detector
    # is not thread-safe), and say so.
    with local_cluster(
        n_workers=1, threads_per_worker=2, protocol="tls://", security=security
    ) as secure:
        address = secure.scheduler_address
        assert address.startswith("tls://")
        target = _target(reference_run, tmp_path)
        result = run_cli(rip_args(lfw_clip, target, "--scheduler", address, *tls))
        assert result.exit_code == 0, result.stderr
        assert tree_digest(target) == tree_digest(reference_run)
        assert "start workers with --nthreads 1" in " ".join(result.stderr.split())
        # Without a certificate signed by the cluster's CA, the client gets nowhere.
        stranger = tmp_path / "stranger"
        stranger.mkdir()
        other = _certificates(stranger)
        wrong = [
            "--tls-ca-file",
            str(files["ca"]),
            "--tls-cert",
            str(other["client_cert"]),
            "--tls-key",
            str(other["client_key"]),
        ]
        args = rip_args(lfw_clip, tmp_path / "nope", "--scheduler", address, *wrong)
        result = run_cli([*args, "--scheduler-timeout", "2"])
        assert result.exit_code == 2
        assert "cannot connect to the Dask scheduler" in result.stderr
        plain = address.replace("tls://", "tcp://")
        result = run_cli(rip_args(lfw_clip, tmp_path / "nope", "--scheduler", plain, *tls))
        assert result.exit_code == 2
        assert "the TLS options need a tls:// scheduler address" in result.stderr


def test_tls_option_errors(dask, lfw_clip, tmp_path):
    target = tmp_path / "faces"
    missing = tmp_path / "missing.pem"
    result = run_cli(
        rip_args(lfw_clip, target, "--scheduler", "tls://127.0.0.1:1", "--tls-cert", str(missing))
    )
    assert result.exit_code == 2
    assert f"{missing}: --tls-cert file not found" in result.stderr
    result = run_cli(rip_args(lfw_clip, target, "--scheduler", "tls://127.0.0.1:1"))
    assert result.exit_code == 2
    assert "a tls:// scheduler needs --tls-ca-file and --tls-cert" in result.stderr
    cert = tmp_path / "cert.pem"
    cert.write_text("not checked before connecting")
    result = run_cli(rip_args(lfw_clip, target, "--tls-cert", str(cert)))
    assert result.exit_code == 2
    assert "the --tls-* options need --scheduler" in result.stderr
    assert not (tmp_path / "refs.npz").exists()


def test_distributed_is_not_imported_by_faceripper():
    code = (
        "import sys, faceripper, faceripper.pipeline, faceripper.cli; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dask', 'distributed'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, check=True
    )
    assert json.loads(out.stdout) == []
