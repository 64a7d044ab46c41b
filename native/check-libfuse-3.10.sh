#!/bin/sh
# Checks that the native engine still builds for libfuse 3.10 (Ubuntu 22.04) on a machine with a
# newer libfuse, in two ways:
# 1. it compiles against the installed headers made to look like 3.10: FUSE_MINOR_VERSION 10, the
#    3.12 loop settings (fuse_loop_cfg_*) poisoned, at the API level native/fuse-flags.sh picks for
#    a libfuse older than 3.12;
# 2. every libfuse symbol the linked addon needs is of a symbol version no newer than FUSE_3.10
#    (libfuse gives each function the version that added it).
set -eu
cd "$(dirname "$0")/.."
out=build/libfuse-3.10
rm -rf "$out"
mkdir -p "$out/include"
headers="$(pkg-config --variable=includedir fuse3)/fuse3"
cp "$headers"/*.h "$out/include/"
sed -i 's/^#define FUSE_MINOR_VERSION .*/#define FUSE_MINOR_VERSION 10/' "$out/include/fuse_common.h"
grep -q '^#define FUSE_MINOR_VERSION 10$' "$out/include/fuse_common.h"
printf '\n#pragma GCC poison fuse_loop_cfg_create fuse_loop_cfg_destroy fuse_loop_cfg_set_idle_threads fuse_loop_cfg_set_max_threads fuse_loop_cfg_set_clone_fd fuse_loop_cfg_convert fuse_session_loop_mt_312\n' >>"$out/include/fuse_lowlevel.h"
gcc -shared -fPIC -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror \
  -DNODE_GYP_MODULE_NAME=bucketfs_fuse -DNAPI_VERSION=8 -DFUSE_USE_VERSION=310 -D_FILE_OFFSET_BITS=64 \
  -I"$out/include" -I/usr/include/node $(sh native/engine-sources.sh) -o "$out/bucketfs_fuse.node" $(sh native/engine-libs.sh)
# "fuse_reply_err FUSE_3.0" for each libfuse symbol the addon imports.
objdump -T "$out/bucketfs_fuse.node" | awk '$NF ~ /^fuse_/ && $(NF-1) ~ /^\(?FUSE_/ { v = $(NF-1); gsub(/[()]/, "", v); print $NF, v }' | sort >"$out/imports.txt"
[ -s "$out/imports.txt" ] || { echo "check-libfuse-3.10: found no libfuse import in the addon" >&2; exit 1; }
too_new=$(awk '{ split($2, v, /[._]/); if (v[2] > 3 || (v[2] == 3 && v[3] > 10)) print }' "$out/imports.txt")
if [ -n "$too_new" ]; then
  echo "check-libfuse-3.10: the addon needs libfuse functions newer than 3.10:" >&2
  echo "$too_new" >&2
  exit 1
fi
echo "check-libfuse-3.10: ok ($(wc -l <"$out/imports.txt") libfuse functions, all of FUSE_3.0 to FUSE_3.10)"
