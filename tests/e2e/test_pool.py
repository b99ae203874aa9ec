"""Many machines, on one: a real `prefect server` on 127.0.0.1, a process work pool and two workers.

The album is deployed with `musicmaker album schedule --pool`, its deployment run is started, the album flow sends
one `render_arrangement` run per track to the pool, and the outputs must equal a local (in-process) render.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.cli import main
from tests.support.album_fixtures import write_album

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert server.poll() is None, "prefect server exited"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError("prefect server did not become healthy")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    log = open(home / "server.log", "w")
    proc = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_healthy(env["PREFECT_API_URL"], proc)
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _digests(folder: Path) -> dict[str, str]:
    keep = [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".wav", ".mid")]
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in keep}


def _run_album_deployment(env: dict[str, str], name: str, timeout: float = 600) -> str:
    out = subprocess.run(
        [str(BIN / "prefect"), "deployment", "run", f"render_album/{name}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    run_id = next(line.split()[-1] for line in out.splitlines() if "UUID" in line)
    deadline = time.time() + timeout
    while time.time() < deadline:
        with urllib.request.urlopen(f"{env['PREFECT_API_URL']}/flow_runs/{run_id}") as reply:
            state = json.load(reply)["state"]
        if state and state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return str(state["type"])
        time.sleep(2)
    raise AssertionError("album deployment run did not finish in time")


def _flow_runs(env: dict[str, str]) -> list[dict]:
    request = urllib.request.Request(
        f"{env['PREFECT_API_URL']}/flow_runs/filter",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as reply:
        return list(json.load(reply))


def test_album_on_two_process_workers_matches_local_render(
    server: dict[str, str], prefect_harness: None, tmp_path: Path
) -> None:
    album_file = write_album(tmp_path / "src")
    pooled, local = tmp_path / "pooled", tmp_path / "local"
    env = server
    subprocess.run(
        [str(BIN / "prefect"), "work-pool", "create", "gpus", "--type", "process"],
        env=env,
        check=True,
        capture_output=True,
    )
    deployed = subprocess.run(
        [
            str(BIN / "musicmaker"),
            "album",
            "schedule",
            str(album_file),
            "--cron",
            "0 3 * * *",
            "--timezone",
            "Europe/Paris",
            "--pool",
            "gpus",
            "-o",
            str(pooled),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert deployed.returncode == 0, deployed.stderr
    names = json.loads(deployed.stdout)["deployments"]
    workers = [
        subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "gpus", "--name", f"worker-{i}"],
            env={**env, "CUDA_VISIBLE_DEVICES": "", "PREFECT_WORKER_QUERY_SECONDS": "1"},
            stdout=open(tmp_path / f"worker-{i}.log", "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for i in range(2)
    ]
    try:
        state = _run_album_deployment(env, names[0].split("/")[1])
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
    logs = "".join((tmp_path / f"worker-{i}.log").read_text() for i in range(2))
    assert state == "COMPLETED", logs[-4000:]
    runs = _flow_runs(env)
    track_runs = [r for r in runs if r["deployment_id"] and r["name"] and r["parameters"].get("slug")]
    assert sorted(r["parameters"]["slug"] for r in track_runs) == ["one", "two"]
    assert all(r["state"]["type"] == "COMPLETED" for r in track_runs)

    # The pool renders each track in its own flow run, so the local render batches per track as well.
    album_file.write_text(album_file.read_text() + "batch_tracks: false\n")
    assert main(["album", "render", str(album_file), "-o", str(local), "--quiet"]) == 0
    for slug in ("one", "two"):
        pooled_files = _digests(pooled / "pool-album" / slug)
        assert pooled_files and pooled_files == _digests(local / "pool-album" / slug), slug
    manifest = json.loads((pooled / "pool-album" / "album-manifest.json").read_text())
    assert manifest["distributed"] is True and [t["slug"] for t in manifest["tracks"]] == ["one", "two"]


def test_album_schedule_without_a_pool_serves_and_runs_here(server: dict[str, str], tmp_path: Path) -> None:
    """`album schedule` without --pool: the deployment is served by the command itself, which runs its runs."""
    import signal

    album_file = write_album(tmp_path / "src", title="Served Album")
    out = tmp_path / "served"
    env = {**server, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    log = tmp_path / "serve.log"
    serving = subprocess.Popen(
        [
            str(BIN / "musicmaker"),
            "album",
            "schedule",
            str(album_file),
            "--cron",
            "30 4 * * 1",
            "--timezone",
            "Europe/Paris",
            "-o",
            str(out),
        ],
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"{env['PREFECT_API_URL']}/deployments/name/render_album/served-album"
    try:
        deadline = time.time() + 120
        while "prefect deployment run 'render_album/served-album'" not in log.read_text():
            assert serving.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        with urllib.request.urlopen(url) as reply:
            deployment = json.load(reply)
        (schedule,) = [s["schedule"] for s in deployment["schedules"]]
        assert (schedule["cron"], schedule["timezone"]) == ("30 4 * * 1", "Europe/Paris")
        assert deployment["parameters"]["out_dir"] == str(out) and deployment["work_pool_name"] is None
        state = _run_album_deployment(env, "served-album")
    finally:
        os.killpg(serving.pid, signal.SIGINT)
        serving.wait(timeout=60)
    assert state == "COMPLETED", log.read_text()[-4000:]
    manifest = json.loads((out / "served-album" / "album-manifest.json").read_text())
    assert [t["slug"] for t in manifest["tracks"]] == ["one", "two"] and manifest["distributed"] is False
