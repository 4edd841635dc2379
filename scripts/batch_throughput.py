"""Batch on Ray vs the same jobs one by one with `generate`, side by side in one run.

    python scripts/batch_throughput.py --out /tmp/bt             # 20 jobs, about 5 s of speech each

Jobs: the corpus identities in turn, each with a different 5 s stretch of the calibration speech and its own
emotion and seed. Three ways, in this order, on the same backend (the fastest here):
1. `edge-vasa batch` in-process (local Ray, one worker per core), with the CPU use sampled every second;
2. one `edge-vasa generate --backend auto` process per job (what a user without batch would run);
3. generate_video() per job in one process (the models loaded once: the compute alone).
Writes throughput.json: seconds of video per wall second for each, and the CPU use during the batch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

SECONDS = 5


def make_jobs(folder: Path, n: int) -> Path:
    from PIL import Image

    from edge_vasa.calibration.dataset import calibration_speech
    from edge_vasa.core.options import EMOTIONS
    from edge_vasa.data.corpus import available_sources, load_source

    speech = np.concatenate([a for _, a in calibration_speech()])
    sources = available_sources()
    rows = ["image,audio,name,emotion,seed,face_index"]
    for i in range(n):
        src = sources[i % len(sources)]
        image, index = load_source(src)
        photo = folder / f"{src.name}.png"
        if not photo.exists():
            Image.fromarray(image).save(photo)
        start = (i * SECONDS * 16000) % (len(speech) - SECONDS * 16000)
        sf.write(folder / f"s{i:02d}.wav", speech[start : start + SECONDS * 16000], 16000)
        rows.append(f"{photo.name},s{i:02d}.wav,job{i:02d},{EMOTIONS[i % len(EMOTIONS)]},{i},{index}")
    jobs = folder / "jobs.csv"
    jobs.write_text("\n".join(rows) + "\n")
    return jobs


def cpu_sampler(stop: threading.Event, samples: list) -> None:
    import psutil

    psutil.cpu_percent(percpu=True)
    while not stop.wait(1.0):
        samples.append(psutil.cpu_percent(percpu=True))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--jobs", type=int, default=20)
    args = ap.parse_args()
    out = Path(args.out)
    for folder in ("batch", "one-by-one", "in-process"):  # a fresh measurement: batch would skip done rows
        shutil.rmtree(out / folder, ignore_errors=True)
        (out / folder).mkdir(parents=True)
    (out / "jobs").mkdir(parents=True, exist_ok=True)
    jobs = make_jobs(out / "jobs", args.jobs)
    video_s = args.jobs * SECONDS

    from edge_vasa.apps.batch import read_jobs, run_batch

    samples: list = []
    stop = threading.Event()
    threading.Thread(target=cpu_sampler, args=(stop, samples), daemon=True).start()
    summary = run_batch(jobs, out / "batch", backend=None, progress=True)
    stop.set()
    cpu = np.array(samples)

    started = time.perf_counter()
    for job in read_jobs(jobs)[0]:
        cmd = [
            sys.executable,
            "-m",
            "edge_vasa",
            "generate",
            "--backend",
            "auto",
            "--image",
            str(job.image),
        ]
        cmd += ["--audio", str(job.audio), "--emotion", job.opts.emotion, "--seed", str(job.opts.seed)]
        cmd += ["--face-index", str(job.face_index)]
        subprocess.run(
            cmd + ["--out", str(out / "one-by-one" / f"{job.name}.mp4")], check=True, capture_output=True
        )
    processes_s = time.perf_counter() - started

    from edge_vasa.apps.generate import generate_video

    started = time.perf_counter()
    for job in read_jobs(jobs)[0]:
        generate_video(
            job.image,
            job.audio,
            out / "in-process" / f"{job.name}.mp4",
            job.opts,
            job.face_index,
            progress=False,
            backend="auto",
        )
    in_process_s = time.perf_counter() - started

    result = {
        "jobs": args.jobs,
        "video_s": video_s,
        "batch": {
            "wall_s": summary["wall_s"],
            "video_per_wall_s": summary["video_per_wall_s"],
            "workers": summary["workers"],
            "done": summary["done"],
            "cpu_percent_per_core_median": np.median(cpu, axis=0).round(1).tolist() if len(cpu) else None,
        },
        "generate_processes": {
            "wall_s": round(processes_s, 2),
            "video_per_wall_s": round(video_s / processes_s, 3),
        },
        "generate_in_process": {
            "wall_s": round(in_process_s, 2),
            "video_per_wall_s": round(video_s / in_process_s, 3),
        },
    }
    result["batch_vs_processes"] = round(processes_s / summary["wall_s"], 2)
    result["batch_vs_in_process"] = round(in_process_s / summary["wall_s"], 2)
    (out / "throughput.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
