/*
 * The libfuse low-level callbacks. Each runs on a libfuse worker thread: it describes the request,
 * hands it to JS through the thread-safe function (never blocking the JS thread), waits on its own
 * condition variable for the answer, and writes the reply to the kernel itself. A directory is read
 * in batches from JS: the kernel's many small readdir requests are served here from the last batch,
 * and only a request past it crosses into JS.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mount_context.h"

#define ONE_MIB (1024u * 1024u)
/* The kernel's largest request with max_pages = 256 (4 KiB pages). */
#define MAX_REQUEST_BYTES ONE_MIB
#define MAX_BACKGROUND_REQUESTS 64u

void read_buffer_release(struct read_buffer *buffer) {
  if (buffer != NULL && atomic_fetch_sub(&buffer->refs, 1) == 1) free(buffer);
}

void dir_listing_free(struct dir_listing *listing) {
  if (listing == NULL) return;
  free(listing->names);
  free(listing);
}

static struct mount_context *context_of(fuse_req_t req) {
  return fuse_req_userdata(req);
}

static struct request *request_new(fuse_req_t req, enum request_op op, fuse_ino_t ino) {
  struct request *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->req = req;
  r->op = op;
  r->ino = ino;
  r->slot = -1;
  /* One reference for the worker, one for the queued JS call (dropped in call_js). */
  atomic_init(&r->refs, 2);
  return r;
}

void request_release(struct request *r) {
  if (atomic_fetch_sub(&r->refs, 1) != 1) return;
  free(r->name);
  free(r->new_name);
  read_buffer_release(r->buffer);
  dir_listing_free(r->listing);
  dir_listing_free(r->settled_batch);
  free(r->payload);
  cache_hit_free(r->cache_hit);
  free(r->block_path);
  free(r->block_key);
  free(r);
}

/* Hands `r` to JS (registered by `add`) and waits for its answer (or the teardown's); returns 0 or an errno. */
static int dispatch_and_wait(struct mount_context *ctx, struct request *r, int (*add)(struct mount_context *, struct request *)) {
  if (!add(ctx, r)) {
    atomic_fetch_sub(&r->refs, 1); /* never queued */
    return ENODEV;
  }
  if (napi_call_threadsafe_function(ctx->dispatch, r, napi_tsfn_nonblocking) != napi_ok) {
    atomic_fetch_sub(&r->refs, 1);
    pthread_mutex_lock(&ctx->lock);
    if (registry_take_locked(ctx, r->id) != NULL) {
      r->err = ENODEV;
      registry_complete_locked(r);
    }
    pthread_mutex_unlock(&ctx->lock);
  }
  registry_wait(ctx, r);
  return r->err;
}

static int ask_js(struct mount_context *ctx, struct request *r) {
  return dispatch_and_wait(ctx, r, registry_add);
}

int ask_js_again(struct mount_context *ctx, struct request *r) {
  atomic_fetch_add(&r->refs, 1); /* for the queued JS call, as request_new gave the first */
  pthread_mutex_lock(&ctx->lock);
  r->seen_by_js = 0;
  r->answered_by_js = 0;
  r->err = 0;
  r->bytes = 0;
  pthread_mutex_unlock(&ctx->lock);
  return dispatch_and_wait(ctx, r, registry_add_again);
}

/* Runs `r` through JS; on failure replies the errno and returns 0, else returns 1 (caller replies). */
static int ask_js_or_reply_error(struct mount_context *ctx, struct request *r) {
  int err = ask_js(ctx, r);
  if (err == 0) return 1;
  fuse_reply_err(r->req, err);
  request_release(r);
  return 0;
}

/* Copies `name` into `r`; on failure answers ENOMEM and frees `r` (never queued yet). */
static int set_name_or_reply_enomem(struct request *r, const char *name) {
  r->name = strdup(name);
  if (r->name != NULL) return 1;
  fuse_reply_err(r->req, ENOMEM);
  free(r);
  return 0;
}

#define NEW_REQUEST_OR_ENOMEM(r, req, op, ino)       \
  struct request *r = request_new((req), (op), (ino)); \
  if (r == NULL) {                                      \
    fuse_reply_err((req), ENOMEM);                      \
    return;                                             \
  }

static void op_init(void *userdata, struct fuse_conn_info *conn) {
  struct mount_context *ctx = userdata;
  /* libfuse derives max_pages from max_write: 1 MiB lets the kernel send 1 MiB reads. */
  if (conn->max_write < MAX_REQUEST_BYTES) conn->max_write = MAX_REQUEST_BYTES;
  conn->max_read = MAX_REQUEST_BYTES; /* must equal the max_read mount option */
  conn->max_readahead = MAX_REQUEST_BYTES;
  conn->max_background = MAX_BACKGROUND_REQUESTS;
  conn->congestion_threshold = MAX_BACKGROUND_REQUESTS * 3 / 4;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  /* O_TRUNC reaches open (the core's overwrite rule needs it), not a separate truncate before it. */
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  /*
   * No writeback cache: every write reaches the core before write() returns, so close() reports the
   * upload's result, and the core's sizes and times stay the truth (with it, the kernel keeps its own).
   */
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  /* Every listing carries attributes already: always plus, never the adaptive mode. */
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  napi_call_threadsafe_function(ctx->dispatch, &initialized_marker, napi_tsfn_nonblocking);
}

static void send_forget(struct mount_context *ctx, fuse_ino_t ino, uint64_t count, void *pairs, size_t pair_bytes);

static void entry_from(const struct mount_context *ctx, const struct request *r, struct fuse_entry_param *entry) {
  memset(entry, 0, sizeof *entry);
  entry->ino = r->attr.st_ino;
  entry->attr = r->attr;
  entry->attr_timeout = ctx->attr_timeout_s;
  entry->entry_timeout = ctx->entry_timeout_s;
}

static void reply_entry_from(struct mount_context *ctx, struct request *r) {
  struct fuse_entry_param entry;
  entry_from(ctx, r, &entry);
  /* The core counted this lookup; a reply the kernel never took (interrupted) is one it will not forget. */
  if (fuse_reply_entry(r->req, &entry) != 0) send_forget(ctx, entry.ino, 1, NULL, 0);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_LOOKUP, parent);
  if (!set_name_or_reply_enomem(r, name)) return;
  if (!ask_js_or_reply_error(ctx, r)) return;
  reply_entry_from(ctx, r);
  request_release(r);
}

/* Tells the core the kernel forgot lookups; nothing is answered to the kernel but "none". */
static void send_forget(struct mount_context *ctx, fuse_ino_t ino, uint64_t count, void *pairs, size_t pair_bytes) {
  struct request *r = request_new(NULL, OP_FORGET, ino);
  if (r == NULL) {
    free(pairs);
    return; /* the numbers stay alive until unmount: a leak, never a wrong answer */
  }
  r->size = (size_t)count;
  r->payload = pairs;
  r->payload_bytes = pair_bytes;
  ask_js(ctx, r);
  request_release(r);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  struct mount_context *ctx = context_of(req);
  fuse_reply_none(req);
  send_forget(ctx, ino, nlookup, NULL, 0);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  struct mount_context *ctx = context_of(req);
  double *pairs = count > 0 ? malloc(count * 2 * sizeof *pairs) : NULL;
  if (pairs != NULL) {
    for (size_t i = 0; i < count; i++) {
      pairs[2 * i] = (double)forgets[i].ino;
      pairs[2 * i + 1] = (double)forgets[i].nlookup;
    }
  }
  fuse_reply_none(req);
  if (pairs != NULL) send_forget(ctx, 0, 0, pairs, count * 2 * sizeof *pairs);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi;
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_GETATTR, ino);
  if (!ask_js_or_reply_error(ctx, r)) return;
  fuse_reply_attr(req, &r->attr, ctx->attr_timeout_s);
  request_release(r);
}

/* The kernel gave up on this open (interrupted): the handle JS made must still be released. */
static void release_orphan_handle(struct mount_context *ctx, uint64_t fh) {
  whole_block_drop(ctx, fh);
  struct request *r = request_new(NULL, OP_RELEASE, 0);
  if (r == NULL) return;
  r->fh = fh;
  ask_js(ctx, r);
  request_release(r);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct mount_context *ctx = context_of(req);
  /* A cached small file JS offered: opened from its block file, JS told after. */
  if (whole_block_open_offered(ctx, req, ino, fi)) return;
  NEW_REQUEST_OR_ENOMEM(r, req, OP_OPEN, ino);
  r->flags = fi->flags;
  if (!ask_js_or_reply_error(ctx, r)) return;
  /* Before the kernel has the handle: its first read finds the block file open and checked. */
  whole_block_hold(ctx, r);
  fi->fh = r->open_fh;
  fi->keep_cache = r->keep_cache ? 1 : 0;
  fi->direct_io = r->direct_io ? 1 : 0;
#if FUSE_VERSION >= FUSE_MAKE_VERSION(3, 11)
  /* A handle opened for reading has nothing to upload: its close() need not cross into JS. */
  if ((fi->flags & O_ACCMODE) == O_RDONLY) fi->noflush = 1;
#endif
  if (fuse_reply_open(req, fi) == -ENOENT) release_orphan_handle(ctx, r->open_fh);
  request_release(r);
}

int read_slot_take(struct mount_context *ctx, size_t size) {
  int slot = -1;
  if (size > READ_SLOT_BYTES) return -1;
  pthread_mutex_lock(&ctx->lock);
  if (ctx->slot_memory_owned_by_js && ctx->free_slot_count > 0) slot = ctx->free_slots[--ctx->free_slot_count];
  pthread_mutex_unlock(&ctx->lock);
  return slot;
}

void read_slot_give_back(struct mount_context *ctx, struct request *r) {
  if (r->slot < 0) return;
  pthread_mutex_lock(&ctx->lock);
  /* JS got the request but did not answer it (teardown, timeout): it may still write into the slot, which stays out of use. */
  if (r->answered_by_js || !r->seen_by_js) ctx->free_slots[ctx->free_slot_count++] = r->slot;
  pthread_mutex_unlock(&ctx->lock);
  r->slot = -1;
}

/*
 * The memory a read's reply or a write's bytes live in while JS has them: this thread's slot when one is
 * free, else a buffer of the request's own. NULL when neither can be had (the request is then not answered).
 */
static char *request_memory(struct mount_context *ctx, struct request *r, size_t size) {
  r->slot = read_slot_take(ctx, size);
  if (r->slot >= 0) return ctx->slot_memory + (size_t)r->slot * READ_SLOT_BYTES;
  r->buffer = malloc(sizeof *r->buffer + size);
  if (r->buffer == NULL) return NULL;
  atomic_init(&r->buffer->refs, 1);
  r->buffer->capacity = size;
  return r->buffer->data;
}

/*
 * JS's handle of a file the engine opened itself, for a read its block could not serve: JS opens the file the
 * first time (as the kernel's open would have), and the handle's reads go to it from then on. 0 or an errno.
 */
static int core_handle_of(struct mount_context *ctx, fuse_ino_t ino, uint64_t fh, uint64_t *core_fh) {
  if (!whole_block_engine_handle(ctx, fh, core_fh)) {
    *core_fh = fh;
    return 0;
  }
  if (*core_fh != 0) return 0;
  struct request *r = request_new(NULL, OP_OPEN, ino);
  if (r == NULL) return ENOMEM;
  r->flags = O_RDONLY;
  int err = ask_js(ctx, r);
  if (err == 0) {
    *core_fh = r->open_fh;
    /* Another read of the handle got there first: this one's handle goes back. */
    if (!whole_block_set_core_handle(ctx, fh, r->open_fh)) {
      release_orphan_handle(ctx, r->open_fh);
      whole_block_engine_handle(ctx, fh, core_fh);
    }
  }
  request_release(r);
  return err;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi) {
  struct mount_context *ctx = context_of(req);
  atomic_fetch_add_explicit(&ctx->read_requests, 1, memory_order_relaxed);
  int whole = whole_block_serve(ctx, req, fi->fh, size, offset);
  if (whole > 0) return;
  int lent = whole == 0 ? lent_serve(ctx, req, fi->fh, size, offset) : 0;
  if (lent > 0) return;
  uint64_t core_fh;
  int handle_err = core_handle_of(ctx, ino, fi->fh, &core_fh);
  if (handle_err != 0) {
    fuse_reply_err(req, handle_err);
    return;
  }
  NEW_REQUEST_OR_ENOMEM(r, req, OP_READ, ino);
  /* The whole block or a lent one failed: the usual read, marked so that JS knows why it reads the file itself. */
  if (whole < 0) r->flags = READ_AFTER_CACHE_FAILURE | (-whole << 16) | WHOLE_BLOCK_RANGE_INDEX;
  if (lent < 0) r->flags = READ_AFTER_CACHE_FAILURE | (-lent << 16) | LENT_RANGE_INDEX;
  const char *data = request_memory(ctx, r, size);
  if (data == NULL) {
    fuse_reply_err(req, ENOMEM);
    free(r);
    return;
  }
  r->fh = core_fh;
  r->offset = offset;
  r->size = size;
  int err = ask_js(ctx, r);
  int served = 0;
  if (err == 0 && r->cache_hit != NULL) {
    served = cache_read_serve(ctx, r, data);
    /* A hit that failed goes back to JS as the usual read: the reader never sees the cache's failure. */
    if (!served) err = ask_js_again(ctx, r);
  }
  if (served) {
    /* cache_read_serve replied */
  } else if (err != 0) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_buf(req, data, r->bytes < size ? r->bytes : size);
  }
  read_slot_give_back(ctx, r);
  request_release(r);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct mount_context *ctx = context_of(req);
  if (whole_block_release(ctx, fi->fh)) {
    fuse_reply_err(req, 0);
    return;
  }
  NEW_REQUEST_OR_ENOMEM(r, req, OP_RELEASE, ino);
  r->fh = fi->fh;
  int err = ask_js(ctx, r);
  /* After JS let the handle go: it lends nothing to it from then on. */
  lent_drop(ctx, fi->fh);
  fuse_reply_err(req, err);
  request_release(r);
}

/* Ends the core's handle of an open directory, with the hand-out counts of its last batch. */
static int release_core_dir(struct mount_context *ctx, fuse_ino_t ino, struct dir_handle *h) {
  struct request *r = request_new(NULL, OP_RELEASEDIR, ino);
  if (r == NULL) {
    dir_listing_free(h->batch);
    h->batch = NULL;
    return ENOMEM;
  }
  r->fh = h->core_handle;
  r->settled_batch = h->batch;
  h->batch = NULL;
  int err = ask_js(ctx, r);
  request_release(r);
  return err;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct mount_context *ctx = context_of(req);
  struct dir_handle *h = calloc(1, sizeof *h);
  if (h == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  struct request *r = request_new(req, OP_OPENDIR, ino);
  if (r == NULL) {
    free(h);
    fuse_reply_err(req, ENOMEM);
    return;
  }
  if (!ask_js_or_reply_error(ctx, r)) {
    free(h);
    return;
  }
  h->core_handle = r->open_fh;
  fi->fh = (uint64_t)(uintptr_t)h;
  fi->keep_cache = r->keep_cache ? 1 : 0;
  fi->cache_readdir = r->cache_dir ? 1 : 0;
  if (fuse_reply_open(req, fi) != 0) {
    release_core_dir(ctx, ino, h);
    free(h);
  }
  request_release(r);
}

static int is_dot_or_dotdot(const char *name) {
  return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static int batch_holds(const struct dir_handle *h, off_t offset) {
  return h->batch != NULL && offset >= h->batch_start && offset < h->batch_start + (off_t)h->batch->count;
}

static int batch_ends_listing_at(const struct dir_handle *h, off_t offset) {
  return h->batch != NULL && h->batch->last && offset == h->batch_start + (off_t)h->batch->count;
}

/* Asks the core for the batch at `offset`, handing back the counts of the one it replaces; 0 or an errno. */
static int fetch_batch(struct mount_context *ctx, fuse_req_t req, fuse_ino_t ino, struct dir_handle *h, size_t size, off_t offset, int plus) {
  struct request *r = request_new(req, OP_READDIR, ino);
  if (r == NULL) return ENOMEM;
  r->fh = h->core_handle;
  r->offset = offset;
  r->size = size;
  r->flags = plus;
  r->settled_batch = h->batch;
  h->batch = NULL;
  int err = ask_js(ctx, r);
  if (err == 0) {
    h->batch = r->listing;
    r->listing = NULL;
    h->batch_start = offset;
  }
  request_release(r);
  return err;
}

static void serve_listing(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi, int plus) {
  struct mount_context *ctx = context_of(req);
  struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
  if (h == NULL || offset < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  if (!batch_holds(h, offset)) {
    if (batch_ends_listing_at(h, offset)) {
      fuse_reply_buf(req, NULL, 0);
      return;
    }
    int err = fetch_batch(ctx, req, ino, h, size, offset, plus);
    if (err != 0) {
      fuse_reply_err(req, err);
      return;
    }
  }
  char *buf = malloc(size > 0 ? size : 1);
  if (buf == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  size_t used = 0;
  struct dir_listing *batch = h->batch;
  size_t first = batch_holds(h, offset) ? (size_t)(offset - h->batch_start) : batch->count;
  size_t last_packed = first;
  for (size_t i = first; i < batch->count; i++) {
    struct dir_entry *entry = &batch->entries[i];
    off_t next_offset = h->batch_start + (off_t)i + 1;
    size_t needed;
    int counted = 0;
    if (plus) {
      struct fuse_entry_param param;
      memset(&param, 0, sizeof param);
      param.attr = entry->attr;
      /* Dots carry no lookup reference: the kernel does not link them. */
      if (!is_dot_or_dotdot(entry->name)) {
        param.ino = entry->attr.st_ino;
        param.attr_timeout = ctx->attr_timeout_s;
        param.entry_timeout = ctx->entry_timeout_s;
        counted = 1;
      }
      needed = fuse_add_direntry_plus(req, buf + used, size - used, entry->name, &param, next_offset);
    } else {
      needed = fuse_add_direntry(req, buf + used, size - used, entry->name, &entry->attr, next_offset);
    }
    if (needed > size - used) break;
    used += needed;
    if (counted) entry->handed_out++;
    last_packed = i + 1;
  }
  /* A reply the kernel never took (interrupted) hands out nothing: take its counts back. */
  if (fuse_reply_buf(req, buf, used) != 0 && plus) {
    for (size_t i = first; i < last_packed; i++)
      if (!is_dot_or_dotdot(batch->entries[i].name)) batch->entries[i].handed_out--;
  }
  free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi) {
  serve_listing(req, ino, size, offset, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi) {
  serve_listing(req, ino, size, offset, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct mount_context *ctx = context_of(req);
  struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
  int err = h != NULL ? release_core_dir(ctx, ino, h) : 0;
  free(h);
  fuse_reply_err(req, err);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_STATFS, ino);
  if (!ask_js_or_reply_error(ctx, r)) return;
  fuse_reply_statfs(req, &r->statfs);
  request_release(r);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_ACCESS, ino);
  r->flags = mask;
  fuse_reply_err(req, ask_js(ctx, r));
  request_release(r);
}

/* A request about `name` in `parent` whose whole answer is an errno (unlink, rmdir). */
static void ask_about_name(fuse_req_t req, enum request_op op, fuse_ino_t parent, const char *name) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, op, parent);
  if (!set_name_or_reply_enomem(r, name)) return;
  fuse_reply_err(req, ask_js(ctx, r));
  request_release(r);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  ask_about_name(req, OP_UNLINK, parent, name);
}

/* What the core refuses (symlink, link, special files): it picks the errno. */
static void refuse(fuse_req_t req, const char *what, fuse_ino_t parent, const char *name) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_REFUSE, parent);
  r->refused_op = what;
  if (name != NULL && !set_name_or_reply_enomem(r, name)) return;
  int err = ask_js(ctx, r);
  fuse_reply_err(req, err != 0 ? err : EROFS);
  request_release(r);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  (void)mode;
  (void)rdev;
  /* Regular files come through create: what reaches mknod is a device, a FIFO or a socket. */
  refuse(req, "mknod", parent, name);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  (void)link;
  refuse(req, "symlink", parent, name);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  (void)ino;
  refuse(req, "link", newparent, newname);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_CREATE, parent);
  if (!set_name_or_reply_enomem(r, name)) return;
  r->mode = mode;
  r->flags = fi->flags;
  if (!ask_js_or_reply_error(ctx, r)) return;
  struct fuse_entry_param entry;
  entry_from(ctx, r, &entry);
  fi->fh = r->open_fh;
  fi->keep_cache = r->keep_cache ? 1 : 0;
  fi->direct_io = 0;
  /* Before the kernel has the handle: its first write finds the staging file here. */
  if (r->has_staged_fd) {
    staged_write_hold(ctx, r->open_fh, r->staged_fd, r->staged_writable_end);
    r->has_staged_fd = 0;
  }
  /* Not taken (interrupted): the kernel holds neither the lookup the core counted nor the handle. */
  if (fuse_reply_create(req, &entry, fi) != 0) {
    staged_write_drop(ctx, r->open_fh);
    send_forget(ctx, entry.ino, 1, NULL, 0);
    release_orphan_handle(ctx, r->open_fh);
  }
  request_release(r);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  struct mount_context *ctx = context_of(req);
  /* A new file's staging file the engine holds: written here, JS told after (staged_write.c). */
  if (staged_write_serve(ctx, req, fi->fh, buf, size, off)) return;
  NEW_REQUEST_OR_ENOMEM(r, req, OP_WRITE, ino);
  /*
   * libfuse reuses `buf` once this callback returns, and a core that outlives the request (a timeout,
   * the teardown) may still read the bytes: JS gets a copy. It goes into this thread's slot, as a read's
   * bytes do (a slot JS may still hold stays out of use); a Buffer of its own per write would be memory
   * only a garbage collection frees, and the collections that external memory forces cost more than the copy.
   */
  char *data = request_memory(ctx, r, size);
  if (data == NULL) {
    fuse_reply_err(req, ENOMEM);
    free(r);
    return;
  }
  memcpy(data, buf, size);
  r->fh = fi->fh;
  r->offset = off;
  r->size = size;
  int err = ask_js(ctx, r);
  if (err != 0) fuse_reply_err(req, err);
  else fuse_reply_write(req, r->bytes);
  read_slot_give_back(ctx, r);
  request_release(r);
}

/* A request on an open file that is answered with an errno only: flush, fsync. */
static void ask_about_handle(fuse_req_t req, enum request_op op, fuse_ino_t ino, uint64_t fh, int flags) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, op, ino);
  r->fh = fh;
  r->flags = flags;
  fuse_reply_err(req, ask_js(ctx, r));
  request_release(r);
}

/*
 * On a read-only mount there is nothing to upload: ENOSYS tells the kernel to stop sending FLUSH (or
 * FSYNC) and to count it a success, so a reader's close() costs no trip to JS.
 */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  if (context_of(req)->read_only) {
    fuse_reply_err(req, ENOSYS);
    return;
  }
  ask_about_handle(req, OP_FLUSH, ino, fi->fh, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  if (context_of(req)->read_only) {
    fuse_reply_err(req, ENOSYS);
    return;
  }
  ask_about_handle(req, OP_FSYNC, ino, fi->fh, datasync ? 1 : 0);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_MKDIR, parent);
  if (!set_name_or_reply_enomem(r, name)) return;
  r->mode = mode;
  if (!ask_js_or_reply_error(ctx, r)) return;
  reply_entry_from(ctx, r);
  request_release(r);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  ask_about_name(req, OP_RMDIR, parent, name);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_RENAME, parent);
  if (!set_name_or_reply_enomem(r, name)) return;
  r->new_name = strdup(newname);
  if (r->new_name == NULL) {
    fuse_reply_err(req, ENOMEM);
    free(r->name);
    free(r);
    return;
  }
  r->new_parent = newparent;
  r->flags = (int)flags;
  fuse_reply_err(req, ask_js(ctx, r));
  request_release(r);
}

static double ms_of(struct timespec t) {
  return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

/* A time setattr asks for: the caller's, or now (utimensat with UTIME_NOW, touch). */
static double time_change_ms(int to_set, int set_bit, int now_bit, struct timespec given) {
  if (to_set & now_bit) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return ms_of(now);
  }
  return (to_set & set_bit) ? ms_of(given) : NAN;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  struct mount_context *ctx = context_of(req);
  double *fields = malloc(SETATTR_FIELDS * sizeof *fields);
  if (fields == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  fields[0] = (to_set & FUSE_SET_ATTR_SIZE) ? (double)attr->st_size : NAN;
  fields[1] = (to_set & FUSE_SET_ATTR_MODE) ? (double)attr->st_mode : NAN;
  fields[2] = (to_set & FUSE_SET_ATTR_UID) ? (double)attr->st_uid : NAN;
  fields[3] = (to_set & FUSE_SET_ATTR_GID) ? (double)attr->st_gid : NAN;
  fields[4] = time_change_ms(to_set, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, attr->st_atim);
  fields[5] = time_change_ms(to_set, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, attr->st_mtim);
  struct request *r = request_new(req, OP_SETATTR, ino);
  if (r == NULL) {
    free(fields);
    fuse_reply_err(req, ENOMEM);
    return;
  }
  r->payload = fields;
  r->payload_bytes = SETATTR_FIELDS * sizeof *fields;
  if (fi != NULL) {
    r->fh = fi->fh;
    r->flags = SETATTR_WITH_FH;
  }
  if (!ask_js_or_reply_error(ctx, r)) return;
  fuse_reply_attr(req, &r->attr, ctx->attr_timeout_s);
  request_release(r);
}

const struct fuse_lowlevel_ops bucketfs_lowlevel_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .access = op_access,
    .create = op_create,
};
