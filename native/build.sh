#!/bin/sh
# Builds the native FUSE engine; `npm install` / `npm ci` run this, and a failure fails the install.
set -e
if ! pkg-config --exists fuse3 2>/dev/null; then
  echo "bucketfs: cannot build the native FUSE engine: the libfuse 3 development files are missing" >&2
  echo "bucketfs: on Debian/Ubuntu: apt-get install libfuse3-dev pkg-config build-essential python3 (or run .ci/setup)" >&2
  exit 1
fi
exec node-gyp rebuild
