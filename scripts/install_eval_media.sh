#!/usr/bin/env bash
# Unpacks a FRESH evaluation set from Debian packages (downloaded, unpacked, not installed) into
# ${EDGE_VASA_FRESH:-~/.local/share/edge-vasa/fresh}: faces/ (dlib's example photos that the corpus never
# uses: no training or held-out identity is in them), videos/ (OpenCV's sample footage, none of which
# install_videos.sh takes) and photos/ (OpenCV's documentation photos and KPhotoAlbum's demo photos, for the
# hard-photo set of edge_vasa/evaluation/hard_photos.py). scripts/watermark_eval.py --fresh scores the
# watermark on faces/ and videos/ after its threshold was fixed on other clips; scripts/liveliness_eval.py
# --set hard and tests/evaluation/test_hard_photos.py use photos/ and faces/. install.sh runs it (opencv-doc
# is a 96 MB download, about 10 s here); those tests skip where it has not run.
set -euo pipefail
dest="${EDGE_VASA_FRESH:-${XDG_DATA_HOME:-$HOME/.local/share}/edge-vasa/fresh}"
mkdir -p "$dest/faces" "$dest/videos" "$dest/photos"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download libdlib19.1 opencv-doc kphotoalbum >/dev/null
dpkg -x libdlib19.1_*.deb deb
for f in 2007_007763 2008_001009 2008_001322 2008_002079 2008_002470 2008_004176 2008_007676 2009_004587; do
  cp "deb/usr/share/doc/libdlib19.1/examples/faces/$f.jpg" "$dest/faces/dlib__$f.jpg"
done
dpkg -x opencv-doc_*.deb deb
data=deb/usr/share/doc/opencv-doc
for f in Megamind.avi vtest.avi tree.avi; do cp "$data/examples/data/$f" "$dest/videos/opencv__$f"; done
for f in box cup; do gunzip -c "$data/opencv4/html/$f.mp4.gz" > "$dest/videos/opencv__$f.mp4"; done
for f in 230501201_1.jpg 227943776_1.jpg Template_Matching_Original_Image.jpg; do
  cp "$data/opencv4/html/$f" "$dest/photos/opencv__$f"
done
dpkg -x kphotoalbum_*.deb deb
for f in bar55.jpg jesper.jpg jesper_2.jpg new_wave_2.jpg anne_helene.jpg qt-logo.jpg; do
  cp "deb/usr/share/kphotoalbum/demo/$f" "$dest/photos/kphotoalbum__$f"
done
echo "fresh evaluation set in $dest: $(ls "$dest/faces" | wc -l) faces, $(ls "$dest/photos" | wc -l) photos," \
  "$(ls "$dest/videos" | wc -l) videos"
