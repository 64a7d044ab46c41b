/*
 * The N-API face of the native engine: mount, the reply functions JS calls with its answers,
 * stop, and kernel cache invalidation. Everything here runs on the JS thread except run_loop
 * (the session loop's own thread); invalidations run on the notifier's thread (notifier.c).
 * Nothing here blocks the JS thread on the kernel or on a worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mount_context.h"
#include "notifier.h"

#define DEFAULT_MAX_THREADS 32u
/* More workers than this would only add read slots (1 MiB each) that no kernel queue fills. */
#define MAX_THREADS_LIMIT 1024u
#define MAX_ARGS 14

#define CHECK(env, call)                                                    \
  do {                                                                      \
    if ((call) != napi_ok) {                                                \
      napi_throw_error((env), "ERR_BUCKETFS_NATIVE", "N-API call failed: " #call); \
      return NULL;                                                          \
    }                                                                       \
  } while (0)

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, "ERR_BUCKETFS_NATIVE", message);
  return NULL;
}

static napi_value make_bool(napi_env env, int value) {
  napi_value result;
  napi_get_boolean(env, value != 0, &result);
  return result;
}

static double arg_double(napi_env env, napi_value value) {
  double number = 0;
  if (napi_get_value_double(env, value, &number) != napi_ok) return NAN;
  return number;
}

struct mount_context *args_with_context_or(napi_env env, napi_callback_info info, size_t wanted, napi_value *argv, const char *usage) {
  size_t argc = wanted;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < wanted ||
      napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_BUCKETFS_NATIVE", usage);
    return NULL;
  }
  return data;
}

/* Reads the arguments and the context external (always the first argument). */
static struct mount_context *args_with_context(napi_env env, napi_callback_info info, size_t wanted, napi_value *argv) {
  return args_with_context_or(env, info, wanted, argv, "expected a mount context and the answer's fields");
}

bool typed_array_data(napi_env env, napi_value value, napi_typedarray_type type, const void **data, size_t *length) {
  napi_typedarray_type actual;
  void *elements = NULL;
  *data = NULL;
  *length = 0;
  if (napi_get_typedarray_info(env, value, &actual, length, &elements, NULL, NULL) != napi_ok || actual != type) return false;
  *data = elements;
  return true;
}

/* The fields of a stat as JS built them (src/fuse/stat.ts), in order: nothing is decided here. */
#define ATTR_FIELDS 9

static void fill_stat(struct stat *st, const double *a) {
  memset(st, 0, sizeof *st);
  st->st_ino = (ino_t)a[0];
  st->st_mode = (mode_t)a[1];
  st->st_nlink = (nlink_t)a[2];
  st->st_uid = (uid_t)a[3];
  st->st_gid = (gid_t)a[4];
  st->st_size = (off_t)a[5];
  st->st_blocks = (blkcnt_t)a[6];
  st->st_blksize = (blksize_t)a[7];
  double mtime_ms = a[8];
  double seconds = floor(mtime_ms / 1000);
  st->st_mtim.tv_sec = (time_t)seconds;
  st->st_mtim.tv_nsec = (long)((mtime_ms - seconds * 1000) * 1e6);
  st->st_atim = st->st_mtim;
  st->st_ctim = st->st_mtim;
}

/*
 * Takes the unanswered request `id` and lets `fill` write its answer, all under the lock, then
 * wakes its worker. Returns false when the request was already answered (by the teardown).
 */
int complete_request(struct mount_context *ctx, double id, answer_filler fill, void *answer) {
  if (!(id >= 1)) return 0;
  pthread_mutex_lock(&ctx->lock);
  struct request *r = registry_take_locked(ctx, (uint64_t)id);
  if (r != NULL) {
    fill(r, answer);
    r->answered_by_js = 1;
    registry_complete_locked(r);
  }
  pthread_mutex_unlock(&ctx->lock);
  return r != NULL;
}

static void fill_error(struct request *r, void *answer) {
  r->err = *(int *)answer;
}

static int complete_abandoned(struct mount_context *ctx, double id, int err) {
  if (!(id >= 1)) return 0;
  pthread_mutex_lock(&ctx->lock);
  struct request *r = registry_take_locked(ctx, (uint64_t)id);
  if (r != NULL) registry_answer_instead_of_js_locked(ctx, r, err);
  pthread_mutex_unlock(&ctx->lock);
  return r != NULL;
}

/* abandon(ctx, id, errno): answers a request the core is still working on (a timeout). */
static napi_value abandon_request(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct mount_context *ctx = args_with_context(env, info, 3, argv);
  if (ctx == NULL) return NULL;
  double errno_value = arg_double(env, argv[2]);
  int err = isfinite(errno_value) && errno_value > 0 ? (int)errno_value : EIO;
  return make_bool(env, complete_abandoned(ctx, arg_double(env, argv[1]), err));
}

/* replyError(ctx, id, errno): errno 0 is success for requests with no payload. */
static napi_value reply_error(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct mount_context *ctx = args_with_context(env, info, 3, argv);
  if (ctx == NULL) return NULL;
  double errno_value = arg_double(env, argv[2]);
  int err = isfinite(errno_value) && errno_value >= 0 ? (int)errno_value : EIO;
  return make_bool(env, complete_request(ctx, arg_double(env, argv[1]), fill_error, &err));
}

static void fill_attr(struct request *r, void *answer) {
  r->err = 0;
  r->attr = *(struct stat *)answer;
}

/* replyAttr(ctx, id, attr: Float64Array of ATTR_FIELDS numbers): for lookup and getattr. */
static napi_value reply_attr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct mount_context *ctx = args_with_context(env, info, 3, argv);
  if (ctx == NULL) return NULL;
  size_t length = 0;
  const void *data = NULL;
  if (!typed_array_data(env, argv[2], napi_float64_array, &data, &length) || length < ATTR_FIELDS) return throw_error(env, "replyAttr: attr must hold 9 numbers");
  struct stat st;
  fill_stat(&st, data);
  return make_bool(env, complete_request(ctx, arg_double(env, argv[1]), fill_attr, &st));
}

struct open_answer {
  uint64_t fh;
  int keep_cache;
  int direct_io;
  int cache_dir;
  char *block_path;
  char *block_key;
  size_t block_key_bytes;
  size_t block_data_bytes;
};

static void fill_open(struct request *r, void *answer) {
  struct open_answer *open = answer;
  r->err = 0;
  r->open_fh = open->fh;
  r->keep_cache = open->keep_cache;
  r->direct_io = open->direct_io;
  r->cache_dir = open->cache_dir;
  if (r->op != OP_OPEN) return;
  /* The request owns them from here (a second answer never comes: it was taken). */
  r->block_path = open->block_path;
  r->block_key = open->block_key;
  r->block_key_bytes = open->block_key_bytes;
  r->block_data_bytes = open->block_data_bytes;
  open->block_path = NULL;
  open->block_key = NULL;
}

/* A copy of the JS string `value` (its length in `*bytes`, unless NULL), or NULL when it is not one. */
static char *string_copy(napi_env env, napi_value value, size_t *bytes) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *copy = malloc(length + 1);
  if (copy != NULL && napi_get_value_string_utf8(env, value, copy, length + 1, &length) != napi_ok) {
    free(copy);
    return NULL;
  }
  if (bytes != NULL) *bytes = length;
  return copy;
}

/*
 * replyOpen(ctx, id, fh, keepCache, directIo, cacheDir[, blockPath, blockKey, blockDataBytes]): cacheDir lets the
 * kernel keep a directory's listing; the block names the disk cache's file holding the whole object (whole_block.c).
 */
static napi_value reply_open(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  size_t argc = 9;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return throw_error(env, "replyOpen: no arguments");
  struct mount_context *ctx = args_with_context(env, info, 6, argv);
  if (ctx == NULL) return NULL;
  struct open_answer open = {.fh = (uint64_t)arg_double(env, argv[2])};
  bool flag = false;
  napi_get_value_bool(env, argv[3], &flag);
  open.keep_cache = flag;
  flag = false;
  napi_get_value_bool(env, argv[4], &flag);
  open.direct_io = flag;
  flag = false;
  napi_get_value_bool(env, argv[5], &flag);
  open.cache_dir = flag;
  if (argc >= 9) {
    double data_bytes = arg_double(env, argv[8]);
    open.block_path = string_copy(env, argv[6], NULL);
    open.block_key = string_copy(env, argv[7], &open.block_key_bytes);
    open.block_data_bytes = isfinite(data_bytes) && data_bytes > 0 && data_bytes <= (double)SIZE_MAX ? (size_t)data_bytes : 0;
  }
  int taken = complete_request(ctx, arg_double(env, argv[1]), fill_open, &open);
  free(open.block_path);
  free(open.block_key);
  return make_bool(env, taken);
}

struct create_answer {
  struct stat attr;
  uint64_t fh;
  int keep_cache;
  int staged_fd; /* the engine's own descriptor of the staging file, or -1 */
  off_t staged_writable_end;
};

static void fill_create(struct request *r, void *answer) {
  struct create_answer *created = answer;
  r->err = 0;
  r->attr = created->attr;
  r->open_fh = created->fh;
  r->keep_cache = created->keep_cache;
  if (created->staged_fd < 0) return;
  /* The request owns it from here (a second answer never comes: it was taken). */
  r->has_staged_fd = 1;
  r->staged_fd = created->staged_fd;
  r->staged_writable_end = created->staged_writable_end;
  created->staged_fd = -1;
}

/*
 * replyCreate(ctx, id, fh, attr: Float64Array of ATTR_FIELDS numbers, keepCache[, stagedFd, writableEnd]): the new
 * file's entry and handle; the staging file's descriptor lets the engine serve the handle's writes (staged_write.c).
 */
static napi_value reply_create(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  size_t argc = 7;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return throw_error(env, "replyCreate: no arguments");
  struct mount_context *ctx = args_with_context(env, info, 5, argv);
  if (ctx == NULL) return NULL;
  size_t length = 0;
  const void *data = NULL;
  if (!typed_array_data(env, argv[3], napi_float64_array, &data, &length) || length < ATTR_FIELDS) return throw_error(env, "replyCreate: attr must hold 9 numbers");
  struct create_answer created = {.fh = (uint64_t)arg_double(env, argv[2]), .staged_fd = -1};
  fill_stat(&created.attr, data);
  bool keep_cache = false;
  napi_get_value_bool(env, argv[4], &keep_cache);
  created.keep_cache = keep_cache;
  if (argc >= 7) {
    double fd = arg_double(env, argv[5]), end = arg_double(env, argv[6]);
    /* A descriptor of the engine's own: JS closes its one when it is done with the file, whatever the engine holds. */
    if (fd >= 0 && fd <= INT_MAX && end >= 0) created.staged_fd = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
    created.staged_writable_end = end >= 0 ? (off_t)end : 0;
  }
  int taken = complete_request(ctx, arg_double(env, argv[1]), fill_create, &created);
  if (created.staged_fd >= 0) close(created.staged_fd);
  return make_bool(env, taken);
}

static void fill_read(struct request *r, void *answer) {
  size_t bytes = *(size_t *)answer;
  r->err = 0;
  r->bytes = bytes < r->size ? bytes : r->size;
}

/* replyRead(ctx, id, bytes): the bytes are already in the request's buffer. replyWrite(ctx, id, bytes): the count the core took. */
static napi_value reply_read(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct mount_context *ctx = args_with_context(env, info, 3, argv);
  if (ctx == NULL) return NULL;
  double bytes_value = arg_double(env, argv[2]);
  size_t bytes = isfinite(bytes_value) && bytes_value > 0 ? (size_t)bytes_value : 0;
  return make_bool(env, complete_request(ctx, arg_double(env, argv[1]), fill_read, &bytes));
}

static void fill_statfs(struct request *r, void *answer) {
  r->err = 0;
  r->statfs = *(struct statvfs *)answer;
}

/* replyStatfs(ctx, id, blockSize, blocks, blocksFree, blocksAvailable, files, filesFree, nameMax) */
static napi_value reply_statfs(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  struct mount_context *ctx = args_with_context(env, info, 9, argv);
  if (ctx == NULL) return NULL;
  struct statvfs st;
  memset(&st, 0, sizeof st);
  st.f_bsize = (unsigned long)arg_double(env, argv[2]);
  st.f_frsize = st.f_bsize;
  st.f_blocks = (fsblkcnt_t)arg_double(env, argv[3]);
  st.f_bfree = (fsblkcnt_t)arg_double(env, argv[4]);
  st.f_bavail = (fsblkcnt_t)arg_double(env, argv[5]);
  st.f_files = (fsfilcnt_t)arg_double(env, argv[6]);
  st.f_ffree = (fsfilcnt_t)arg_double(env, argv[7]);
  st.f_favail = st.f_ffree;
  st.f_namemax = (unsigned long)arg_double(env, argv[8]);
  return make_bool(env, complete_request(ctx, arg_double(env, argv[1]), fill_statfs, &st));
}

static void fill_listing(struct request *r, void *answer) {
  r->err = 0;
  r->listing = answer;
}

/*
 * replyDir(ctx, id, names, count, attrs, last): `names` holds the batch's `count` names joined by NUL
 * (no file name holds one), read in one call; `attrs` holds ATTR_FIELDS numbers per name; `last`:
 * no entry follows the batch.
 */
static napi_value reply_dir(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  struct mount_context *ctx = args_with_context(env, info, 6, argv);
  if (ctx == NULL) return NULL;
  double count_value = arg_double(env, argv[3]);
  if (!(count_value >= 0 && count_value <= 1e7)) return throw_error(env, "replyDir: count must be a small whole number");
  size_t count = (size_t)count_value;
  size_t length = 0;
  const void *data = NULL;
  if (!typed_array_data(env, argv[4], napi_float64_array, &data, &length) || length < count * ATTR_FIELDS) return throw_error(env, "replyDir: attrs must hold 9 numbers per name");
  bool last = false;
  napi_get_value_bool(env, argv[5], &last);
  size_t names_length = 0;
  if (napi_get_value_string_utf8(env, argv[2], NULL, 0, &names_length) != napi_ok) return throw_error(env, "replyDir: names must be a string");
  struct dir_listing *listing = calloc(1, sizeof *listing + count * sizeof(struct dir_entry));
  char *names = malloc(names_length + 1);
  if (listing == NULL || names == NULL) {
    free(listing);
    free(names);
    return throw_error(env, "replyDir: out of memory");
  }
  napi_get_value_string_utf8(env, argv[2], names, names_length + 1, NULL);
  listing->names = names;
  listing->last = last;
  const double *attrs = data;
  char *cursor = names;
  const char *end = names + names_length;
  for (size_t i = 0; i < count; i++) {
    if (cursor > end) {
      dir_listing_free(listing);
      return throw_error(env, "replyDir: fewer names than count");
    }
    listing->entries[i].name = cursor;
    cursor += strlen(cursor) + 1;
    fill_stat(&listing->entries[i].attr, attrs + i * ATTR_FIELDS);
    listing->count = i + 1;
  }
  int taken = complete_request(ctx, arg_double(env, argv[1]), fill_listing, listing);
  if (!taken) dir_listing_free(listing);
  return make_bool(env, taken);
}

/*
 * trimMemory(): hands the C heap's free memory back to the system (glibc's malloc_trim). A walk of
 * millions of objects leaves freed batches and buffers behind that malloc would otherwise keep.
 */
static napi_value trim_memory(napi_env env, napi_callback_info info) {
  (void)info;
  return make_bool(env, malloc_trim(0));
}

/* ---- dispatch: worker threads -> JS ---- */

static const char *op_refused_name(const struct request *r) {
  return r->refused_op != NULL ? r->refused_op : "";
}

static void finalize_read_buffer(napi_env env, void *data, void *hint) {
  struct read_buffer *buffer = hint;
  (void)data;
  int64_t adjusted;
  napi_adjust_external_memory(env, -(int64_t)buffer->capacity, &adjusted);
  read_buffer_release(buffer);
}

/*
 * The arguments of the JS dispatcher:
 * (op, id, ino, name, fh, offset, size, flags, buffer, refusedOp, slot, mode, newParent, newName).
 */
static int build_dispatch_args(napi_env env, struct request *r, napi_value *argv) {
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  for (int i = 0; i < MAX_ARGS; i++) argv[i] = undefined;
  if (napi_create_int32(env, r->op, &argv[0]) != napi_ok) return 0;
  if (napi_create_double(env, (double)r->id, &argv[1]) != napi_ok) return 0;
  if (napi_create_double(env, (double)r->ino, &argv[2]) != napi_ok) return 0;
  if (r->name != NULL && napi_create_string_utf8(env, r->name, NAPI_AUTO_LENGTH, &argv[3]) != napi_ok) return 0;
  if (napi_create_double(env, (double)r->fh, &argv[4]) != napi_ok) return 0;
  if (napi_create_double(env, (double)r->offset, &argv[5]) != napi_ok) return 0;
  if (napi_create_double(env, (double)r->size, &argv[6]) != napi_ok) return 0;
  if (napi_create_int32(env, r->flags, &argv[7]) != napi_ok) return 0;
  if (r->buffer != NULL) {
    atomic_fetch_add(&r->buffer->refs, 1);
    if (napi_create_external_buffer(env, r->size, r->buffer->data, finalize_read_buffer, r->buffer, &argv[8]) != napi_ok) {
      read_buffer_release(r->buffer);
      return 0;
    }
    int64_t adjusted;
    napi_adjust_external_memory(env, (int64_t)r->buffer->capacity, &adjusted);
  }
  if (r->settled_batch != NULL) {
    /* The hand-out counts of the batch this request settles, one uint32 per entry. */
    void *counts = NULL;
    size_t count = r->settled_batch->count;
    if (napi_create_buffer(env, count * sizeof(uint32_t), &counts, &argv[8]) != napi_ok) return 0;
    for (size_t i = 0; i < count; i++) memcpy((char *)counts + i * sizeof(uint32_t), &r->settled_batch->entries[i].handed_out, sizeof(uint32_t));
  } else if (r->payload != NULL && napi_create_buffer_copy(env, r->payload_bytes, r->payload, NULL, &argv[8]) != napi_ok) {
    return 0;
  }
  if (r->refused_op != NULL && napi_create_string_utf8(env, op_refused_name(r), NAPI_AUTO_LENGTH, &argv[9]) != napi_ok) return 0;
  if (napi_create_int32(env, r->slot, &argv[10]) != napi_ok) return 0;
  if (napi_create_double(env, (double)r->mode, &argv[11]) != napi_ok) return 0;
  if (napi_create_double(env, (double)r->new_parent, &argv[12]) != napi_ok) return 0;
  if (r->new_name != NULL && napi_create_string_utf8(env, r->new_name, NAPI_AUTO_LENGTH, &argv[13]) != napi_ok) return 0;
  return 1;
}

static void answer_unless_answered(struct mount_context *ctx, struct request *r, int err) {
  pthread_mutex_lock(&ctx->lock);
  if (registry_take_locked(ctx, r->id) != NULL) registry_answer_instead_of_js_locked(ctx, r, err);
  pthread_mutex_unlock(&ctx->lock);
}

struct request ended_marker = {.op = OP_ENDED};
struct request initialized_marker = {.op = OP_INITIALIZED};

static void call_js(napi_env env, napi_value js_dispatch, void *context, void *data) {
  struct mount_context *ctx = context;
  struct request *r = data;
  if (r == &cache_settled_marker) {
    cache_deliver_settled(env, js_dispatch, ctx, MAX_ARGS);
    return;
  }
  if (r == &staged_written_marker) {
    staged_write_deliver(env, js_dispatch, ctx, MAX_ARGS);
    return;
  }
  if (r == &ended_marker || r == &initialized_marker) {
    if (env != NULL) {
      napi_value argv[MAX_ARGS], undefined;
      napi_get_undefined(env, &undefined);
      for (int i = 0; i < MAX_ARGS; i++) argv[i] = undefined;
      if (napi_create_int32(env, r->op, &argv[0]) == napi_ok) napi_call_function(env, undefined, js_dispatch, MAX_ARGS, argv, NULL);
    }
    return;
  }
  if (env == NULL) {
    /* The thread-safe function is being torn down with this request still queued. */
    answer_unless_answered(ctx, r, ENODEV);
    request_release(r);
    return;
  }
  pthread_mutex_lock(&ctx->lock);
  int answered = r->answered;
  if (!answered) r->seen_by_js = 1;
  pthread_mutex_unlock(&ctx->lock);
  if (!answered) {
    napi_value argv[MAX_ARGS], undefined;
    napi_get_undefined(env, &undefined);
    if (!build_dispatch_args(env, r, argv)) {
      answer_unless_answered(ctx, r, EIO);
    } else if (napi_call_function(env, undefined, js_dispatch, MAX_ARGS, argv, NULL) != napi_ok) {
      /* The dispatcher must not throw; if it does, the kernel still gets an answer. */
      napi_value exception;
      napi_get_and_clear_last_exception(env, &exception);
      answer_unless_answered(ctx, r, EIO);
    }
  }
  request_release(r);
}

/* ---- the session loop's thread ---- */

/*
 * libfuse 3.12 made the loop's settings opaque (fuse_loop_cfg_*) and added the bound on workers.
 * Before it (Ubuntu 22.04 ships 3.10) they are a public struct and the workers are not bounded:
 * reads beyond the read slots then use buffers of their own.
 */
#if FUSE_USE_VERSION >= 312 && (FUSE_MAJOR_VERSION > 3 || FUSE_MINOR_VERSION >= 12)
#define BUCKETFS_LOOP_CFG 1
#endif

static int run_session_loop(struct mount_context *ctx) {
#ifdef BUCKETFS_LOOP_CFG
  struct fuse_loop_config *config = fuse_loop_cfg_create();
  if (config == NULL) {
    fprintf(stderr, "bucketfs: out of memory: cannot start the FUSE session loop\n");
    return -ENOMEM;
  }
  fuse_loop_cfg_set_max_threads(config, ctx->max_threads);
  fuse_loop_cfg_set_clone_fd(config, 0);
  int result = fuse_session_loop_mt(ctx->session, config);
  fuse_loop_cfg_destroy(config);
  return result;
#else
  /* Idle workers are kept up to the bound later versions enforce, so their slots stay warm. */
  struct fuse_loop_config config = {.clone_fd = 0, .max_idle_threads = ctx->max_threads};
  return fuse_session_loop_mt(ctx->session, &config);
#endif
}

static void *run_loop(void *arg) {
  struct mount_context *ctx = arg;
  /* Signals belong to the JS thread; libfuse's workers inherit this mask. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);

  run_session_loop(ctx);

  /* Every worker has returned: take no new invalidation, run those queued (the connection is gone, they fail fast). */
  pthread_mutex_lock(&ctx->lock);
  ctx->stopping = 1;
  pthread_mutex_unlock(&ctx->lock);
  notifier_stop(ctx->notifier);
  registry_abort_all(ctx, ENODEV);
  fuse_session_unmount(ctx->session);
  fuse_session_destroy(ctx->session);

  napi_threadsafe_function dispatch = ctx->dispatch;
  pthread_mutex_lock(&ctx->lock);
  ctx->session = NULL;
  ctx->ended = 1;
  pthread_mutex_unlock(&ctx->lock);
  napi_call_threadsafe_function(dispatch, &ended_marker, napi_tsfn_nonblocking);
  napi_release_threadsafe_function(dispatch, napi_tsfn_release);
  return NULL;
}

/* Contexts not yet freed, for the tests of their lifetime (liveContexts). */
static atomic_int live_contexts;

static void free_context(struct mount_context *ctx) {
  whole_blocks_free_all(ctx);
  staged_writes_free_all(ctx);
  lent_free_all(ctx);
  if (!ctx->slot_memory_owned_by_js) free(ctx->slot_memory);
  free(ctx->free_slots);
  free(ctx->cache.tokens);
  notifier_free(ctx->notifier);
  pthread_mutex_destroy(&ctx->lock);
  free(ctx->mountpoint);
  free(ctx);
  atomic_fetch_sub(&live_contexts, 1);
}

/*
 * The context has two owners: the JS handle (the external) and the thread-safe function, whose
 * queued calls lock the context until the function is finalized, after its last call. Each
 * finalizer drops one reference; the last frees.
 */
static void context_release(struct mount_context *ctx) {
  if (atomic_fetch_sub(&ctx->refs, 1) == 1) free_context(ctx);
}

static void finalize_context(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  context_release(data);
}

static void finalize_dispatch(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  context_release(data);
}

/* Undoes a mount whose session loop never ran: nothing was dispatched. */
static void undo_session(struct mount_context *ctx, int mounted) {
  if (ctx->notifier != NULL) notifier_stop(ctx->notifier);
  if (mounted) fuse_session_unmount(ctx->session);
  fuse_session_destroy(ctx->session);
  ctx->session = NULL;
  ctx->ended = 1;
}

static char *string_property(napi_env env, napi_value object, const char *key) {
  napi_value value;
  if (napi_get_named_property(env, object, key, &value) != napi_ok) return NULL;
  return string_copy(env, value, NULL);
}

static double number_property(napi_env env, napi_value object, const char *key, double fallback) {
  napi_value value;
  double number;
  if (napi_get_named_property(env, object, key, &value) != napi_ok || napi_get_value_double(env, value, &number) != napi_ok) return fallback;
  return number;
}

static int bool_property(napi_env env, napi_value object, const char *key) {
  napi_value value;
  bool flag = false;
  if (napi_get_named_property(env, object, key, &value) != napi_ok || napi_get_value_bool(env, value, &flag) != napi_ok) return 0;
  return flag;
}

/*
 * mount(mountpoint, { fsname, subtype, allowOther, readOnly, attrTimeoutS, entryTimeoutS, maxThreads, debug }, dispatch)
 * Mounts and starts the session loop; returns the context external. Throws with libfuse's reason.
 */
static napi_value mount_filesystem(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) return throw_error(env, "mount(mountpoint, options, dispatch)");
  char *mountpoint = NULL, *fsname = NULL, *subtype = NULL;
  mountpoint = string_copy(env, argv[0], NULL);
  if (mountpoint == NULL) return throw_error(env, "mount: mountpoint must be a string");
  fsname = string_property(env, argv[1], "fsname");
  subtype = string_property(env, argv[1], "subtype");
  if (fsname == NULL || subtype == NULL || strchr(fsname, ',') != NULL || strchr(subtype, ',') != NULL) {
    free(mountpoint);
    free(fsname);
    free(subtype);
    return throw_error(env, "mount: fsname and subtype must be strings without commas");
  }
  char options[4096];
  /* default_permissions: the kernel checks mode, uid and gid, so allow_other does not open every file to all. */
  snprintf(options, sizeof options, "fsname=%s,subtype=%s,max_read=%u,default_permissions%s%s", fsname, subtype, 1024u * 1024u,
           bool_property(env, argv[1], "allowOther") ? ",allow_other" : "", bool_property(env, argv[1], "readOnly") ? ",ro" : "");
  free(fsname);
  free(subtype);

  struct mount_context *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL || pthread_mutex_init(&ctx->lock, NULL) != 0) {
    free(ctx);
    free(mountpoint);
    return throw_error(env, "mount: out of memory");
  }
  atomic_fetch_add(&live_contexts, 1);
  ctx->mountpoint = mountpoint;
  ctx->read_only = bool_property(env, argv[1], "readOnly");
  ctx->attr_timeout_s = number_property(env, argv[1], "attrTimeoutS", 1);
  ctx->entry_timeout_s = number_property(env, argv[1], "entryTimeoutS", 1);
  double threads = number_property(env, argv[1], "maxThreads", DEFAULT_MAX_THREADS);
  ctx->max_threads = threads >= 1 ? (threads < MAX_THREADS_LIMIT ? (unsigned)threads : MAX_THREADS_LIMIT) : 1;
  ctx->slot_count = ctx->max_threads;
  ctx->slot_memory = malloc(ctx->slot_count * READ_SLOT_BYTES);
  ctx->free_slots = calloc(ctx->slot_count, sizeof *ctx->free_slots);
  if (ctx->slot_memory != NULL && ctx->free_slots != NULL) {
    for (size_t i = 0; i < ctx->slot_count; i++) ctx->free_slots[ctx->free_slot_count++] = (int)(ctx->slot_count - 1 - i);
  } else {
    /* No slots: every read uses a buffer of its own, as when all slots are busy. */
    free(ctx->slot_memory);
    free(ctx->free_slots);
    ctx->slot_memory = NULL;
    ctx->free_slots = NULL;
  }
  registry_init(ctx);

  char *args_argv[] = {"bucketfs", "-o", options, "-d", NULL};
  struct fuse_args args = FUSE_ARGS_INIT(bool_property(env, argv[1], "debug") ? 4 : 3, args_argv);
  ctx->session = fuse_session_new(&args, &bucketfs_lowlevel_ops, sizeof bucketfs_lowlevel_ops, ctx);
  fuse_opt_free_args(&args);
  if (ctx->session == NULL) {
    free_context(ctx);
    return throw_error(env, "libfuse rejected the mount options");
  }
  if (fuse_session_mount(ctx->session, mountpoint) != 0) {
    undo_session(ctx, 0);
    char message[512];
    snprintf(message, sizeof message, "libfuse could not mount %s (see its message above)", mountpoint);
    free_context(ctx);
    return throw_error(env, message);
  }
  ctx->notifier = notifier_start(ctx->session);
  if (ctx->notifier == NULL) {
    undo_session(ctx, 1);
    free_context(ctx);
    return throw_error(env, "cannot start the kernel notification thread");
  }
  napi_value name;
  if (napi_create_string_utf8(env, "bucketfs-fuse-dispatch", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, ctx, finalize_dispatch, ctx, call_js, &ctx->dispatch) != napi_ok) {
    undo_session(ctx, 1);
    free_context(ctx);
    return throw_error(env, "cannot create the dispatch function");
  }
  /* From here the thread-safe function's finalizer frees the context once the JS handle is gone too. */
  atomic_init(&ctx->refs, 2);
  napi_value external;
  if (napi_create_external(env, ctx, finalize_context, NULL, &external) != napi_ok) {
    undo_session(ctx, 1);
    atomic_fetch_sub(&ctx->refs, 1); /* there is no JS handle */
    napi_release_threadsafe_function(ctx->dispatch, napi_tsfn_abort);
    return throw_error(env, "cannot create the mount's handle");
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int failed = pthread_create(&ctx->loop_thread, &attr, run_loop, ctx);
  pthread_attr_destroy(&attr);
  if (failed != 0) {
    /* Nothing was dispatched yet: undo the mount; the two finalizers free the context. */
    undo_session(ctx, 1);
    napi_release_threadsafe_function(ctx->dispatch, napi_tsfn_abort);
    return throw_error(env, "cannot start the session thread");
  }
  return external;
}

static void finalize_slot_memory(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/* readSlots(ctx): the read slots as one ArrayBuffer (slot i at i MiB); JS owns the memory from now on. */
static napi_value read_slots(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct mount_context *ctx = args_with_context(env, info, 1, argv);
  if (ctx == NULL) return NULL;
  napi_value result;
  if (ctx->slot_memory == NULL || ctx->slot_memory_owned_by_js) {
    napi_get_undefined(env, &result);
    return result;
  }
  CHECK(env, napi_create_external_arraybuffer(env, ctx->slot_memory, ctx->slot_count * READ_SLOT_BYTES, finalize_slot_memory, NULL, &result));
  /* From now on reads may use the slots: JS can reach them. */
  pthread_mutex_lock(&ctx->lock);
  ctx->slot_memory_owned_by_js = 1;
  pthread_mutex_unlock(&ctx->lock);
  return result;
}

/* stop(ctx): from now on every request is answered ENODEV without JS; returns how many were pending. */
static napi_value stop_filesystem(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct mount_context *ctx = args_with_context(env, info, 1, argv);
  if (ctx == NULL) return NULL;
  pthread_mutex_lock(&ctx->lock);
  ctx->stopping = 1;
  pthread_mutex_unlock(&ctx->lock);
  napi_value result;
  CHECK(env, napi_create_double(env, (double)registry_abort_all(ctx, ENODEV), &result));
  return result;
}

static napi_status set_number(napi_env env, napi_value object, const char *key, double number) {
  napi_value value;
  napi_status status = napi_create_double(env, number, &value);
  return status == napi_ok ? napi_set_named_property(env, object, key, value) : status;
}

/* stats(ctx): { dispatched, aborted, outstanding, ended, readSlotsWithheld, invalidations…, cacheHits, cacheHitBytes, cacheFallbacks, cacheReportCalls, stagedWrites, stagedWriteBytes, opensServed, blockFileReads, blockFileReadBytes, blockFileDirectReads, pageStores, readRequests } */
static napi_value stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct mount_context *ctx = args_with_context(env, info, 1, argv);
  if (ctx == NULL) return NULL;
  pthread_mutex_lock(&ctx->lock);
  double dispatched = (double)ctx->requests_dispatched, aborted = (double)ctx->requests_aborted, outstanding = 0;
  for (struct request *r = ctx->outstanding.next; r != &ctx->outstanding; r = r->next) outstanding++;
  double withheld = (double)ctx->read_slots_withheld;
  int ended = ctx->ended;
  struct cache_settlements cache = ctx->cache;
  double staged_writes = (double)ctx->staged_reports.served, staged_write_bytes = (double)ctx->staged_reports.bytes;
  double opens_served = (double)ctx->opens_served, page_stores = (double)ctx->page_stores;
  double block_file_reads = (double)ctx->whole_block_reads, block_file_read_bytes = (double)ctx->whole_block_read_bytes;
  double block_file_direct_reads = (double)ctx->whole_block_direct_reads;
  pthread_mutex_unlock(&ctx->lock);
  struct notifier_stats invalidations = {0};
  if (ctx->notifier != NULL) notifier_read_stats(ctx->notifier, &invalidations);
  napi_value result;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, set_number(env, result, "dispatched", dispatched));
  CHECK(env, set_number(env, result, "aborted", aborted));
  CHECK(env, set_number(env, result, "outstanding", outstanding));
  CHECK(env, napi_set_named_property(env, result, "ended", make_bool(env, ended)));
  CHECK(env, set_number(env, result, "readSlotsWithheld", withheld));
  CHECK(env, set_number(env, result, "invalidationsPending", (double)invalidations.pending));
  CHECK(env, set_number(env, result, "invalidationsDone", (double)invalidations.done));
  CHECK(env, set_number(env, result, "invalidationsDropped", (double)invalidations.dropped));
  CHECK(env, set_number(env, result, "cacheHits", (double)cache.hits));
  CHECK(env, set_number(env, result, "cacheHitBytes", (double)cache.bytes));
  CHECK(env, set_number(env, result, "cacheFallbacks", (double)cache.fallbacks));
  CHECK(env, set_number(env, result, "cacheReportCalls", (double)cache.calls));
  CHECK(env, set_number(env, result, "stagedWrites", staged_writes));
  CHECK(env, set_number(env, result, "stagedWriteBytes", staged_write_bytes));
  CHECK(env, set_number(env, result, "opensServed", opens_served));
  CHECK(env, set_number(env, result, "blockFileReads", block_file_reads));
  CHECK(env, set_number(env, result, "blockFileReadBytes", block_file_read_bytes));
  CHECK(env, set_number(env, result, "blockFileDirectReads", block_file_direct_reads));
  CHECK(env, set_number(env, result, "pageStores", page_stores));
  CHECK(env, set_number(env, result, "readRequests", (double)atomic_load(&ctx->read_requests)));
  return result;
}

/* stagedWriteEnd(ctx, fh, writableEnd): the engine may write the handle's staging file up to this offset (staged_write.c). */
static napi_value staged_write_end(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct mount_context *ctx = args_with_context(env, info, 3, argv);
  if (ctx == NULL) return NULL;
  double fh = arg_double(env, argv[1]), end = arg_double(env, argv[2]);
  if (fh >= 0 && end >= 0) staged_write_set_end(ctx, (uint64_t)fh, (off_t)end);
  return NULL;
}

/* stagedWriteDrop(ctx, fh): the handle is released; the engine closes its staging file. */
static napi_value staged_write_drop_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct mount_context *ctx = args_with_context(env, info, 2, argv);
  if (ctx == NULL) return NULL;
  double fh = arg_double(env, argv[1]);
  if (fh >= 0) staged_write_drop(ctx, (uint64_t)fh);
  return NULL;
}

/*
 * offerOpens(ctx, numbers: Float64Array of OFFER_NUMBERS per offer, texts): what opens each file from its block
 * file without JS (whole_block.c). Per offer: ino, dataBytes, validForS, keepCache (0/1); `texts` holds each
 * offer's block path and key in order, every one ended by a NUL (neither holds one). Returns the offers kept.
 */
#define OFFER_NUMBERS 4
static napi_value offer_opens(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct mount_context *ctx = args_with_context(env, info, 3, argv);
  if (ctx == NULL) return NULL;
  size_t length = 0;
  const void *data = NULL;
  if (!typed_array_data(env, argv[1], napi_float64_array, &data, &length) || length % OFFER_NUMBERS != 0) return throw_error(env, "offerOpens: numbers must hold 4 per offer");
  size_t texts_bytes = 0;
  char *texts = string_copy(env, argv[2], &texts_bytes);
  if (texts == NULL) return throw_error(env, "offerOpens: texts must be a string");
  const double *numbers = data;
  const char *cursor = texts, *end = texts + texts_bytes;
  double kept = 0;
  for (size_t i = 0; i < length / OFFER_NUMBERS; i++) {
    const double *n = numbers + i * OFFER_NUMBERS;
    const char *path = cursor;
    const char *path_end = memchr(path, '\0', (size_t)(end - path));
    if (path_end == NULL || path_end + 1 >= end) break;
    const char *key = path_end + 1;
    const char *key_end = memchr(key, '\0', (size_t)(end - key));
    if (key_end == NULL) break;
    cursor = key_end + 1;
    if (!(n[0] >= 1 && n[1] >= 1 && n[1] <= READ_SLOT_BYTES && n[2] > 0 && isfinite(n[2])) || path == path_end) continue;
    struct offer_fields offer = {
        .ino = (fuse_ino_t)n[0], .path = path, .key = key, .key_bytes = (size_t)(key_end - key),
        .data_bytes = (size_t)n[1], .valid_s = n[2], .keep_cache = n[3] != 0,
    };
    if (open_offer_add(ctx, &offer)) kept++;
  }
  free(texts);
  napi_value result;
  CHECK(env, napi_create_double(env, kept, &result));
  return result;
}

/* dropOpenOffers(ctx): every offer goes (something changed); the opens after it ask JS. */
static napi_value drop_open_offers(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct mount_context *ctx = args_with_context(env, info, 1, argv);
  if (ctx == NULL) return NULL;
  open_offers_drop_all(ctx);
  return make_bool(env, 1);
}

/* liveContexts(): mount contexts not freed yet, in this process. */
static napi_value live_contexts_count(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  CHECK(env, napi_create_int32(env, atomic_load(&live_contexts), &result));
  return result;
}

/* ---- kernel cache invalidation, on the notifier thread (notifier.c) ---- */

static int post_notification(struct mount_context *ctx, fuse_ino_t ino, const char *name, size_t name_length) {
  pthread_mutex_lock(&ctx->lock);
  int allowed = !ctx->stopping && !ctx->ended;
  pthread_mutex_unlock(&ctx->lock);
  return allowed && notifier_post(ctx->notifier, ino, name, name_length);
}

/* notifyInvalInode(ctx, ino) */
static napi_value notify_inval_inode(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct mount_context *ctx = args_with_context(env, info, 2, argv);
  if (ctx == NULL) return NULL;
  return make_bool(env, post_notification(ctx, (fuse_ino_t)arg_double(env, argv[1]), NULL, 0));
}

/* notifyInvalEntry(ctx, parentIno, name) */
static napi_value notify_inval_entry(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct mount_context *ctx = args_with_context(env, info, 3, argv);
  if (ctx == NULL) return NULL;
  /* No name is longer than the kernel's NAME_MAX: a longer string names nothing cached. */
  char name[NAME_MAX + 2];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, argv[2], name, sizeof name, &length) != napi_ok || length == 0 || length > NAME_MAX) return make_bool(env, 0);
  return make_bool(env, post_notification(ctx, (fuse_ino_t)arg_double(env, argv[1]), name, length));
}

static napi_value init(napi_env env, napi_value exports) {
  const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {
      {"mount", mount_filesystem}, {"stop", stop_filesystem},     {"stats", stats}, {"readSlots", read_slots}, {"abandon", abandon_request},
      {"replyError", reply_error}, {"replyAttr", reply_attr},     {"replyOpen", reply_open},
      {"replyRead", reply_read},   {"replyStatfs", reply_statfs}, {"replyDir", reply_dir}, {"replyCached", cache_reply_cached},
      {"replyCreate", reply_create}, {"replyWrite", reply_read},
      {"notifyInvalInode", notify_inval_inode}, {"notifyInvalEntry", notify_inval_entry}, {"trimMemory", trim_memory},
      {"liveContexts", live_contexts_count},
      {"stagedWriteEnd", staged_write_end}, {"stagedWriteDrop", staged_write_drop_js},
      {"lendRanges", lent_lend_ranges},
      {"offerOpens", offer_opens}, {"dropOpenOffers", drop_open_offers},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    CHECK(env, napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn));
    CHECK(env, napi_set_named_property(env, exports, functions[i].name, fn));
  }
  napi_value version;
  CHECK(env, napi_create_uint32(env, fuse_version(), &version));
  CHECK(env, napi_set_named_property(env, exports, "libfuseVersion", version));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
