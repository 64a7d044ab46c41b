/*
 * The one CRC-32 the engine's C code computes: the zlib/gzip polynomial, the same values as zlib's crc32() and
 * Node's zlib.crc32 (which the JS side keeps), so block files written by either side check on the other.
 * libdeflate's implementation folds with carry-less multiplies where the CPU has them, several times faster
 * than zlib's on a piece.
 */
#ifndef BUCKETFS_CRC_H
#define BUCKETFS_CRC_H

#include <stddef.h>
#include <stdint.h>
#include <libdeflate.h>

/* The CRC-32 of `bytes` at `data`, continuing from `crc` (0 for a first part). */
static inline uint32_t crc32_of(uint32_t crc, const void *data, size_t bytes) {
  return libdeflate_crc32(crc, data, bytes);
}

#endif
