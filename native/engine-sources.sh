#!/bin/sh
# The engine's C sources for the checks' direct builds: every C file here but the separate cache-fill addon,
# which registers a module of its own (binding.gyp builds it as its own target).
ls native/*.c | grep -v '/cache_fill\.c$'
