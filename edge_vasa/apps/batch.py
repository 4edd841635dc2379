"""`edge-vasa batch JOBS --out DIR`: many videos at once, rendered in parallel on Ray.

JOBS is a CSV file (header row) or JSONL (one object per line), one video per row: `image` and `audio`
(paths, relative to the jobs file), and optionally `name` (the output's name), `label`, `face_index`, and
the generate controls, a column each as declared on GenerateOptions (core.options.COLUMNS): `emotion`,
`gaze_x`, `gaze_y`, `distance`, `motion_scale`, `seed`, `fps`.

    summary = run_batch("jobs.csv", "out/")                 # a local Ray instance, started here
    summary = run_batch("jobs.csv", "out/", ray_address="ray://head:10001")

How it is split: Ray actors (Worker), one per core by default, each load the edge models once and keep each
face's appearance encoding (the faces are prepared once per identity by the driver and shared through
Ray's object store). A row is one task. A row whose audio is longer than chunk_s is split in two passes:
its motion first, in one task over the whole audio (the motion generator is streaming, stochastic and
cheap: 4 ms per step), then the frames (the decoder: 25-40 ms each) in chunks rendered in parallel from
slices of that motion, joined losslessly by an assembly task. Chunks rendered from audio with a few seconds
of past context instead left a visible seam (measured: mean frame change 19 at a seam vs 4.9 elsewhere),
since each chunk's motion draws its own noise; slices of one motion cannot jump. At most IN_FLIGHT tasks
per worker are queued (back-pressure bounds the audio and frames in memory).

Where files are: only the driver (the process that runs run_batch) touches the jobs' paths and --out. It
reads the photos and the audio and ships them as arrays; workers encode into temp files of their own node
and return the videos as bytes through Ray's object store (a chunk's part stays there until the assembly
task takes it), and the driver signs each one (C2PA: its key never leaves the driver's machine) and writes
it. So a cluster's nodes need edge-vasa installed but no filesystem shared with the driver
(tests/apps/test_batch.py renders on a two-node cluster whose workers run in other folders).

What survives failure: every output is written to a temp file and renamed, then its status file
(NAME.status.json, which names the Ray nodes that rendered the row) is written the same way; a rerun skips
rows whose status says done and whose video is there, and retries the rest. Workers are restarted when they
die and their tasks are retried, so a killed worker costs time, not output.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge_vasa.apps.generate import MIN_SPEECH_S
from edge_vasa.apps.studio import open_studio
from edge_vasa.core.audio import SAMPLE_RATE, load_audio
from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.face import prepare_face
from edge_vasa.core.files import atomic_output, write_json
from edge_vasa.core.options import GenerateOptions, from_columns
from edge_vasa.core.shipped import model_files
from edge_vasa.core.video import frames_of, write_mp4
from edge_vasa.provenance.record import Marker, Provenance, check_label

CHUNK_S = 30.0  # audio longer than this is rendered as parallel chunks (whole seconds: frames line up)
IN_FLIGHT = 2  # tasks queued per worker


@dataclass
class Job:
    """One row: a video to make."""

    row: int
    name: str
    image: Path
    audio: Path
    opts: GenerateOptions
    label: str | None = None
    face_index: int = 0

    def video(self, out: Path) -> Path:
        return out / f"{self.name}.mp4"

    def status(self, out: Path) -> Path:
        return out / f"{self.name}.status.json"


def read_jobs(path: str | os.PathLike) -> tuple[list[Job], list[tuple[int, str, str]]]:
    """(jobs, rows that cannot be a job: (row, name, why)). A file that is not a jobs file is an error."""
    path = Path(path)
    if not path.is_file():
        raise EdgeVasaError(f"jobs file not found: {path}; give a .csv or .jsonl file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EdgeVasaError(
            f"cannot read {path} as text ({type(e).__name__}); give a .csv or .jsonl file"
        ) from None
    rows: list[dict | str] = []
    if path.suffix.lower() == ".jsonl":
        for line in text.splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    rows.append(f"not JSON ({e.msg})")
    elif path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        missing = {"image", "audio"} - set(reader.fieldnames or [])
        if missing:
            raise EdgeVasaError(
                f"{path} has no {' or '.join(sorted(missing))} column; the header needs image,audio"
            )
        rows = list(reader)
    else:
        raise EdgeVasaError(f"{path}: jobs are a .csv (with a header row) or a .jsonl file")
    if not rows:
        raise EdgeVasaError(f"{path} has no jobs")
    jobs, bad, names = [], [], set()
    for i, row in enumerate(rows, start=1):
        try:
            job = _job(i, row, path.parent)
        except (EdgeVasaError, ValueError, TypeError) as e:
            bad.append((i, _name(i, row), str(e).splitlines()[0]))
            continue
        if job.name in names:
            bad.append(
                (i, job.name, f"name {job.name!r} is used by an earlier row; give each row its own name")
            )
            continue
        names.add(job.name)
        jobs.append(job)
    return jobs, bad


def _name(row: int, fields) -> str:
    given = str(fields.get("name") or "") if isinstance(fields, dict) else ""
    if not given and isinstance(fields, dict) and fields.get("audio"):
        given = f"{row:04d}-{Path(str(fields['audio'])).stem}"
    return re.sub(r"[^\w.-]+", "_", given).strip("._") or f"row{row:04d}"


def _job(row: int, fields, base: Path) -> Job:
    if not isinstance(fields, dict):
        raise EdgeVasaError(str(fields) if isinstance(fields, str) else "a row must be a JSON object")
    for key in ("image", "audio"):
        if not fields.get(key):
            raise EdgeVasaError(f"no {key} given")
    opts = from_columns(fields)  # the control columns (core/options.py)
    opts.check()
    return Job(
        row,
        _name(row, fields),
        (base / str(fields["image"])).resolve(),
        (base / str(fields["audio"])).resolve(),
        opts,
        str(fields["label"]) if fields.get("label") else None,
        int(fields.get("face_index") or 0),
    )


def chunks(seconds: float, chunk_s: float = CHUNK_S) -> list[tuple[int, float]]:
    """(start, end) in seconds: whole-second starts, the last chunk takes the remainder."""
    if seconds <= chunk_s:
        return [(0, seconds)]
    size = max(1, int(chunk_s))
    starts = list(range(0, int(np.ceil(seconds)), size))
    if seconds - starts[-1] < 1:  # no sub-second tail chunk: the one before takes it
        starts.pop()
    return [(s, (starts[i + 1] if i + 1 < len(starts) else seconds)) for i, s in enumerate(starts)]


class Worker:
    """A Ray actor: the edge models loaded once, faces kept by identity. Renders whole rows, and the two
    passes (motion, then frames from slices of it) of long ones. It returns videos as bytes and writes only
    temp files of its own node: the driver's folders may not exist where it runs."""

    def __init__(self, backend: str | None, precision: str | None, threads: int):
        import ray  # an actor runs in Ray: the optional extra is there

        os.environ["EDGE_VASA_THREADS"] = str(threads)  # the workers share the cores
        try:  # the PyTorch reference backend (torch:cpu) shares the cores too; the edge install has no torch
            import torch

            torch.set_num_threads(threads)
        except ImportError:
            pass
        self.studio = open_studio(backend, precision)
        self.avatars: dict[str, object] = {}
        self.node = ray.get_runtime_context().get_node_id()  # reported per row: where it was rendered

    def pid(self) -> int:
        return os.getpid()

    def backend(self) -> str:
        return str(self.studio.models.candidate)

    def _avatar(self, identity: str, face):
        if identity not in self.avatars:
            self.avatars[identity] = self.studio.avatar(face)
        return self.avatars[identity]

    def _report(self, started: float, frames: int) -> dict:
        return {"frames": frames, "seconds": time.perf_counter() - started, "node": self.node}

    def render(self, identity: str, face, audio: np.ndarray, opts, provenance, label) -> dict:
        """A whole row: AUDIO -> the MP4 (watermarked frames, the audio, tags) as bytes under "video"; the
        driver signs and writes it."""

        started = time.perf_counter()
        avatar = self._avatar(identity, face)
        mark = Marker(provenance, label)
        motion = avatar.motion(audio, opts)
        frames = (mark(f) for f in avatar.frames(motion))
        tags = provenance.tags()
        video = encoded(lambda path: write_mp4(path, frames, opts.fps, audio=audio, metadata=tags))
        return self._report(started, len(motion)) | {"video": video}

    def motion(self, identity: str, face, audio: np.ndarray, opts) -> np.ndarray:
        """The first pass of a long row: its whole motion, at opts.fps."""
        return self._avatar(identity, face).motion(audio, opts)

    def render_part(self, identity: str, face, motion: np.ndarray, provenance, label) -> tuple[dict, bytes]:
        """The second pass: MOTION (a slice) -> watermarked frames in a lossless video-only part. Called
        with two returns, so that the driver waits on the small report while the part's bytes stay in the
        object store for the assembly task."""

        started = time.perf_counter()
        avatar = self._avatar(identity, face)
        mark = Marker(provenance, label)
        frames = (mark(f) for f in avatar.frames(motion))
        part = encoded(lambda path: write_mp4(path, frames, 25, crf=0))  # the rate is assemble's
        return self._report(started, len(motion)), part


def encoded(write: Callable[[str], object]) -> bytes:
    """The bytes of the file WRITE makes at the path it is given: a temp file on this node, so that workers
    need no filesystem shared with the driver (the videos go back through Ray's object store)."""
    with tempfile.TemporaryDirectory(prefix="edge-vasa-batch-") as folder:
        path = os.path.join(folder, "video.mp4")
        write(path)
        return Path(path).read_bytes()


def assemble(audio: np.ndarray, fps: int, provenance, *parts: bytes) -> dict:
    """Join lossless PARTS (in order; Ray hands them over from the object store) into one MP4 with AUDIO
    and tags: {"frames", "video" (bytes)}; the driver signs and writes it."""

    count = 0
    with tempfile.TemporaryDirectory(prefix="edge-vasa-batch-") as folder:
        paths = [Path(folder) / f"part{i:03d}.mp4" for i in range(len(parts))]
        for path, part in zip(paths, parts):
            path.write_bytes(part)

        def frames():
            nonlocal count
            for path in paths:
                for frame in frames_of(path):
                    count += 1
                    yield frame

        video = encoded(lambda path: write_mp4(path, frames(), fps, audio=audio, metadata=provenance.tags()))
    return {"frames": count, "video": video}


def save_video(video: bytes, target: Path, provenance: Provenance) -> None:
    """Write a worker's VIDEO at TARGET through a temp file, signed there: the C2PA key stays on the
    driver's machine, and a batch's outputs carry one identity whichever nodes rendered them."""
    with atomic_output(target) as tmp:
        Path(tmp).write_bytes(video)
        provenance.sign(tmp, title=target.name)


def write_status(job: Job, out: Path, status: dict) -> None:
    _write_status(out, job.name, {"row": job.row, **status})


def _write_status(out: Path, name: str, status: dict) -> None:

    write_json(out / f"{name}.status.json", {"name": name, **status})


def finished(job: Job, out: Path) -> bool:
    try:
        status = json.loads(job.status(out).read_text())
    except (OSError, ValueError):
        return False
    return status.get("state") == "done" and job.video(out).is_file()


def run_batch(
    jobs_file: str | os.PathLike,
    out: str | os.PathLike,
    workers: int | None = None,
    ray_address: str | None = None,
    backend: str | None = None,
    precision: str | None = None,
    chunk_s: float = CHUNK_S,
    progress: bool = True,
    on_started=None,
) -> dict:
    """Render every row of JOBS_FILE into OUT (see the module doc); returns the summary.

    ON_STARTED(actors), if given, is called once the workers are up (tests use it to kill one)."""
    import ray

    out = Path(out)
    jobs, bad = read_jobs(jobs_file)
    if out.exists() and not out.is_dir():
        raise EdgeVasaError(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict[str, dict] = {
        name: {"row": row, "state": "failed", "reason": why} for row, name, why in bad
    }
    for name, status in results.items():  # rows that are not jobs get their status file too
        _write_status(out, name, status)
    todo = [j for j in jobs if not finished(j, out)]
    for j in jobs:
        if j not in todo:
            results[j.name] = {"row": j.row, "state": "skipped", "reason": "done in an earlier run"}

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no calls home
    cores = os.cpu_count() or 1
    n_workers = workers or cores
    backend_name = None
    if not todo:  # a rerun with nothing left to do starts no Ray
        return _summary(results, time.perf_counter() - started, n_workers, backend_name)
    owned = not ray.is_initialized()  # a Ray the caller started stays up
    if owned:
        ray.init(
            address=ray_address,
            num_cpus=None if ray_address else max(cores, n_workers),
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    pool = []
    try:
        actor = ray.remote(num_cpus=1, max_restarts=3, max_task_retries=3)(Worker)
        pool += [actor.remote(backend, precision, max(1, cores // n_workers)) for _ in range(n_workers)]
        backend_name = ray.get(pool[0].backend.remote())
        if on_started is not None:
            on_started(pool)
        _Driver(ray, pool, out, chunk_s, backend_name, results, progress).run(todo)
    finally:
        for worker in pool:
            ray.kill(worker)
        if owned:
            ray.shutdown()
    return _summary(results, time.perf_counter() - started, n_workers, backend_name)


def _summary(results: dict, wall: float, n_workers: int, backend: str | None) -> dict:
    video = sum(r.get("video_s", 0.0) for r in results.values() if r["state"] == "done")
    return {
        "rows": dict(sorted(results.items(), key=lambda kv: kv[1]["row"])),
        "done": sum(r["state"] == "done" for r in results.values()),
        "failed": sum(r["state"] == "failed" for r in results.values()),
        "skipped": sum(r["state"] == "skipped" for r in results.values()),
        "video_s": round(video, 2),
        "wall_s": round(wall, 2),
        "video_per_wall_s": round(video / wall, 3) if wall else 0.0,
        "workers": n_workers,
        "backend": backend,
    }


@dataclass
class _Row:
    """A row in flight: its inputs and what is left of it."""

    job: Job
    key: str
    audio: np.ndarray
    provenance: object
    starts: list[float]  # where each chunk begins (s), as planned from the audio; one: the row renders whole
    parts: list = field(default_factory=list)  # the chunks' part bytes (ObjectRefs), in order, until assembly
    nodes: set[str] = field(default_factory=set)  # the Ray nodes that rendered its frames
    left: int = 0
    seconds: float = 0.0


class _Driver:
    """Submits rows to the workers in order, at most IN_FLIGHT tasks per worker at a time, and moves each
    row along (whole; or motion -> parts -> assembly) as its tasks finish."""

    def __init__(self, ray, pool, out: Path, chunk_s: float, backend: str, results: dict, progress: bool):

        self.ray, self.pool, self.out, self.chunk_s, self.backend = ray, pool, out, chunk_s, backend
        self.results = results
        self.joiner = ray.remote(num_cpus=0, max_retries=3)(assemble)
        # hashed once per batch: the student weights the edge artifacts were exported from
        self.hashes = Provenance.for_files("batch", model_files("student")).models
        self.faces: dict[str, object] = {}
        self.pending: dict = {}  # ObjectRef -> (row, step)
        self.rows: dict[str, _Row] = {}
        self.turn = 0
        self.bar = tqdm(desc="batch", unit="video", disable=not progress)

    def worker(self):
        self.turn += 1
        return self.pool[self.turn % len(self.pool)]

    def run(self, todo: list[Job]) -> None:
        self.bar.reset(total=len(todo))
        for job in todo:
            row = self.start(job)
            if row is None:
                continue
            self.submit(row)
            self.collect(block=False)
        while self.pending:
            self.collect(block=True)
        self.bar.close()

    def start(self, job: Job) -> _Row | None:

        try:
            check_label(job.label)
            key = f"{job.image}#{job.face_index}"
            if key not in self.faces:  # once per identity, shared by every worker through the object store
                self.faces[key] = self.ray.put(prepare_face(job.image, face_index=job.face_index))
            audio = load_audio(job.audio)
            if len(audio) < MIN_SPEECH_S * SAMPLE_RATE:
                raise EdgeVasaError(f"{job.audio.name} holds under {MIN_SPEECH_S} s of audio")
        except EdgeVasaError as e:
            self.fail(job, e)
            return None
        spans = chunks(len(audio) / SAMPLE_RATE, self.chunk_s)
        row = _Row(job, key, audio, Provenance("batch", self.hashes), [start for start, _ in spans])
        self.rows[job.name] = row
        return row

    def send(self, row: _Row, step: str, ref) -> None:
        self.pending[ref] = (row, step)
        while len(self.pending) >= IN_FLIGHT * len(self.pool):
            self.collect(block=True)

    def submit(self, row: _Row) -> None:
        job, face = row.job, self.faces[row.key]
        if len(row.starts) == 1:
            ref = self.worker().render.remote(row.key, face, row.audio, job.opts, row.provenance, job.label)
            self.send(row, "whole", ref)
        else:
            self.send(row, "motion", self.worker().motion.remote(row.key, face, row.audio, job.opts))

    def collect(self, block: bool) -> None:
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=None if block else 0)
        for ref in ready:
            row, step = self.pending.pop(ref)
            if row.job.name not in self.rows:  # the row failed already
                continue
            try:
                result = self.ray.get(ref)
            except Exception as e:  # a task's error, wrapped by Ray
                self.fail(row.job, e)
                continue
            if step == "whole":
                self.rendered(row, result)
                self.done(row, result["frames"], result["video"])
            elif step == "motion":
                self.render_parts(row, result)
            elif step == "part":
                self.rendered(row, result)
                row.left -= 1
                if row.left == 0:
                    ref = self.joiner.remote(row.audio, row.job.opts.fps, row.provenance, *row.parts)
                    row.parts = []  # the assembly task holds them now; they are freed when it ends
                    self.send(row, "assemble", ref)
            else:
                self.done(row, result["frames"], result["video"])

    def rendered(self, row: _Row, report: dict) -> None:
        row.seconds += report["seconds"]
        row.nodes.add(report["node"])

    def render_parts(self, row: _Row, motion: np.ndarray) -> None:
        fps = row.job.opts.fps
        bounds = [round(start * fps) for start in row.starts] + [len(motion)]  # the plan, not re-derived
        row.left = len(row.starts)
        face = self.faces[row.key]
        for a, b in zip(bounds, bounds[1:]):
            report, part = (
                self.worker()
                .render_part.options(num_returns=2)
                .remote(row.key, face, motion[a:b], row.provenance, row.job.label)
            )
            row.parts.append(part)
            self.send(row, "part", report)

    def fail(self, job: Job, e: BaseException) -> None:
        cause = getattr(e, "cause", None) or e
        if isinstance(cause, EdgeVasaError):
            reason = str(cause).splitlines()[0]
        else:
            reason = f"{type(cause).__name__}: {cause}".splitlines()[0]
        self.results[job.name] = {"row": job.row, "state": "failed", "reason": reason[:300]}
        write_status(job, self.out, self.results[job.name])
        self.rows.pop(job.name, None)
        self.bar.update()

    def done(self, row: _Row, frames: int, video: bytes) -> None:
        """The row's video, then its status: a status that says done has its video beside it."""
        job = row.job
        try:
            save_video(video, job.video(self.out), row.provenance)
        except Exception as e:  # cannot be written or signed here: the row fails, like a task, not the batch
            self.fail(job, e)
            return
        self.results[job.name] = {
            "row": job.row,
            "state": "done",
            "video_s": round(frames / job.opts.fps, 2),
            "render_s": round(row.seconds, 2),
            "backend": self.backend,
            "render_id": f"{row.provenance.payload.render_id:06x}",
            "nodes": sorted(row.nodes),
        }
        write_status(job, self.out, self.results[job.name] | {"output": job.video(self.out).name})
        self.rows.pop(job.name, None)
        self.bar.update()


def format_summary(summary: dict) -> str:
    lines = [f"{'row':>4}  {'name':<28} {'state':<8} detail"]
    for name, r in summary["rows"].items():
        detail = (
            r.get("reason") or f"{r.get('video_s')} s of video in {r.get('render_s')} s ({r.get('backend')})"
        )
        lines.append(f"{r['row']:>4}  {name[:28]:<28} {r['state']:<8} {detail}")
    lines.append(
        f"done {summary['done']}, failed {summary['failed']}, skipped {summary['skipped']}; "
        f"{summary['video_s']} s of video in {summary['wall_s']} s wall "
        f"= {summary['video_per_wall_s']} s of video per second ({summary['workers']} workers)"
    )
    return "\n".join(lines)
