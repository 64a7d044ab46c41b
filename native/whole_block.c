/*
 * Small objects from the disk cache, served without JS. When one block file holds a whole object, JS answers
 * the OPEN with that file's path, the key it must carry and its data's length; the worker opens the file and
 * checks its header (the format of src/fs/disk-cache/block-file.ts) right after, before the kernel gets the
 * handle. Every READ of that handle is then served here: pread of the pieces covering it, each checked with
 * its CRC-32 (crc.h), replied from this thread's buffer. JS only learns the bytes served (OP_CACHE_SETTLED).
 *
 * Anything amiss is no error for the reader: no file, a header that does not check, another key, a wrong
 * length, and the handle holds nothing, so its reads go to JS as usual (JS finds and drops a bad file itself).
 * A piece that fails its CRC, a short file or a failed pread drop the block and send that READ to JS, marked
 * READ_AFTER_CACHE_FAILURE with the range index WHOLE_BLOCK_RANGE_INDEX.
 *
 * The OPEN itself need not cross into JS either: with a lookup's answer or a listing's batch, JS offers the files
 * it would open this way (open_offer_add), each good until its metadata would need revalidating. An open for
 * reading of an offered file opens and checks the block here and replies with a handle of the engine's own
 * (numbered from ENGINE_FH_BASE); JS hears of it with the batched tokens. An open that may write, an offer past
 * its deadline, a file missing or not this object's go to JS, which opens as before. JS drops every offer when
 * anything may have changed them. Should a read of such a handle fail its check, JS opens the file then, and the
 * handle's reads go to JS's handle from that read on.
 */
/* O_DIRECT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "block_format.h"
#include "crc.h"
#include "mount_context.h"

#define HEADER_PROBE_BYTES 4096u
/* A hit marks its file used at most this often (src/fs/disk-cache/disk-cache.ts): eviction goes by access time. */
#define TOUCH_INTERVAL_S 60

static double seconds_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

struct whole_block {
  struct whole_block *next; /* in its bucket of mount_context.whole_blocks */
  uint64_t fh;
  atomic_int refs; /* the table's, and one per read being served */
  /* A handle the engine opened from an offer: JS's handle of the file once it needs one (0 before), and its state. */
  int engine_opened;
  int failed; /* a read found it bad: never served again, the handle's reads go to JS (guarded by the lock) */
  uint64_t core_fh;
  int fd;
  /*
   * The whole file, read with the open in one piece when the budget allowed (HELD_MAX_BYTES): its reads are
   * served from here, each checked with its CRC as a read of the file would be, and the file is closed (fd -1).
   * NULL: read from `fd` on each READ. `held_lent`: the opening thread's scratch buffer, lent for the open alone
   * (the block is in no table meanwhile), its file still open.
   */
  char *held;
  size_t held_bytes;
  int held_lent;
  off_t data_offset;
  size_t data_bytes;
  size_t piece_count;
  uint32_t crcs[];
};

static uint32_t le32(const unsigned char *at) {
  return (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 | (uint32_t)at[3] << 24;
}

static size_t bucket_of(uint64_t fh) {
  return (size_t)(fh % WHOLE_BLOCK_BUCKETS);
}

/* Sets `bytes` of the held budget aside for one file; 0 when it would go past it. */
static int held_reserve(struct mount_context *ctx, size_t bytes) {
  int reserved = 0;
  pthread_mutex_lock(&ctx->lock);
  if (ctx->whole_block_held_bytes + bytes <= WHOLE_BLOCK_HELD_MAX_BYTES) {
    ctx->whole_block_held_bytes += bytes;
    reserved = 1;
  }
  pthread_mutex_unlock(&ctx->lock);
  return reserved;
}

static void held_unreserve(struct mount_context *ctx, size_t bytes) {
  pthread_mutex_lock(&ctx->lock);
  ctx->whole_block_held_bytes -= bytes;
  pthread_mutex_unlock(&ctx->lock);
}

static void held_free(struct mount_context *ctx, char *held, size_t bytes) {
  if (held == NULL) return;
  free(held);
  held_unreserve(ctx, bytes);
}

static void unref(struct mount_context *ctx, struct whole_block *block) {
  if (atomic_fetch_sub(&block->refs, 1) != 1) return;
  if (block->fd >= 0) close(block->fd);
  if (!block->held_lent) held_free(ctx, block->held, block->held_bytes);
  free(block);
}

/* Counts one read of a block file asking for `bytes`; `direct`: one that bypassed the page cache. */
static void count_block_read(struct mount_context *ctx, size_t bytes, int direct) {
  pthread_mutex_lock(&ctx->lock);
  ctx->whole_block_reads++;
  ctx->whole_block_read_bytes += bytes;
  if (direct) ctx->whole_block_direct_reads++;
  pthread_mutex_unlock(&ctx->lock);
}

/* The length of a block file holding `data_bytes` under a key of `key_bytes`, as src/fs/disk-cache/block-file.ts lays it out. */
static size_t expected_file_bytes(size_t key_bytes, size_t data_bytes) {
  size_t used = FIXED_HEADER_BYTES + key_bytes + 4u * ((data_bytes + PIECE_BYTES - 1) / PIECE_BYTES);
  return (used + DATA_ALIGNMENT_BYTES - 1) / DATA_ALIGNMENT_BYTES * DATA_ALIGNMENT_BYTES + data_bytes;
}

/*
 * A block file read whole goes from the disk straight into the buffer (O_DIRECT) when the kernel holds few of its
 * pages: read through the page cache, every page of it would be inserted there and copied out, only for the open
 * to hand the same bytes to the FUSE file's own pages. Direct reads read whole units of the disk: the buffer is
 * aligned to them, and its length rounded up to them (the read comes up short at the end of the file).
 */
#define DIRECT_ALIGNMENT_BYTES 4096u

/* The memory a block file read whole takes, set aside from the budget in that amount. */
static size_t held_bytes_of(size_t file_bytes) {
  return (file_bytes + DIRECT_ALIGNMENT_BYTES - 1) / DIRECT_ALIGNMENT_BYTES * DIRECT_ALIGNMENT_BYTES;
}

/* cachestat(2), Linux 6.5 on: the C library may not wrap it, nor its headers name it. */
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct page_cache_range {
  uint64_t offset;
  uint64_t length;
};
struct page_cache_stat {
  uint64_t cached;
  uint64_t dirty;
  uint64_t writeback;
  uint64_t evicted;
  uint64_t recently_evicted;
};

/*
 * An overlay's file keeps no pages of its own: cachestat sees none, whatever its layer's file holds, dirty pages
 * too. Its block files are read through the page cache.
 */
#define OVERLAY_FS_MAGIC 0x794c7630

/* Whether the cache's file system tells what it caches of a file: learnt from the first block file read whole. */
static int page_cache_seen(struct mount_context *ctx, int fd) {
  int seen = atomic_load(&ctx->block_pages_seen);
  if (seen == 0) {
    struct statfs fs;
    seen = fstatfs(fd, &fs) == 0 && fs.f_type != OVERLAY_FS_MAGIC ? 1 : -1;
    atomic_store(&ctx->block_pages_seen, seen);
  }
  return seen > 0;
}

/*
 * Whether the first `bytes` of `fd` are best read past the page cache: fewer than half their pages are cached,
 * and none is dirty or under writeback (a freshly written block: a direct read would wait for its write to the
 * disk first). Without cachestat (an older kernel), through the page cache as before.
 */
static int mostly_uncached(struct mount_context *ctx, int fd, size_t bytes) {
  if (!page_cache_seen(ctx, fd)) return 0;
  struct page_cache_range range = {.offset = 0, .length = bytes};
  struct page_cache_stat pages;
  if (syscall(__NR_cachestat, fd, &range, &pages, 0) != 0) return 0;
  uint64_t page_bytes = (uint64_t)sysconf(_SC_PAGESIZE);
  uint64_t page_count = (bytes + page_bytes - 1) / page_bytes;
  return pages.dirty == 0 && pages.writeback == 0 && pages.cached * 2 < page_count;
}

/* Turns O_DIRECT on or off for `fd` (opened by this file with no other status flag); 0 when refused (a file system without direct I/O). */
static int set_direct(int fd, int direct) {
  return fcntl(fd, F_SETFL, direct ? O_DIRECT : 0) == 0;
}

/*
 * A direct read of the `file_bytes` of `fd` into `into` (`buffer_bytes`, their aligned length): the bytes read, or
 * -1. It stops once it has the file's length, for a read from an unaligned position is refused.
 */
static ssize_t pread_direct(int fd, char *into, size_t file_bytes, size_t buffer_bytes) {
  size_t got = 0;
  while (got < file_bytes) {
    ssize_t n = pread(fd, into + got, buffer_bytes - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

/*
 * Where a block file read whole goes: nowhere (only its header is read), memory the block holds for its handle's
 * READs, or this thread's scratch buffer, lent while the open hands the kernel its pages (whole_block_open_offered):
 * memory already touched and pinned before, kept by the thread for its next open.
 */
enum whole_read { WHOLE_UNREAD, WHOLE_HELD, WHOLE_LENT };

/* Gives back the memory read_whole read into. */
static void whole_free(struct mount_context *ctx, char *whole, size_t file_bytes, enum whole_read into) {
  if (into == WHOLE_HELD) held_free(ctx, whole, held_bytes_of(file_bytes));
}

/*
 * The whole of a block file `file_bytes` long in one read, header and data: one request to the disk where a
 * read of the header and then one of the data would make two, each waited for. NULL when the budget is spent
 * or the read comes up short (the caller then reads the header alone, and the data with each READ).
 */
static char *read_whole(struct mount_context *ctx, int fd, size_t file_bytes, enum whole_read into) {
  size_t buffer_bytes = held_bytes_of(file_bytes);
  char *whole = NULL;
  if (into == WHOLE_LENT) {
    whole = scratch_of_at_least(buffer_bytes);
    if (whole == NULL) return NULL;
  } else {
    if (!held_reserve(ctx, buffer_bytes)) return NULL;
    if (posix_memalign((void **)&whole, DIRECT_ALIGNMENT_BYTES, buffer_bytes) != 0) {
      held_unreserve(ctx, buffer_bytes);
      return NULL;
    }
  }
  int direct = mostly_uncached(ctx, fd, file_bytes) && set_direct(fd, 1);
  ssize_t got = direct ? pread_direct(fd, whole, file_bytes, buffer_bytes) : -1;
  /* Refused at the read (an alignment this file system does not take): through the page cache after all. */
  if (direct && got < 0) {
    set_direct(fd, 0);
    direct = 0;
  }
  if (!direct) got = pread_fully(fd, whole, file_bytes, 0);
  count_block_read(ctx, file_bytes, direct);
  /* The file may be read again, from positions and into memory of no alignment (a header, a READ's pieces). */
  if (direct) set_direct(fd, 0);
  if (got == (ssize_t)file_bytes) return whole;
  whole_free(ctx, whole, file_bytes, into);
  return NULL;
}

/*
 * The block at `fd` if its header names `key` and `data_bytes` of data, the file exactly that long; else NULL.
 * Unless `into` is WHOLE_UNREAD (the kernel holds the file's pages: no read of it will come), a file of the
 * expected length is read whole there, and held by the block; else only its header is read.
 */
static struct whole_block *checked_block(struct mount_context *ctx, int fd, const char *key, size_t key_bytes, size_t data_bytes, enum whole_read into) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
  size_t file_bytes = expected_file_bytes(key_bytes, data_bytes);
  int whole_fits = into != WHOLE_UNREAD && st.st_size == (off_t)file_bytes && key_bytes <= MAX_KEY_BYTES;
  char *whole = whole_fits ? read_whole(ctx, fd, file_bytes, into) : NULL;
  unsigned char probe_bytes[HEADER_PROBE_BYTES];
  unsigned char *probe = whole != NULL ? (unsigned char *)whole : probe_bytes;
  ssize_t got = (ssize_t)file_bytes;
  if (whole == NULL) {
    count_block_read(ctx, sizeof probe_bytes, 0);
    got = pread_fully(fd, (char *)probe, sizeof probe_bytes, 0);
  }
  if (got < (ssize_t)FIXED_HEADER_BYTES || memcmp(probe, BLOCK_MAGIC, 8) != 0 || le32(probe + 8) != BLOCK_FORMAT_VERSION) {
    whole_free(ctx, whole, file_bytes, into);
    return NULL;
  }
  uint32_t data_offset = le32(probe + 12), stored_bytes = le32(probe + 16), piece_bytes = le32(probe + 20);
  uint32_t piece_count = le32(probe + 24), stored_key_bytes = le32(probe + 28);
  size_t used = FIXED_HEADER_BYTES + (size_t)stored_key_bytes + 4u * (size_t)piece_count;
  if (stored_bytes != data_bytes || piece_bytes != PIECE_BYTES || piece_count != (data_bytes + PIECE_BYTES - 1) / PIECE_BYTES ||
      stored_key_bytes != key_bytes || key_bytes > MAX_KEY_BYTES || used > data_offset || data_offset % DATA_ALIGNMENT_BYTES != 0 ||
      st.st_size != (off_t)data_offset + (off_t)data_bytes) {
    whole_free(ctx, whole, file_bytes, into);
    return NULL;
  }
  /* A long key takes a second read: the whole header, checked in one piece of memory. */
  unsigned char *header = probe;
  if (used > (size_t)got) {
    count_block_read(ctx, used, 0);
    header = malloc(used);
    if (header == NULL || pread_fully(fd, (char *)header, used, 0) != (ssize_t)used) {
      free(header);
      return NULL;
    }
  }
  struct whole_block *block = NULL;
  uint32_t crc = crc32_of(crc32_of(0, header, HEADER_CRC_OFFSET), header + FIXED_HEADER_BYTES, used - FIXED_HEADER_BYTES);
  if (crc == le32(header + HEADER_CRC_OFFSET) && memcmp(header + FIXED_HEADER_BYTES, key, key_bytes) == 0) {
    block = malloc(sizeof *block + piece_count * sizeof(uint32_t));
    if (block != NULL) {
      const unsigned char *crcs = header + FIXED_HEADER_BYTES + key_bytes;
      for (uint32_t i = 0; i < piece_count; i++) block->crcs[i] = le32(crcs + 4u * i);
      block->data_offset = data_offset;
      block->data_bytes = data_bytes;
      block->piece_count = piece_count;
      block->engine_opened = 0;
      block->failed = 0;
      block->core_fh = 0;
      block->fd = fd;
      block->held = whole;
      block->held_bytes = whole != NULL && into == WHOLE_HELD ? held_bytes_of(file_bytes) : 0;
      block->held_lent = whole != NULL && into == WHOLE_LENT;
      /* Its access time is what eviction goes by: a file about to be served is used. */
      if (time(NULL) - st.st_atim.tv_sec >= TOUCH_INTERVAL_S) {
        const struct timespec times[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
        futimens(fd, times);
      }
    }
  }
  if (header != probe) free(header);
  if (block == NULL) whole_free(ctx, whole, file_bytes, into);
  /* Held whole, the block needs its file no more. */
  else if (whole != NULL && into == WHOLE_HELD) {
    close(fd);
    block->fd = -1;
  }
  return block;
}

/* JS hears, before the handle's first READ, that it must read the file itself: it starts fetching now. */
static void say_lacking(struct mount_context *ctx, uint64_t fh) {
  const double tokens[3] = {-(double)fh, -2, 0};
  cache_queue_tokens(ctx, tokens, 3);
}

void whole_block_hold(struct mount_context *ctx, const struct request *r) {
  if (r->block_path == NULL || r->block_key == NULL || r->block_data_bytes == 0) return;
  int fd = open(r->block_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    say_lacking(ctx, r->open_fh);
    return;
  }
  struct whole_block *block = checked_block(ctx, fd, r->block_key, r->block_key_bytes, r->block_data_bytes, r->keep_cache ? WHOLE_UNREAD : WHOLE_HELD);
  if (block == NULL) {
    close(fd);
    say_lacking(ctx, r->open_fh);
    return;
  }
  block->fh = r->open_fh;
  atomic_init(&block->refs, 1);
  pthread_mutex_lock(&ctx->lock);
  struct whole_block **head = &ctx->whole_blocks[bucket_of(block->fh)];
  block->next = *head;
  *head = block;
  pthread_mutex_unlock(&ctx->lock);
}

/* Takes the handle's block out of the table (the table's reference passes to the caller); lock held. */
static struct whole_block *take_locked(struct mount_context *ctx, uint64_t fh) {
  for (struct whole_block **at = &ctx->whole_blocks[bucket_of(fh)]; *at != NULL; at = &(*at)->next) {
    if ((*at)->fh != fh) continue;
    struct whole_block *block = *at;
    *at = block->next;
    return block;
  }
  return NULL;
}

void whole_block_drop(struct mount_context *ctx, uint64_t fh) {
  pthread_mutex_lock(&ctx->lock);
  struct whole_block *block = take_locked(ctx, fh);
  pthread_mutex_unlock(&ctx->lock);
  if (block != NULL) unref(ctx, block);
}

int whole_block_release(struct mount_context *ctx, uint64_t fh) {
  pthread_mutex_lock(&ctx->lock);
  struct whole_block *block = take_locked(ctx, fh);
  pthread_mutex_unlock(&ctx->lock);
  if (block == NULL) return 0;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  /* An engine's handle JS had to open the file for: minus it, -4 and JS's own handle, which JS releases then. */
  uint64_t core_fh = block->engine_opened ? block->core_fh : 0;
  unref(ctx, block);
  /* JS's handle behind it may have had blocks lent, as any handle JS answers a cache hit for. */
  if (core_fh != 0) lent_drop(ctx, core_fh);
  /* A handle that only ever read one checked file has nothing to report: JS forgets it with the next hits. */
  const double tokens[3] = {-(double)fh, core_fh != 0 ? -4 : -1, core_fh != 0 ? (double)core_fh : seconds_since(&start)};
  cache_queue_tokens(ctx, tokens, 3);
  return 1;
}

void whole_blocks_free_all(struct mount_context *ctx) {
  for (size_t i = 0; i < WHOLE_BLOCK_BUCKETS; i++) {
    while (ctx->whole_blocks[i] != NULL) {
      struct whole_block *block = ctx->whole_blocks[i];
      ctx->whole_blocks[i] = block->next;
      unref(ctx, block);
    }
  }
  open_offers_drop_all(ctx);
}

/* Checks the held pieces `first` to `last` with their CRCs, as read_checked checks the pieces it reads. */
static int held_pieces_check(const struct whole_block *block, size_t first, size_t last) {
  const char *data = block->held + block->data_offset;
  for (size_t piece = first; piece <= last; piece++) {
    size_t start = piece * PIECE_BYTES;
    size_t bytes = block->data_bytes - start < PIECE_BYTES ? block->data_bytes - start : PIECE_BYTES;
    if (crc32_of(0, data + start, bytes) != block->crcs[piece]) return CACHE_CHECKSUM_MISMATCH;
  }
  return 0;
}

int whole_block_serve(struct mount_context *ctx, fuse_req_t req, uint64_t fh, size_t size, off_t offset) {
  pthread_mutex_lock(&ctx->lock);
  struct whole_block *block = ctx->whole_blocks[bucket_of(fh)];
  while (block != NULL && block->fh != fh) block = block->next;
  if (block != NULL && block->failed) block = NULL;
  if (block != NULL) atomic_fetch_add(&block->refs, 1);
  pthread_mutex_unlock(&ctx->lock);
  if (block == NULL || offset < 0) {
    if (block != NULL) unref(ctx, block);
    return 0;
  }
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  if ((size_t)offset >= block->data_bytes || size == 0) {
    /* At or past the end of the object: the kernel learns its end, as from the core. */
    fuse_reply_buf(req, NULL, 0);
    unref(ctx, block);
    return 1;
  }
  size_t end = (size_t)offset + size < block->data_bytes ? (size_t)offset + size : block->data_bytes;
  size_t first = (size_t)offset / PIECE_BYTES, last = (end - 1) / PIECE_BYTES;
  const char *from;
  int failure;
  if (block->held != NULL) {
    failure = held_pieces_check(block, first, last);
    from = block->held + block->data_offset + offset;
  } else {
    const struct cache_range pieces = {
        .fd = block->fd,
        .file_position = block->data_offset + offset,
        .length = end - (size_t)offset,
        .piece_bytes = PIECE_BYTES,
        .first_piece_position = block->data_offset + (off_t)(first * PIECE_BYTES),
        .piece_count = last - first + 1,
        .piece_crcs = block->crcs + first,
    };
    char *buffer = scratch_of_at_least(pieces.piece_count * PIECE_BYTES);
    if (buffer != NULL) count_block_read(ctx, pieces.piece_count * PIECE_BYTES, 0);
    failure = buffer == NULL ? CACHE_READ_ERROR : read_checked(&pieces, buffer);
    from = buffer + ((size_t)offset - first * PIECE_BYTES);
  }
  if (failure != 0) {
    if (block->engine_opened) {
      /* The handle lives on (JS does not know it): only marked, so that its reads find their way to JS. */
      pthread_mutex_lock(&ctx->lock);
      block->failed = 1;
      pthread_mutex_unlock(&ctx->lock);
      unref(ctx, block);
    } else {
      unref(ctx, block);
      /* Never served again: the handle's later reads go to JS, which reads (and drops) the file itself. */
      whole_block_drop(ctx, fh);
    }
    cache_count_fallback(ctx);
    return -failure;
  }
  /*
   * Counted before the reply: the handle's RELEASE, which may follow the reply at once, then reaches JS after it.
   * JS keeps nothing of a handle the engine opened: the count waits for its release, which calls JS once for all.
   */
  const double tokens[3] = {-(double)fh, (double)(end - (size_t)offset), seconds_since(&start)};
  if (block->engine_opened) cache_queue_quietly(ctx, tokens, 3, end - (size_t)offset);
  else cache_settle(ctx, tokens, 3, end - (size_t)offset);
  fuse_reply_buf(req, from, end - (size_t)offset);
  unref(ctx, block);
  return 1;
}

/* ---- opens served from offers ---- */

/*
 * An offer: JS looked the file up (or listed it) and found its whole object in one block file. Until its
 * metadata would need revalidating, an open for reading is what JS's open would do with it: check that file
 * and serve it. The path and the key live in the same allocation, after the struct.
 */
struct open_offer {
  struct open_offer *next;           /* in its bucket of mount_context.offers */
  struct open_offer *older, *newer;  /* on the list of all, oldest first */
  fuse_ino_t ino;
  struct timespec deadline; /* CLOCK_MONOTONIC: past it, JS revalidates */
  int keep_cache;
  size_t data_bytes;
  size_t key_bytes;
  char *path;
  char *key;
};

static size_t offer_bucket_of(fuse_ino_t ino) {
  return (size_t)(ino % OPEN_OFFER_BUCKETS);
}

/* Takes `ino`'s offer out of the table (the caller frees it); lock held. */
static struct open_offer *offer_take_locked(struct mount_context *ctx, fuse_ino_t ino) {
  for (struct open_offer **at = &ctx->offers[offer_bucket_of(ino)]; *at != NULL; at = &(*at)->next) {
    if ((*at)->ino != ino) continue;
    struct open_offer *offer = *at;
    *at = offer->next;
    if (offer->older != NULL) offer->older->newer = offer->newer;
    else ctx->oldest_offer = offer->newer;
    if (offer->newer != NULL) offer->newer->older = offer->older;
    else ctx->newest_offer = offer->older;
    ctx->offer_count--;
    return offer;
  }
  return NULL;
}

int open_offer_add(struct mount_context *ctx, const struct offer_fields *fields) {
  size_t path_bytes = strlen(fields->path);
  struct open_offer *offer = malloc(sizeof *offer + path_bytes + 1 + fields->key_bytes + 1);
  if (offer == NULL) return 0;
  offer->ino = fields->ino;
  offer->keep_cache = fields->keep_cache;
  offer->data_bytes = fields->data_bytes;
  offer->key_bytes = fields->key_bytes;
  offer->path = (char *)(offer + 1);
  memcpy(offer->path, fields->path, path_bytes + 1);
  offer->key = offer->path + path_bytes + 1;
  memcpy(offer->key, fields->key, fields->key_bytes);
  offer->key[fields->key_bytes] = '\0';
  clock_gettime(CLOCK_MONOTONIC, &offer->deadline);
  double whole = floor(fields->valid_s);
  offer->deadline.tv_sec += (time_t)whole;
  offer->deadline.tv_nsec += (long)((fields->valid_s - whole) * 1e9);
  if (offer->deadline.tv_nsec >= 1000000000L) {
    offer->deadline.tv_sec += 1;
    offer->deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&ctx->lock);
  struct open_offer *replaced = offer_take_locked(ctx, offer->ino);
  if (replaced != NULL) {
    /* The same version offered again (each lookup and listing does): its pages stay what they were. */
    int same = replaced->data_bytes == offer->data_bytes && replaced->key_bytes == offer->key_bytes &&
               memcmp(replaced->key, offer->key, offer->key_bytes) == 0 && strcmp(replaced->path, offer->path) == 0;
    if (!same) ctx->offer_generation++;
    else if (replaced->keep_cache) offer->keep_cache = 1;
  }
  struct open_offer *evicted = ctx->offer_count >= OPEN_OFFERS_MAX ? offer_take_locked(ctx, ctx->oldest_offer->ino) : NULL;
  struct open_offer **head = &ctx->offers[offer_bucket_of(offer->ino)];
  offer->next = *head;
  *head = offer;
  offer->newer = NULL;
  offer->older = ctx->newest_offer;
  if (ctx->newest_offer != NULL) ctx->newest_offer->newer = offer;
  else ctx->oldest_offer = offer;
  ctx->newest_offer = offer;
  ctx->offer_count++;
  pthread_mutex_unlock(&ctx->lock);
  free(replaced);
  free(evicted);
  return 1;
}

void open_offers_drop_all(struct mount_context *ctx) {
  pthread_mutex_lock(&ctx->lock);
  struct open_offer *offer = ctx->oldest_offer;
  memset(ctx->offers, 0, sizeof ctx->offers);
  ctx->oldest_offer = ctx->newest_offer = NULL;
  ctx->offer_count = 0;
  ctx->offer_generation++;
  pthread_mutex_unlock(&ctx->lock);
  while (offer != NULL) {
    struct open_offer *newer = offer->newer;
    free(offer);
    offer = newer;
  }
}

static int is_past(const struct timespec *deadline) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/*
 * Hands the kernel the pages of the whole file before the open's reply, checked piece by piece first: the
 * reader's reads then find them cached, and no READ crosses to the engine. Counted as one hit of the whole file.
 * A store waits for any page of the file another reader has locked, until its READ is answered: at most half
 * the workers store at once, so that the others are there to answer those READs.
 */
static int store_pages(struct mount_context *ctx, fuse_ino_t ino, struct whole_block *block) {
  if (block->held == NULL || held_pieces_check(block, 0, block->piece_count - 1) != 0) return 0;
  int allowed = 0;
  pthread_mutex_lock(&ctx->lock);
  if (ctx->page_stores_running < ctx->max_threads / 2) {
    ctx->page_stores_running++;
    allowed = 1;
  }
  pthread_mutex_unlock(&ctx->lock);
  if (!allowed) return 0;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  struct fuse_bufvec pages = FUSE_BUFVEC_INIT(block->data_bytes);
  pages.buf[0].mem = block->held + block->data_offset;
  int stored = fuse_lowlevel_notify_store(ctx->session, ino, 0, &pages, 0) == 0;
  pthread_mutex_lock(&ctx->lock);
  ctx->page_stores_running--;
  if (stored) ctx->page_stores++;
  pthread_mutex_unlock(&ctx->lock);
  if (stored) {
    const double tokens[3] = {-(double)block->fh, (double)block->data_bytes, seconds_since(&start)};
    cache_queue_quietly(ctx, tokens, 3, block->data_bytes);
  }
  return stored;
}

/*
 * Gives the open's lent buffer back to its thread, before any other thread can find the block. Stored, the
 * kernel's pages answer the handle's reads (a READ that comes all the same reads the file, still open); else its
 * READs will come, and the block holds a copy of its own when the budget allows.
 */
static void end_lending(struct mount_context *ctx, struct whole_block *block, int stored) {
  if (!block->held_lent) return;
  const char *lent = block->held;
  block->held = NULL;
  block->held_lent = 0;
  size_t file_bytes = (size_t)block->data_offset + block->data_bytes, bytes = held_bytes_of(file_bytes);
  if (stored || !held_reserve(ctx, bytes)) return;
  /* Page-aligned as the lent buffer was: a buffer malloc maps starts a few bytes into a page, and the copies of
   * the READs served from it would then run at the kernel's slow distance. */
  char *own = NULL;
  if (posix_memalign((void **)&own, DIRECT_ALIGNMENT_BYTES, bytes) != 0) {
    held_unreserve(ctx, bytes);
    return;
  }
  memcpy(own, lent, file_bytes);
  block->held = own;
  block->held_bytes = bytes;
  close(block->fd);
  block->fd = -1;
}

int whole_block_open_offered(struct mount_context *ctx, fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  /* Only JS decides an open that may write, truncate or create. */
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & (O_TRUNC | O_CREAT)) != 0) return 0;
  char *copy = NULL;
  size_t path_bytes = 0, key_bytes = 0, data_bytes = 0;
  int keep_cache = 0;
  pthread_mutex_lock(&ctx->lock);
  uint64_t generation = ctx->offer_generation;
  struct open_offer *offer = ctx->offers[offer_bucket_of(ino)];
  while (offer != NULL && offer->ino != ino) offer = offer->next;
  /* Past its deadline it is JS's again: JS's open revalidates the metadata, and may offer it anew. */
  if (offer != NULL && is_past(&offer->deadline)) {
    free(offer_take_locked(ctx, ino));
    offer = NULL;
  }
  if (offer != NULL) {
    path_bytes = strlen(offer->path);
    key_bytes = offer->key_bytes;
    data_bytes = offer->data_bytes;
    copy = malloc(path_bytes + 1 + key_bytes + 1);
    if (copy != NULL) {
      memcpy(copy, offer->path, path_bytes + 1 + key_bytes + 1);
      keep_cache = offer->keep_cache;
    }
  }
  pthread_mutex_unlock(&ctx->lock);
  if (copy == NULL) return 0;
  /* A direct reader's READs will come: its block holds the file. Any other open hands the kernel the pages from a lent buffer. */
  int direct_reader = (fi->flags & O_DIRECT) != 0;
  enum whole_read into = keep_cache ? WHOLE_UNREAD : direct_reader ? WHOLE_HELD : WHOLE_LENT;
  int fd = open(copy, O_RDONLY | O_CLOEXEC);
  struct whole_block *block = fd < 0 ? NULL : checked_block(ctx, fd, copy + path_bytes + 1, key_bytes, data_bytes, into);
  free(copy);
  if (block == NULL) {
    /* No file, or not this object's: the offer goes, and JS opens the file, finds what is amiss and fetches it. */
    if (fd >= 0) close(fd);
    pthread_mutex_lock(&ctx->lock);
    free(offer_take_locked(ctx, ino));
    pthread_mutex_unlock(&ctx->lock);
    return 0;
  }
  block->engine_opened = 1;
  atomic_init(&block->refs, 1);
  pthread_mutex_lock(&ctx->lock);
  block->fh = ENGINE_FH_BASE + ++ctx->next_engine_fh;
  uint64_t fh = block->fh;
  ctx->opens_served++;
  pthread_mutex_unlock(&ctx->lock);
  /*
   * JS counts the open and keeps nothing: minus the handle, -3, the inode. Queued before the reply, so that it
   * reaches JS ahead of the handle's release, which another worker may queue as soon as the kernel has the handle;
   * with it, in the release's one call to JS.
   */
  const double tokens[3] = {-(double)fh, -3, (double)ino};
  cache_queue_quietly(ctx, tokens, 3, 0);
  /* The kernel's pages hold the whole file now, this version's: the open keeps them. A direct reader reads past them. */
  if (!keep_cache && !direct_reader && store_pages(ctx, ino, block)) keep_cache = 1;
  end_lending(ctx, block, keep_cache);
  pthread_mutex_lock(&ctx->lock);
  struct whole_block **head = &ctx->whole_blocks[bucket_of(fh)];
  block->next = *head;
  *head = block;
  /*
   * An offer dropped or replaced since it was copied: a writer's bytes may have reached the kernel's pages before
   * this open's store overwrote them. Kept not, the kernel drops the pages at the reply and reads them anew.
   */
  if (ctx->offer_generation != generation) keep_cache = 0;
  pthread_mutex_unlock(&ctx->lock);
  fi->fh = fh;
  fi->keep_cache = keep_cache ? 1 : 0;
  fi->direct_io = 0;
#if FUSE_VERSION >= FUSE_MAKE_VERSION(3, 11)
  fi->noflush = 1;
#endif
  /* Interrupted: the kernel holds no handle; released as the kernel would have, so JS forgets it too. */
  if (fuse_reply_open(req, fi) != 0) {
    whole_block_release(ctx, fh);
    return 1;
  }
  /*
   * Answered: the kernel's pages of the file are this version's (stored, or dropped at the reply and read anew),
   * so later opens of the same offer keep them; unless the offer changed meanwhile.
   */
  pthread_mutex_lock(&ctx->lock);
  if (ctx->offer_generation == generation) {
    offer = ctx->offers[offer_bucket_of(ino)];
    while (offer != NULL && offer->ino != ino) offer = offer->next;
    if (offer != NULL) offer->keep_cache = 1;
  }
  pthread_mutex_unlock(&ctx->lock);
  return 1;
}

int whole_block_engine_handle(struct mount_context *ctx, uint64_t fh, uint64_t *core_fh) {
  if (fh <= ENGINE_FH_BASE) return 0;
  pthread_mutex_lock(&ctx->lock);
  struct whole_block *block = ctx->whole_blocks[bucket_of(fh)];
  while (block != NULL && block->fh != fh) block = block->next;
  *core_fh = block != NULL ? block->core_fh : 0;
  pthread_mutex_unlock(&ctx->lock);
  return 1;
}

int whole_block_set_core_handle(struct mount_context *ctx, uint64_t fh, uint64_t core_fh) {
  int set = 0;
  pthread_mutex_lock(&ctx->lock);
  struct whole_block *block = ctx->whole_blocks[bucket_of(fh)];
  while (block != NULL && block->fh != fh) block = block->next;
  if (block != NULL && block->core_fh == 0) {
    block->core_fh = core_fh;
    block->failed = 1;
    set = 1;
  }
  pthread_mutex_unlock(&ctx->lock);
  return set;
}
