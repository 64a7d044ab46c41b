/*
 * Cache hits, served on the libfuse worker thread. For a READ the local cache holds, JS answers with
 * the block files' descriptors and the CRC-32 of each piece covering the bytes (replyCached); the
 * worker preads those pieces, checks every CRC (crc.h) and replies the bytes itself, so
 * they never cross into JS. A mismatch, a block file that ends too soon or a failed pread sends the
 * same request back to JS as the usual read (READ_AFTER_CACHE_FAILURE): the reader never sees it.
 *
 * The bytes are checked where they are served: pread copies them into this thread's buffer, the CRC
 * reads them there, and fuse_reply_iov hands that very buffer to the kernel. Splicing from the
 * descriptor (fuse_reply_data with FUSE_BUF_IS_FD) would skip one copy but send the kernel pages
 * nobody checked on this read, so it is not used.
 *
 * Once a hit is served its descriptors are no longer needed: the worker queues the request's id,
 * and one call to JS hands over every id queued meanwhile (OP_CACHE_SETTLED), so that JS releases
 * the ranges without one crossing per hit.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "crc.h"
#include "mount_context.h"

/* Larger pieces than this are no format the cache writes: refused rather than read into memory. */
#define MAX_PIECE_BYTES (16u * 1024u * 1024u)
/* Room for the dispatcher's arguments (addon.c passes its count); the ids go in the buffer argument, the ninth. */
#define DISPATCH_ARGS_MAX 16

struct request cache_settled_marker = {.op = OP_CACHE_SETTLED};

void cache_hit_free(struct cache_hit *hit) {
  if (hit == NULL) return;
  free(hit->crcs);
  free(hit);
}

/* ---- on the JS thread: the answer ---- */

static int whole_number(double value, double max) {
  return isfinite(value) && value >= 0 && value <= max && floor(value) == value;
}

const char *cache_range_from(const double *n, double max_length, struct cache_range *range) {
  double fd = n[0], position = n[1], length = n[2], piece_bytes = n[3], first = n[4], count = n[5];
  if (!whole_number(fd, INT_MAX) || !whole_number(position, 0x1p53) || !whole_number(first, position) || !whole_number(length, max_length) ||
      length < 1 || !whole_number(piece_bytes, MAX_PIECE_BYTES) || piece_bytes < 1) {
    return "a range needs fd, filePosition, length (from 1 B, at most what the call allows), pieceBytes and firstPieceFilePosition (≤ filePosition)";
  }
  /* Exactly the pieces covering the range: each is read and checked whole. */
  if (count != ceil((position - first + length) / piece_bytes) || (position - first) >= piece_bytes) {
    return "pieceCount must be the pieces covering the range, from the one holding filePosition";
  }
  range->fd = (int)fd;
  range->file_position = (off_t)position;
  range->length = (size_t)length;
  range->piece_bytes = (size_t)piece_bytes;
  range->first_piece_position = (off_t)first;
  range->piece_count = (size_t)count;
  range->piece_crcs = NULL;
  return NULL;
}

/* Builds the hit from JS's numbers; NULL with `*error` set when they do not describe one. */
static struct cache_hit *cache_hit_from(const double *numbers, size_t range_count, const uint32_t *crcs, size_t crc_count, const char **error) {
  struct cache_hit *hit = calloc(1, sizeof *hit + range_count * sizeof(struct cache_range));
  uint32_t *own_crcs = malloc((crc_count > 0 ? crc_count : 1) * sizeof *own_crcs);
  if (hit == NULL || own_crcs == NULL) {
    free(hit);
    free(own_crcs);
    *error = "replyCached: out of memory";
    return NULL;
  }
  memcpy(own_crcs, crcs, crc_count * sizeof *own_crcs);
  hit->crcs = own_crcs;
  hit->range_count = range_count;
  size_t pieces = 0;
  for (size_t i = 0; i < range_count; i++) {
    struct cache_range *range = &hit->ranges[i];
    *error = cache_range_from(numbers + i * RANGE_NUMBERS, READ_SLOT_BYTES, range);
    if (*error == NULL && range->piece_count > crc_count - pieces) *error = "replyCached: crcs must hold one CRC per covered piece";
    if (*error != NULL) {
      cache_hit_free(hit);
      return NULL;
    }
    range->piece_crcs = own_crcs + pieces;
    pieces += range->piece_count;
  }
  if (pieces != crc_count) {
    *error = "replyCached: crcs must hold one CRC per covered piece";
    cache_hit_free(hit);
    return NULL;
  }
  return hit;
}

static void fill_cached(struct request *r, void *answer) {
  struct cache_hit *hit = answer;
  size_t covered = 0;
  for (size_t i = 0; i < hit->range_count; i++) covered += hit->ranges[i].length;
  if (r->op != OP_READ || covered + hit->tail_bytes > r->size) {
    /* Not an answer to this request: JS's mistake, said as EIO rather than a wrong read. */
    r->err = EIO;
    cache_hit_free(hit);
    return;
  }
  r->err = 0;
  r->bytes = hit->tail_bytes;
  r->cache_hit = hit;
}

/*
 * replyCached(ctx, id, ranges: Float64Array of RANGE_NUMBERS per range, crcs: Uint32Array, tailBytes):
 * the read's first bytes come from the ranges, in order, then `tailBytes` JS put in the request's buffer.
 */
napi_value cache_reply_cached(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  struct mount_context *context = args_with_context_or(env, info, 5, argv, "replyCached(ctx, id, ranges, crcs, tailBytes)");
  if (context == NULL) return NULL;
  size_t numbers_length = 0, crc_count = 0;
  const void *numbers = NULL, *crcs = NULL;
  bool arrays = typed_array_data(env, argv[2], napi_float64_array, &numbers, &numbers_length) &&
                typed_array_data(env, argv[3], napi_uint32_array, &crcs, &crc_count);
  double id = 0, tail = 0;
  if (!arrays || napi_get_value_double(env, argv[1], &id) != napi_ok || napi_get_value_double(env, argv[4], &tail) != napi_ok) {
    napi_throw_type_error(env, "ERR_BUCKETFS_NATIVE", "replyCached: ranges must be a Float64Array, crcs a Uint32Array, id and tailBytes numbers");
    return NULL;
  }
  size_t range_count = numbers_length / RANGE_NUMBERS;
  if (numbers_length % RANGE_NUMBERS != 0 || range_count < 1 || range_count > MAX_RANGES || !whole_number(tail, READ_SLOT_BYTES)) {
    napi_throw_range_error(env, "ERR_BUCKETFS_NATIVE", "replyCached: 1 to 16 ranges of 6 numbers each, and tailBytes up to 1 MiB");
    return NULL;
  }
  const char *error = NULL;
  struct cache_hit *hit = cache_hit_from(numbers, range_count, crcs, crc_count, &error);
  if (hit == NULL) {
    napi_throw_range_error(env, "ERR_BUCKETFS_NATIVE", error);
    return NULL;
  }
  hit->tail_bytes = (size_t)tail;
  int taken = complete_request(context, id, fill_cached, hit);
  if (!taken) cache_hit_free(hit);
  napi_value result;
  napi_get_boolean(env, taken != 0, &result);
  return result;
}

/* Hands JS the ids of the hits served since the last call, for it to release their ranges. */
void cache_deliver_settled(napi_env env, napi_value js_dispatch, struct mount_context *ctx, size_t argc) {
  pthread_mutex_lock(&ctx->lock);
  double *ids = ctx->cache.tokens;
  size_t count = ctx->cache.count;
  ctx->cache.tokens = NULL;
  ctx->cache.count = 0;
  ctx->cache.capacity = 0;
  ctx->cache.queued = 0;
  pthread_mutex_unlock(&ctx->lock);
  /* Torn down with ids still queued: JS releases every range it holds when the session ends. */
  if (env != NULL && count > 0) {
    napi_value args[DISPATCH_ARGS_MAX], undefined;
    napi_get_undefined(env, &undefined);
    if (argc > DISPATCH_ARGS_MAX) argc = DISPATCH_ARGS_MAX;
    for (size_t i = 0; i < argc; i++) args[i] = undefined;
    if (napi_create_int32(env, OP_CACHE_SETTLED, &args[0]) == napi_ok && argc > 8 &&
        napi_create_buffer_copy(env, count * sizeof *ids, ids, NULL, &args[8]) == napi_ok &&
        napi_call_function(env, undefined, js_dispatch, argc, args, NULL) != napi_ok) {
      napi_value exception;
      napi_get_and_clear_last_exception(env, &exception);
    }
  }
  free(ids);
}

/* ---- on the worker thread: serving ---- */

/* Each worker reads into a buffer of its own, kept for its next hit and freed when the thread ends. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ready;

/*
 * The kernel's copy into user memory runs at a fraction of its speed on some CPUs when the destination sits a
 * few bytes past the source within a page (bench/RESULTS.md). The pieces start on a page of their file, so
 * the buffer starts on a page too; a block file read past the page cache into it (whole_block.c) needs that too.
 */
#define SCRATCH_ALIGNMENT_BYTES 4096u

struct scratch {
  size_t capacity;
  char *data;
};

static void free_scratch(void *value) {
  struct scratch *scratch = value;
  if (scratch == NULL) return;
  free(scratch->data);
  free(scratch);
}

static void make_scratch_key(void) {
  scratch_key_ready = pthread_key_create(&scratch_key, free_scratch) == 0;
}

char *scratch_of_at_least(size_t bytes) {
  pthread_once(&scratch_once, make_scratch_key);
  if (!scratch_key_ready) return NULL;
  struct scratch *scratch = pthread_getspecific(scratch_key);
  if (scratch != NULL && scratch->capacity >= bytes) return scratch->data;
  if (scratch == NULL) {
    scratch = calloc(1, sizeof *scratch);
    if (scratch == NULL || pthread_setspecific(scratch_key, scratch) != 0) {
      free(scratch);
      return NULL;
    }
  }
  free(scratch->data);
  scratch->capacity = 0;
  if (posix_memalign((void **)&scratch->data, SCRATCH_ALIGNMENT_BYTES, bytes) != 0) {
    scratch->data = NULL;
    return NULL;
  }
  scratch->capacity = bytes;
  return scratch->data;
}

/* Reads up to `length` bytes at `position`, fewer only at the end of the file; -1 on an error. */
ssize_t pread_fully(int fd, char *into, size_t length, off_t position) {
  size_t got = 0;
  while (got < length) {
    ssize_t n = pread(fd, into + got, length - got, position + (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

int read_checked(const struct cache_range *range, char *into) {
  ssize_t got = pread_fully(range->fd, into, range->piece_count * range->piece_bytes, range->first_piece_position);
  if (got < 0) return CACHE_READ_ERROR;
  size_t skip = (size_t)(range->file_position - range->first_piece_position);
  if ((size_t)got < skip + range->length) return CACHE_SHORT_READ;
  for (size_t piece = 0; piece < range->piece_count; piece++) {
    size_t start = piece * range->piece_bytes;
    /* The last piece of a block may be shorter: its CRC covers what the file holds of it. */
    size_t bytes = (size_t)got - start < range->piece_bytes ? (size_t)got - start : range->piece_bytes;
    if (crc32_of(0, into + start, bytes) != range->piece_crcs[piece]) return CACHE_CHECKSUM_MISMATCH;
  }
  return 0;
}

/*
 * Queues `tokens` for JS: a request's id (JS releases its ranges), or three numbers about a handle served from
 * its whole block: minus its fh, the bytes of one hit, or -1 once it is released, or -2 when it holds no block
 * (the file is missing or bad), and the seconds it took (whole_block.c).
 */
/* Tokens queued without a call to JS wait at most until this many are waiting. */
#define QUIET_TOKENS_MAX 3072u

static void queue_tokens(struct mount_context *ctx, const double *tokens, size_t token_count, int is_hit, size_t hit_bytes, int wake) {
  int queue = 0;
  pthread_mutex_lock(&ctx->lock);
  struct cache_settlements *cache = &ctx->cache;
  if (is_hit) {
    cache->hits++;
    cache->bytes += hit_bytes;
  }
  if (cache->count + token_count > cache->capacity) {
    size_t capacity = cache->capacity > 0 ? cache->capacity * 2 : 64;
    double *grown = realloc(cache->tokens, capacity * sizeof *grown);
    if (grown != NULL) {
      cache->tokens = grown;
      cache->capacity = capacity;
    }
  }
  /* Out of memory: JS keeps this hit's ranges until the session ends, a late release, never a wrong read. */
  if (cache->count + token_count <= cache->capacity) {
    memcpy(cache->tokens + cache->count, tokens, token_count * sizeof *tokens);
    cache->count += token_count;
  }
  if (!cache->queued && cache->count > 0 && (wake || cache->count >= QUIET_TOKENS_MAX)) {
    queue = cache->queued = 1;
    cache->calls++;
  }
  pthread_mutex_unlock(&ctx->lock);
  if (queue && napi_call_threadsafe_function(ctx->dispatch, &cache_settled_marker, napi_tsfn_nonblocking) != napi_ok) {
    pthread_mutex_lock(&ctx->lock);
    cache->queued = 0;
    pthread_mutex_unlock(&ctx->lock);
  }
}

void cache_queue_tokens(struct mount_context *ctx, const double *tokens, size_t token_count) {
  queue_tokens(ctx, tokens, token_count, 0, 0, 1);
}

void cache_queue_quietly(struct mount_context *ctx, const double *tokens, size_t token_count, size_t hit_bytes) {
  queue_tokens(ctx, tokens, token_count, hit_bytes > 0, hit_bytes, 0);
}

/* Counts a hit of `bytes` and queues its tokens, under one lock. */
void cache_settle(struct mount_context *ctx, const double *tokens, size_t token_count, size_t bytes) {
  queue_tokens(ctx, tokens, token_count, 1, bytes, 1);
}

void cache_count_fallback(struct mount_context *ctx) {
  pthread_mutex_lock(&ctx->lock);
  ctx->cache.fallbacks++;
  pthread_mutex_unlock(&ctx->lock);
}

/* The hit failed at `range_index`: `r` becomes the usual read, marked so JS learns what failed. */
static int fall_back(struct mount_context *ctx, struct request *r, size_t range_index, int kind) {
  cache_hit_free(r->cache_hit);
  r->cache_hit = NULL;
  r->flags = READ_AFTER_CACHE_FAILURE | (kind << 16) | (int)(range_index & 0xffff);
  cache_count_fallback(ctx);
  return 0;
}

int cache_read_serve(struct mount_context *ctx, struct request *r, const char *tail) {
  struct cache_hit *hit = r->cache_hit;
  size_t span = 0;
  for (size_t i = 0; i < hit->range_count; i++) span += hit->ranges[i].piece_count * hit->ranges[i].piece_bytes;
  char *buffer = scratch_of_at_least(span);
  if (buffer == NULL) return fall_back(ctx, r, 0, CACHE_READ_ERROR);
  struct iovec parts[MAX_RANGES + 1];
  size_t part_count = 0, offset = 0, served = 0;
  for (size_t i = 0; i < hit->range_count; i++) {
    const struct cache_range *range = &hit->ranges[i];
    int failure = read_checked(range, buffer + offset);
    if (failure != 0) return fall_back(ctx, r, i, failure);
    parts[part_count].iov_base = buffer + offset + (range->file_position - range->first_piece_position);
    parts[part_count].iov_len = range->length;
    part_count++;
    served += range->length;
    offset += range->piece_count * range->piece_bytes;
  }
  if (hit->tail_bytes > 0) {
    parts[part_count].iov_base = (void *)tail;
    parts[part_count].iov_len = hit->tail_bytes;
    part_count++;
  }
  /* Counted before the reply: a reader that has its bytes finds the hit in the stats. The ranges' bytes are all
   * in the buffer by now, so JS may release their descriptors at once. */
  double token = (double)r->id;
  cache_settle(ctx, &token, 1, served);
  fuse_reply_iov(r->req, parts, (int)part_count);
  return 1;
}
