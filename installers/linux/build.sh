#!/usr/bin/env bash
# Build the Linux distribution of Lightbox: the PyInstaller one-folder bundle, a .deb that
# installs it under /opt/lightbox, and a portable .tar.gz.
#
#   installers/linux/build.sh [--bundle-only] [--python PY] [--out DIR] [--work DIR]
#
# --bundle-only  stop after the PyInstaller bundle (the smoke test uses this)
# --python PY    the Python with Lightbox and PyInstaller installed (default .venv/bin/python)
# --out DIR      where the .deb and .tar.gz go (default dist/)
# --work DIR     scratch space (default build/)
# Prints the bundle folder, the package paths, their sizes and the build time.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
python="$root/.venv/bin/python"
out="$root/dist"
work="$root/build"
bundle_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle-only) bundle_only=1 ;;
    --python) python="$2"; shift ;;
    --out) out="$2"; shift ;;
    --work) work="$2"; shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out" "$work"
out="$(cd "$out" && pwd)"
work="$(cd "$work" && pwd)"

version="$("$python" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' "$root/pyproject.toml")"
arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
start=$(date +%s)

# 1. The one-folder application.
"$python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$work/pyinstaller/dist" --workpath "$work/pyinstaller/work" \
  "$root/installers/lightbox.spec"
bundle="$work/pyinstaller/dist/lightbox"
[ -x "$bundle/lightbox" ] || { echo "PyInstaller produced no $bundle/lightbox" >&2; exit 1; }
"$bundle/lightbox" --version >/dev/null
"$bundle/lightbox" conformance >/dev/null  # imports numpy, pydicom, pynetdicom and the decoders
bytes="$(du -sb "$bundle" | cut -f1)"
echo "bundle: $bundle ($(( bytes / 1000000 )) MB = $(( bytes / 1048576 )) MiB unpacked, built in $(( $(date +%s) - start )) s)"
[ "$bundle_only" -eq 1 ] && exit 0

# 2. The Debian package: /opt/lightbox, /usr/bin/lightbox, desktop entry, icons, docs.
stage="$work/deb/lightbox_${version}_${arch}"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
  "$stage/usr/share/doc/lightbox" "$stage/usr/share/icons/hicolor/scalable/apps"
cp -a "$bundle" "$stage/opt/lightbox"
# The bootloader finds its _internal folder through /proc/self/exe, so a symlink works.
ln -s /opt/lightbox/lightbox "$stage/usr/bin/lightbox"
install -m 0644 "$root/installers/linux/lightbox.desktop" "$stage/usr/share/applications/"
install -m 0644 "$root/resources/icons/lightbox.svg" \
  "$stage/usr/share/icons/hicolor/scalable/apps/lightbox.svg"
for size in 16 24 32 48 64 128 256 512; do
  dir="$stage/usr/share/icons/hicolor/${size}x${size}/apps"
  mkdir -p "$dir"
  install -m 0644 "$root/resources/icons/lightbox-$size.png" "$dir/lightbox.png"
done
install -m 0644 "$root/docs/conformance-statement.md" "$stage/usr/share/doc/lightbox/"
cat > "$stage/usr/share/doc/lightbox/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Lightbox
License: Apache-2.0
Comment: /opt/lightbox/_internal holds Python, Qt (LGPL-3.0), VTK (BSD-3-Clause),
 pydicom (MIT), pynetdicom (MIT), numpy (BSD-3-Clause), Pillow (MIT-CMU) and the
 pylibjpeg plugins (MIT; libjpeg GPL-3.0, OpenJPEG BSD-2-Clause) under their own licences.
EOF
chmod -R u+rwX,go+rX,go-w "$stage"
installed_kb="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
# Depends lists what the bundle does not carry: glibc (2.36: the build system's, which the
# bundled Python and libraries were linked against), OpenGL/EGL, libdrm, Wayland and xcb
# client libraries, found by ldd over every bundled binary.
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$installed_kb/" -e "s/^Architecture: .*/Architecture: $arch/" \
  "$root/installers/linux/control.in" > "$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
  | xargs -0 md5sum > DEBIAN/md5sums)
deb="$out/lightbox_${version}_${arch}.deb"
# zstd -9: 18 s and 109 MB here, where xz -6 took over 4 minutes on two cores
# (dpkg reads zstd since 1.21.18: Debian 12, Ubuntu 22.04).
dpkg-deb --build --root-owner-group -Zzstd -z9 "$stage" "$deb" >/dev/null
echo "deb: $deb ($(du -m "$deb" | cut -f1) MB)"

# 3. The portable archive: unpack anywhere and run lightbox-<version>/lightbox.
machine="$(uname -m)"
tarball="$out/lightbox-${version}-linux-${machine}.tar.gz"
portable="$work/portable/lightbox-$version"
rm -rf "$work/portable"
mkdir -p "$portable"
cp -a "$bundle/." "$portable/"
install -m 0644 "$root/installers/linux/lightbox.desktop" "$root/resources/icons/lightbox.png" \
  "$root/docs/conformance-statement.md" "$portable/"
tar -C "$work/portable" --owner=0 --group=0 --numeric-owner -czf "$tarball" "lightbox-$version"
echo "tarball: $tarball ($(du -m "$tarball" | cut -f1) MB)"
echo "total time: $(( $(date +%s) - start )) s"
