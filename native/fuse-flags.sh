#!/bin/sh
# The compiler flags of libfuse 3 for the native engine: pkg-config's, plus the API level.
# libfuse 3.12 replaced the loop's settings struct with fuse_loop_cfg_*; an older libfuse (3.10 on
# Ubuntu 22.04) is built at API level 3.10, where native/addon.c uses the struct.
# Used by binding.gyp and native/check-asan.sh, so both build the same code.
set -e
flags=$(pkg-config --cflags fuse3)
if pkg-config --atleast-version=3.12 fuse3; then
  echo "$flags"
else
  echo "$flags -DFUSE_USE_VERSION=310"
fi
