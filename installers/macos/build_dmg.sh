#!/usr/bin/env bash
# Build Lightbox.app and a compressed disk image on macOS.
#
#   installers/macos/build_dmg.sh [--sign "Developer ID Application: NAME (TEAMID)"]
#                                 [--notarize KEYCHAIN_PROFILE]
#
# Needs the project's virtual environment with the test extras (PyInstaller):
#   make setup && .venv/bin/pip install -e '.[test]'
# Writes dist/lightbox-<version>-macos-<arch>.dmg holding Lightbox.app and a link to
# /Applications. Without --sign the app is ad-hoc signed (runs on the building Mac;
# elsewhere Gatekeeper asks the user to allow it); with --notarize the signed image is sent
# to Apple's notary service with `xcrun notarytool` and the ticket stapled.
set -euo pipefail
[ "$(uname -s)" = Darwin ] || { echo "build_dmg.sh runs on macOS only" >&2; exit 2; }

root="$(cd "$(dirname "$0")/../.." && pwd)"
python="$root/.venv/bin/python"
identity="-"
notary_profile=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sign) identity="$2"; shift ;;
    --notarize) notary_profile="$2"; shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

version="$("$python" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' "$root/pyproject.toml")"
arch="$(uname -m)"
work="$root/build"
out="$root/dist"
mkdir -p "$work" "$out"

"$python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$work/pyinstaller/dist" --workpath "$work/pyinstaller/work" \
  "$root/installers/lightbox.spec"
app="$work/pyinstaller/dist/Lightbox.app"
[ -d "$app" ] || { echo "PyInstaller produced no $app" >&2; exit 1; }
# The document types of Info.plist name this icon file.
cp "$root/resources/icons/lightbox.icns" "$app/Contents/Resources/lightbox.icns"
"$app/Contents/MacOS/lightbox" --version

# Sign inside out with the hardened runtime (notarization requires it); ad-hoc with "-".
timestamp="--timestamp"  # notarization needs Apple's secure timestamp
[ "$identity" = "-" ] && timestamp="--timestamp=none"
codesign --force --deep --options runtime "$timestamp" --sign "$identity" "$app"
codesign --verify --deep --strict "$app"

staging="$work/dmg"
rm -rf "$staging"
mkdir -p "$staging"
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
cp "$root/docs/conformance-statement.md" "$staging/DICOM Conformance Statement.md"
dmg="$out/lightbox-${version}-macos-${arch}.dmg"
rm -f "$dmg"
hdiutil create -volname "Lightbox $version" -srcfolder "$staging" -fs HFS+ \
  -format UDZO -imagekey zlib-level=9 "$dmg"
if [ "$identity" != "-" ]; then
  codesign --force --sign "$identity" "$dmg"
fi
if [ -n "$notary_profile" ]; then
  xcrun notarytool submit "$dmg" --keychain-profile "$notary_profile" --wait
  xcrun stapler staple "$dmg"
fi
echo "dmg: $dmg ($(du -m "$dmg" | cut -f1) MB)"
