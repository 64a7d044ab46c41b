#!/bin/sh
# The libraries the engine links, for binding.gyp and the checks' direct builds: libfuse 3, and libdeflate for
# the CRC-32 of native/crc.h.
echo "$(pkg-config --libs fuse3) -ldeflate"
