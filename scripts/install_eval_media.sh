#!/usr/bin/env bash
# Unpacks a FRESH evaluation set from Debian packages (downloaded, unpacked, not installed) into
# ${EDGE_VASA_FRESH:-~/.local/share/edge-vasa/fresh}: faces/ (dlib's example photos that the corpus never
# uses: no training or held-out identity is in them) and videos/ (OpenCV's sample footage, none of which
# install_videos.sh takes). scripts/watermark_eval.py --fresh scores the watermark on it after its threshold
# was fixed on other clips. Not part of install.sh: opencv-doc is a 96 MB download used only by that script.
set -euo pipefail
dest="${EDGE_VASA_FRESH:-${XDG_DATA_HOME:-$HOME/.local/share}/edge-vasa/fresh}"
mkdir -p "$dest/faces" "$dest/videos"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download libdlib19.1 opencv-doc >/dev/null
dpkg -x libdlib19.1_*.deb deb
for f in 2007_007763 2008_001009 2008_001322 2008_002079 2008_002470 2008_004176 2008_007676 2009_004587; do
  cp "deb/usr/share/doc/libdlib19.1/examples/faces/$f.jpg" "$dest/faces/dlib__$f.jpg"
done
dpkg -x opencv-doc_*.deb deb
data=deb/usr/share/doc/opencv-doc
for f in Megamind.avi vtest.avi tree.avi; do cp "$data/examples/data/$f" "$dest/videos/opencv__$f"; done
for f in box cup; do gunzip -c "$data/opencv4/html/$f.mp4.gz" > "$dest/videos/opencv__$f.mp4"; done
echo "fresh evaluation set in $dest: $(ls "$dest/faces" | wc -l) photos, $(ls "$dest/videos" | wc -l) videos"
