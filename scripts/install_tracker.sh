#!/usr/bin/env bash
# Installs MediaPipe Face Mesh (with iris landmarks) into its own virtual environment, default .venv-tracker
# here or $EDGE_VASA_TRACKER_VENV. edge_vasa.evaluation.liveliness runs it as a second landmark tracker (not
# dlib) to score blinks and gaze on output video. Its own venv: mediapipe 0.10.14 needs protobuf<5 and the
# project's venv has protobuf 7. The wheel ships the face mesh model, so nothing is downloaded at run time.
# Idempotent: an existing venv that imports mediapipe is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${EDGE_VASA_TRACKER_VENV:-$PWD/.venv-tracker}"
PY="$VENV/bin/python"
if [ -x "$PY" ] && "$PY" -c "import mediapipe, cv2, numpy" 2>/dev/null; then
  exit 0
fi
[ -x "$PY" ] || python3 -m venv "$VENV"
"$PY" -m pip install -q --disable-pip-version-check numpy opencv-python-headless absl-py attrs flatbuffers \
  "protobuf<5" matplotlib
# --no-deps: mediapipe's own requirements pull jax, opencv-contrib and sounddevice, which Face Mesh does not use
"$PY" -m pip install -q --disable-pip-version-check --no-deps mediapipe==0.10.14
"$PY" -c "import mediapipe; mediapipe.solutions.face_mesh.FaceMesh(refine_landmarks=True).close()" 2>/dev/null
echo "landmark tracker (MediaPipe Face Mesh) installed in $VENV"
