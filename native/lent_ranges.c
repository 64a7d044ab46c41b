/*
 * Blocks JS lends a handle's reads ahead of them. A large cached object is read block after block: rather than
 * answer each READ (a crossing into JS per request), JS hands the engine the block files the next reads fall in
 * (lendRanges: per block the descriptor, where its bytes lie and every piece's CRC-32), and the worker serves the
 * READs those blocks cover on its own: pread, every piece checked (crc.h), fuse_reply_iov. JS learns the bytes
 * served in the batched settlements (OP_CACHE_SETTLED), and, when what is lent ahead of the reader runs low, the
 * object position to lend from next.
 *
 * The engine keeps a descriptor of its own of each lent file (a dup), so JS may close its own whenever it likes;
 * a file evicted meanwhile stays readable through it, and its bytes stay right, as a block file is never written
 * in place. Every piece is checked on every read, as for a hit JS answers: a mismatch, a file that ends too soon
 * or a failed pread forget that block, and the READ goes to JS as the usual read, marked READ_AFTER_CACHE_FAILURE
 * with the range index LENT_RANGE_INDEX; JS reads the block itself, finds the damage and drops the file.
 *
 * A handle's blocks go at its RELEASE, after JS answered it: JS lends only to handles it has open, so none can be
 * lent to the released handle after that.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "mount_context.h"

/* The numbers JS sends per lent block: the object position of its first byte, then the range's RANGE_NUMBERS. */
#define LENT_NUMBERS (1 + RANGE_NUMBERS)
/* Blocks kept per handle: the ones furthest behind make room. */
#define LENT_PER_HANDLE 32
/* Descriptors kept for lent blocks, all handles together: past it, lends are refused (reads then ask JS). */
#define LENT_MAX_TOTAL 1024
/* A lent block is at most this long (a block's data; the cache's block size is at most this). */
#define LENT_MAX_BYTES (256.0 * 1024 * 1024)
/* JS is asked for more once the bytes lent past a read's end fall below this (src/fuse/native-cache-hits.ts lends twice it). */
#define LENT_LOW_WATER_BYTES ((off_t)8 * 1024 * 1024)
/* The token that asks JS to lend from a position: [-fh, LEND_WANTED, position]. */
#define LEND_WANTED (-5.0)

struct lent_range {
  atomic_int refs; /* the table's, and one per read being served */
  off_t object_position;
  struct cache_range range; /* range.fd is the engine's own descriptor */
  uint32_t crcs[];
};

struct lent_handle {
  struct lent_handle *next; /* in its bucket of mount_context.lent_handles */
  uint64_t fh;
  size_t count;
  struct lent_range *ranges[LENT_PER_HANDLE]; /* by object position, none overlapping */
};

static size_t bucket_of(uint64_t fh) {
  return (size_t)(fh % LENT_HANDLE_BUCKETS);
}

static void unref(struct lent_range *lent) {
  if (lent == NULL || atomic_fetch_sub(&lent->refs, 1) != 1) return;
  close(lent->range.fd);
  free(lent);
}

static off_t end_of(const struct lent_range *lent) {
  return lent->object_position + (off_t)lent->range.length;
}

/* The handle's entry, made when `create` and missing; lock held. */
static struct lent_handle *handle_locked(struct mount_context *ctx, uint64_t fh, int create) {
  struct lent_handle **head = &ctx->lent_handles[bucket_of(fh)];
  for (struct lent_handle *h = *head; h != NULL; h = h->next) {
    if (h->fh == fh) return h;
  }
  if (!create) return NULL;
  struct lent_handle *h = calloc(1, sizeof *h);
  if (h == NULL) return NULL;
  h->fh = fh;
  h->next = *head;
  *head = h;
  return h;
}

/* Takes ranges[at] out of the handle (its table reference passes to the caller); lock held. */
static struct lent_range *remove_at_locked(struct mount_context *ctx, struct lent_handle *h, size_t at) {
  struct lent_range *removed = h->ranges[at];
  memmove(h->ranges + at, h->ranges + at + 1, (h->count - at - 1) * sizeof *h->ranges);
  h->count--;
  ctx->lent_range_count--;
  return removed;
}

/*
 * Puts `lent` in the handle's table: the blocks it overlaps (lent again) go, then, when full, the one furthest
 * behind it (or, when it is itself behind them all, it is not kept). The ranges that left are put in `gone`.
 * Returns whether `lent` was kept; lock held.
 */
static int insert_locked(struct mount_context *ctx, struct lent_handle *h, struct lent_range *lent, struct lent_range **gone, size_t *gone_count) {
  for (size_t i = 0; i < h->count;) {
    if (h->ranges[i]->object_position < end_of(lent) && lent->object_position < end_of(h->ranges[i])) {
      gone[(*gone_count)++] = remove_at_locked(ctx, h, i);
    } else {
      i++;
    }
  }
  if (h->count == LENT_PER_HANDLE) {
    if (lent->object_position < h->ranges[0]->object_position) return 0;
    gone[(*gone_count)++] = remove_at_locked(ctx, h, 0);
  }
  if (ctx->lent_range_count >= LENT_MAX_TOTAL) return 0;
  size_t at = 0;
  while (at < h->count && h->ranges[at]->object_position < lent->object_position) at++;
  memmove(h->ranges + at + 1, h->ranges + at, (h->count - at) * sizeof *h->ranges);
  h->ranges[at] = lent;
  h->count++;
  ctx->lent_range_count++;
  return 1;
}

/* ---- on the JS thread: lending ---- */

/* The lent block `numbers` describe, its CRCs copied and its descriptor not yet its own; NULL with `*error` set. */
static struct lent_range *lent_from(const double *numbers, const uint32_t *crcs, size_t crc_count, size_t *crcs_used, const char **error) {
  struct cache_range range;
  double position = numbers[0];
  if (!isfinite(position) || position < 0 || position > 0x1p53 || floor(position) != position) {
    *error = "lendRanges: objectPosition must be a whole number of bytes";
    return NULL;
  }
  *error = cache_range_from(numbers + 1, LENT_MAX_BYTES, &range);
  if (*error != NULL) return NULL;
  if (range.piece_count > crc_count - *crcs_used) {
    *error = "lendRanges: crcs must hold one CRC per covered piece";
    return NULL;
  }
  struct lent_range *lent = malloc(sizeof *lent + range.piece_count * sizeof(uint32_t));
  if (lent == NULL) return NULL;
  memcpy(lent->crcs, crcs + *crcs_used, range.piece_count * sizeof(uint32_t));
  *crcs_used += range.piece_count;
  range.piece_crcs = lent->crcs;
  lent->range = range;
  lent->object_position = (off_t)position;
  atomic_init(&lent->refs, 1);
  return lent;
}

/*
 * lendRanges(ctx, fh, ranges: Float64Array of LENT_NUMBERS per block, crcs: Uint32Array): the number of blocks
 * the engine took (it may take fewer: its bounds, a descriptor it could not duplicate). JS's descriptors are only
 * used during the call.
 */
napi_value lent_lend_ranges(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  struct mount_context *ctx = args_with_context_or(env, info, 4, argv, "lendRanges(ctx, fh, ranges, crcs)");
  if (ctx == NULL) return NULL;
  size_t numbers_length = 0, crc_count = 0;
  const void *numbers = NULL, *crcs = NULL;
  bool arrays = typed_array_data(env, argv[2], napi_float64_array, &numbers, &numbers_length) &&
                typed_array_data(env, argv[3], napi_uint32_array, &crcs, &crc_count);
  double fh = 0;
  if (napi_get_value_double(env, argv[1], &fh) != napi_ok || !isfinite(fh) || fh < 0 || fh > 0x1p53 || floor(fh) != fh || !arrays) {
    napi_throw_type_error(env, "ERR_BUCKETFS_NATIVE", "lendRanges: fh must be a handle number, ranges a Float64Array, crcs a Uint32Array");
    return NULL;
  }
  size_t count = numbers_length / LENT_NUMBERS;
  if (numbers_length % LENT_NUMBERS != 0 || count < 1 || count > LENT_PER_HANDLE) {
    napi_throw_range_error(env, "ERR_BUCKETFS_NATIVE", "lendRanges: 1 to 32 blocks of 7 numbers each");
    return NULL;
  }
  struct lent_range *lent[LENT_PER_HANDLE];
  size_t crcs_used = 0;
  for (size_t i = 0; i < count; i++) {
    const char *error = NULL;
    lent[i] = lent_from((const double *)numbers + i * LENT_NUMBERS, crcs, crc_count, &crcs_used, &error);
    if (lent[i] == NULL || (i > 0 && lent[i]->object_position < end_of(lent[i - 1]))) {
      for (size_t j = 0; j <= i; j++) free(lent[j]);
      if (error == NULL && lent[i] != NULL) error = "lendRanges: blocks must come in order, none overlapping";
      napi_throw_range_error(env, "ERR_BUCKETFS_NATIVE", error != NULL ? error : "lendRanges: out of memory");
      return NULL;
    }
  }
  if (crcs_used != crc_count) {
    for (size_t i = 0; i < count; i++) free(lent[i]);
    napi_throw_range_error(env, "ERR_BUCKETFS_NATIVE", "lendRanges: crcs must hold one CRC per covered piece");
    return NULL;
  }
  /* Descriptors of the engine's own, made while JS's are sure to be open: JS holds them for this call. */
  size_t owned = 0;
  while (owned < count) {
    int fd = fcntl(lent[owned]->range.fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) break;
    lent[owned++]->range.fd = fd;
  }
  for (size_t i = owned; i < count; i++) free(lent[i]);
  struct lent_range *gone[2 * LENT_PER_HANDLE];
  size_t gone_count = 0, taken = 0;
  pthread_mutex_lock(&ctx->lock);
  struct lent_handle *h = owned > 0 ? handle_locked(ctx, (uint64_t)fh, 1) : NULL;
  for (size_t i = 0; i < owned; i++) {
    if (h != NULL && insert_locked(ctx, h, lent[i], gone, &gone_count)) {
      taken++;
    } else {
      gone[gone_count++] = lent[i];
    }
  }
  pthread_mutex_unlock(&ctx->lock);
  for (size_t i = 0; i < gone_count; i++) unref(gone[i]);
  napi_value result;
  napi_create_uint32(env, (uint32_t)taken, &result);
  return result;
}

/* ---- on the worker thread: serving ---- */

/* The part of `lent` within [from, to), as a range of whole pieces to read and check. */
static struct cache_range part_of(const struct lent_range *lent, off_t from, off_t to) {
  const struct cache_range *whole = &lent->range;
  off_t position = whole->file_position + (from - lent->object_position);
  size_t first = (size_t)(position - whole->first_piece_position) / whole->piece_bytes;
  size_t last = (size_t)(position + (to - from) - 1 - whole->first_piece_position) / whole->piece_bytes;
  return (struct cache_range){
      .fd = whole->fd,
      .file_position = position,
      .length = (size_t)(to - from),
      .piece_bytes = whole->piece_bytes,
      .first_piece_position = whole->first_piece_position + (off_t)(first * whole->piece_bytes),
      .piece_count = last - first + 1,
      .piece_crcs = whole->piece_crcs + first,
  };
}

/* Forgets `lent` (it failed a check), unless it left the handle meanwhile. */
static void forget(struct mount_context *ctx, uint64_t fh, const struct lent_range *lent) {
  struct lent_range *removed = NULL;
  pthread_mutex_lock(&ctx->lock);
  struct lent_handle *h = handle_locked(ctx, fh, 0);
  for (size_t i = 0; h != NULL && i < h->count; i++) {
    if (h->ranges[i] == lent) {
      removed = remove_at_locked(ctx, h, i);
      break;
    }
  }
  pthread_mutex_unlock(&ctx->lock);
  unref(removed);
}

static double seconds_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int lent_serve(struct mount_context *ctx, fuse_req_t req, uint64_t fh, size_t size, off_t offset) {
  if (size == 0 || offset < 0) return 0;
  const off_t end = offset + (off_t)size;
  struct lent_range *parts[MAX_RANGES];
  size_t part_count = 0;
  off_t ask_from = -1;
  pthread_mutex_lock(&ctx->lock);
  struct lent_handle *h = handle_locked(ctx, fh, 0);
  if (h != NULL) {
    size_t i = 0;
    while (i < h->count && end_of(h->ranges[i]) <= offset) i++;
    off_t at = offset;
    while (i < h->count && at < end && part_count < MAX_RANGES && h->ranges[i]->object_position <= at) {
      parts[part_count++] = h->ranges[i];
      at = end_of(h->ranges[i++]);
    }
    if (at < end) {
      part_count = 0;
    } else {
      /* How far the lent bytes go on past this read: JS lends more before the reader gets there. */
      off_t lent_to = at;
      while (i < h->count && h->ranges[i]->object_position == lent_to) lent_to = end_of(h->ranges[i++]);
      if (lent_to - end < LENT_LOW_WATER_BYTES) ask_from = lent_to;
      for (size_t p = 0; p < part_count; p++) atomic_fetch_add(&parts[p]->refs, 1);
    }
  }
  pthread_mutex_unlock(&ctx->lock);
  if (part_count == 0) return 0;

  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  struct cache_range pieces[MAX_RANGES];
  size_t span = 0;
  for (size_t p = 0; p < part_count; p++) {
    off_t from = parts[p]->object_position > offset ? parts[p]->object_position : offset;
    off_t to = end_of(parts[p]) < end ? end_of(parts[p]) : end;
    pieces[p] = part_of(parts[p], from, to);
    span += pieces[p].piece_count * pieces[p].piece_bytes;
  }
  char *buffer = scratch_of_at_least(span);
  struct iovec iov[MAX_RANGES];
  size_t at = 0;
  int failure = buffer == NULL ? CACHE_READ_ERROR : 0;
  for (size_t p = 0; p < part_count && failure == 0; p++) {
    failure = read_checked(&pieces[p], buffer + at);
    if (failure != 0) {
      forget(ctx, fh, parts[p]);
      break;
    }
    iov[p].iov_base = buffer + at + (pieces[p].file_position - pieces[p].first_piece_position);
    iov[p].iov_len = pieces[p].length;
    at += pieces[p].piece_count * pieces[p].piece_bytes;
  }
  if (failure == 0) {
    /* Counted before the reply, as a whole block's hits are: the handle's RELEASE then reaches JS after it. */
    const double tokens[6] = {-(double)fh, (double)size, seconds_since(&start), -(double)fh, LEND_WANTED, (double)ask_from};
    cache_settle(ctx, tokens, ask_from >= 0 ? 6 : 3, size);
    fuse_reply_iov(req, iov, (int)part_count);
  } else {
    cache_count_fallback(ctx);
  }
  for (size_t p = 0; p < part_count; p++) unref(parts[p]);
  return failure == 0 ? 1 : -failure;
}

/* ---- the handle's end ---- */

static void free_handle(struct lent_handle *h) {
  for (size_t i = 0; i < h->count; i++) unref(h->ranges[i]);
  free(h);
}

void lent_drop(struct mount_context *ctx, uint64_t fh) {
  struct lent_handle *found = NULL;
  pthread_mutex_lock(&ctx->lock);
  for (struct lent_handle **at = &ctx->lent_handles[bucket_of(fh)]; *at != NULL; at = &(*at)->next) {
    if ((*at)->fh != fh) continue;
    found = *at;
    *at = found->next;
    ctx->lent_range_count -= found->count;
    break;
  }
  pthread_mutex_unlock(&ctx->lock);
  if (found != NULL) free_handle(found);
}

void lent_free_all(struct mount_context *ctx) {
  for (size_t i = 0; i < LENT_HANDLE_BUCKETS; i++) {
    while (ctx->lent_handles[i] != NULL) {
      struct lent_handle *h = ctx->lent_handles[i];
      ctx->lent_handles[i] = h->next;
      free_handle(h);
    }
  }
  ctx->lent_range_count = 0;
}
