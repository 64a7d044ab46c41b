#!/bin/sh
# Builds the native FUSE engine. `npm install` / `npm ci` run this: when the build cannot run, the
# install still succeeds and says why in one line, and mounts use fuse-native. `npm run build:native`
# asked for the engine, so there the same reason fails the command.
set -u
cd "$(dirname "$0")/.."
PACKAGES="libfuse3-dev libdeflate-dev pkg-config build-essential python3"
MIN_LIBFUSE=3.10
LOG="${TMPDIR:-/tmp}/bucketfs-native-build.log"

cannot_build() {
  if [ "${npm_lifecycle_event:-}" = "build:native" ]; then
    echo "bucketfs: cannot build the native FUSE engine: $1 (on Debian/Ubuntu: apt-get install $PACKAGES)" >&2
    exit 1
  fi
  echo "bucketfs: native FUSE engine not built: $1 (apt-get install $PACKAGES, then npm run build:native); mounts will use fuse-native" >&2
  exit 0
}

command -v pkg-config >/dev/null 2>&1 || cannot_build "pkg-config is missing"
pkg-config --exists fuse3 2>/dev/null || cannot_build "the libfuse 3 development files are missing"
pkg-config --atleast-version="$MIN_LIBFUSE" fuse3 || cannot_build "libfuse $(pkg-config --modversion fuse3) is older than $MIN_LIBFUSE"
CC_NAME="$(command -v cc || command -v gcc)" || cannot_build "no C compiler"
# libdeflate's CRC-32 checks every cache hit the engine serves (native/crc.h): a call to it must compile and link.
printf '#include <libdeflate.h>\nint main(void) { return (int)libdeflate_crc32(0, "", 0); }\n' |
  "$CC_NAME" -x c - -o /dev/null -ldeflate >/dev/null 2>&1 || cannot_build "the libdeflate development files are missing"
command -v make >/dev/null 2>&1 || cannot_build "make is missing"
command -v python3 >/dev/null 2>&1 || cannot_build "python3 is missing"

# node-gyp's own output is kept for the one case it is needed, a failure; a build that works says nothing.
if node-gyp rebuild >"$LOG" 2>&1; then
  rm -f "$LOG"
  exit 0
fi
[ "${npm_lifecycle_event:-}" = "build:native" ] && cat "$LOG" >&2
cannot_build "node-gyp failed, its output is in $LOG"
