/* The disk cache's block file format, as src/fs/disk-cache/block-file.ts writes and reads it: one copy for the C code. */
#ifndef BUCKETFS_BLOCK_FORMAT_H
#define BUCKETFS_BLOCK_FORMAT_H

#define BLOCK_MAGIC "BKFSBLK1"
#define BLOCK_FORMAT_VERSION 1u
#define FIXED_HEADER_BYTES 36u
#define HEADER_CRC_OFFSET 32u
#define PIECE_BYTES 65536u
#define DATA_ALIGNMENT_BYTES 4096u
#define MAX_KEY_BYTES (16u * 1024u)

#endif
