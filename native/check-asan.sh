#!/usr/bin/env bash
# Runs the native engine's mount tests with the addon built under AddressSanitizer (and UBSan).
# Node itself is not instrumented: the ASan runtime is preloaded so the addon's allocations and
# accesses are checked. Any report fails the run. Needs root (FUSE mounts) and gcc's libasan.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/asan
mkdir -p "$out"
# Node's own headers, beside the running node (/usr/include/node for a distro node).
node_headers="$(dirname "$(dirname "$(command -v node)")")/include/node"
[ -f "$node_headers/node_api.h" ] || { echo "check-asan: no node_api.h in $node_headers" >&2; exit 1; }
for runtime in libasan.so libubsan.so; do
  [ -f "$(gcc -print-file-name=$runtime)" ] || { echo "check-asan: gcc has no $runtime (apt-get install build-essential)" >&2; exit 1; }
done
gcc -shared -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -std=gnu11 -Wall -Wextra -Wno-unused-parameter \
  -DNODE_GYP_MODULE_NAME=bucketfs_fuse -DNAPI_VERSION=8 -I"$node_headers" $(sh native/fuse-flags.sh) \
  $(sh native/engine-sources.sh) -o "$out/bucketfs_fuse.node" $(sh native/engine-libs.sh)
npm run build --silent
# detect_leaks=0: V8 and Node keep memory until exit by design; leaks of the addon show up as
# growth in the soak test instead. halt_on_error makes the first report fail the test run.
export BUCKETFS_NATIVE_ADDON="$PWD/$out/bucketfs_fuse.node"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:log_path=$PWD/$out/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$PWD/$out/ubsan"
rm -f "$out"/asan.* "$out"/ubsan.*
status=0
npx vitest run --config test/vitest.config.ts test/fuse/native-engine.test.ts test/fuse/native-context.test.ts test/fuse/adapter.test.ts test/fuse/read-path.test.ts test/fuse/native-cache-hits.test.ts "$@" || status=$?
if ls "$out"/asan.* "$out"/ubsan.* >/dev/null 2>&1; then
  echo "check-asan: sanitizer reports:" >&2
  cat "$out"/asan.* "$out"/ubsan.* >&2 2>/dev/null || true
  exit 1
fi
[ "$status" -eq 0 ] && echo "check-asan: no sanitizer report"
exit "$status"
