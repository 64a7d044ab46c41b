/*
 * The libfuse low-level callbacks. Each runs on a libfuse worker thread: it describes the request,
 * hands it to JS through the thread-safe function (never blocking the JS thread), waits on its own
 * condition variable for the answer, and writes the reply to the kernel itself. Directory listings
 * are kept here after opendir, so readdir and readdirplus never cross into JS.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
  for (size_t i = 0; i < listing->count; i++) free(listing->entries[i].name);
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
  read_buffer_release(r->buffer);
  dir_listing_free(r->listing);
  free(r);
}

/* Hands `r` to JS and waits for its answer (or the teardown's); returns 0 or an errno. */
static int ask_js(struct mount_context *ctx, struct request *r) {
  if (!registry_add(ctx, r)) {
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

/* Runs `r` through JS; on failure replies the errno and returns 0, else returns 1 (caller replies). */
static int ask_js_or_reply_error(struct mount_context *ctx, struct request *r) {
  int err = ask_js(ctx, r);
  if (err == 0) return 1;
  fuse_reply_err(r->req, err);
  request_release(r);
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
  /* Every listing carries attributes already: always plus, never the adaptive mode. */
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  napi_call_threadsafe_function(ctx->dispatch, &initialized_marker, napi_tsfn_nonblocking);
}

static void reply_entry_from(struct mount_context *ctx, struct request *r) {
  struct fuse_entry_param entry;
  memset(&entry, 0, sizeof entry);
  entry.ino = r->attr.st_ino;
  entry.attr = r->attr;
  entry.attr_timeout = ctx->attr_timeout_s;
  entry.entry_timeout = ctx->entry_timeout_s;
  fuse_reply_entry(r->req, &entry);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_LOOKUP, parent);
  r->name = strdup(name);
  if (!ask_js_or_reply_error(ctx, r)) return;
  reply_entry_from(ctx, r);
  request_release(r);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  /* The core numbers paths for the life of the mount: nothing to forget. */
  (void)ino;
  (void)nlookup;
  fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  (void)count;
  (void)forgets;
  fuse_reply_none(req);
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
  struct request *r = request_new(NULL, OP_RELEASE, 0);
  if (r == NULL) return;
  r->fh = fh;
  ask_js(ctx, r);
  request_release(r);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_OPEN, ino);
  r->flags = fi->flags;
  if (!ask_js_or_reply_error(ctx, r)) return;
  fi->fh = r->open_fh;
  fi->keep_cache = r->keep_cache ? 1 : 0;
  fi->direct_io = r->direct_io ? 1 : 0;
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

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_READ, ino);
  r->slot = read_slot_take(ctx, size);
  if (r->slot < 0) {
    r->buffer = malloc(sizeof *r->buffer + size);
    if (r->buffer == NULL) {
      fuse_reply_err(req, ENOMEM);
      free(r);
      return;
    }
    atomic_init(&r->buffer->refs, 1);
    r->buffer->capacity = size;
  }
  r->fh = fi->fh;
  r->offset = offset;
  r->size = size;
  int err = ask_js(ctx, r);
  if (err != 0) {
    fuse_reply_err(req, err);
  } else {
    const char *data = r->slot >= 0 ? ctx->slot_memory + (size_t)r->slot * READ_SLOT_BYTES : r->buffer->data;
    fuse_reply_buf(req, data, r->bytes < size ? r->bytes : size);
  }
  read_slot_give_back(ctx, r);
  request_release(r);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_RELEASE, ino);
  r->fh = fi->fh;
  fuse_reply_err(req, ask_js(ctx, r));
  request_release(r);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_OPENDIR, ino);
  if (!ask_js_or_reply_error(ctx, r)) return;
  struct dir_listing *listing = r->listing;
  r->listing = NULL;
  fi->fh = (uint64_t)(uintptr_t)listing;
  if (fuse_reply_open(req, fi) != 0) dir_listing_free(listing);
  request_release(r);
}

static int is_dot_or_dotdot(const char *name) {
  return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static void serve_listing(fuse_req_t req, size_t size, off_t offset, struct fuse_file_info *fi, int plus) {
  struct mount_context *ctx = context_of(req);
  struct dir_listing *listing = (struct dir_listing *)(uintptr_t)fi->fh;
  char *buf = malloc(size > 0 ? size : 1);
  if (buf == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  size_t used = 0;
  for (size_t i = offset < 0 ? 0 : (size_t)offset; listing != NULL && i < listing->count; i++) {
    const struct dir_entry *entry = &listing->entries[i];
    size_t needed;
    if (plus) {
      struct fuse_entry_param param;
      memset(&param, 0, sizeof param);
      param.attr = entry->attr;
      /* Dots carry no lookup reference: the kernel does not link them. */
      if (!is_dot_or_dotdot(entry->name)) {
        param.ino = entry->attr.st_ino;
        param.attr_timeout = ctx->attr_timeout_s;
        param.entry_timeout = ctx->entry_timeout_s;
      }
      needed = fuse_add_direntry_plus(req, buf + used, size - used, entry->name, &param, (off_t)(i + 1));
    } else {
      needed = fuse_add_direntry(req, buf + used, size - used, entry->name, &entry->attr, (off_t)(i + 1));
    }
    if (needed > size - used) break;
    used += needed;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi) {
  (void)ino;
  serve_listing(req, size, offset, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi) {
  (void)ino;
  serve_listing(req, size, offset, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  dir_listing_free((struct dir_listing *)(uintptr_t)fi->fh);
  fuse_reply_err(req, 0);
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

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_UNLINK, parent);
  r->name = strdup(name);
  fuse_reply_err(req, ask_js(ctx, r));
  request_release(r);
}

/* Every change but unlink: the core picks the errno (EROFS, or EPERM with --allow-delete). */
static void refuse(fuse_req_t req, const char *what, fuse_ino_t parent, const char *name) {
  struct mount_context *ctx = context_of(req);
  NEW_REQUEST_OR_ENOMEM(r, req, OP_REFUSE, parent);
  r->refused_op = what;
  r->name = name != NULL ? strdup(name) : NULL;
  int err = ask_js(ctx, r);
  fuse_reply_err(req, err != 0 ? err : EROFS);
  request_release(r);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  (void)mode;
  refuse(req, "mkdir", parent, name);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  (void)mode;
  (void)rdev;
  refuse(req, "create", parent, name);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  (void)mode;
  (void)fi;
  refuse(req, "create", parent, name);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  refuse(req, "rmdir", parent, name);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  (void)link;
  refuse(req, "symlink", parent, name);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags) {
  (void)newparent;
  (void)newname;
  (void)flags;
  refuse(req, "rename", parent, name);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  (void)ino;
  refuse(req, "link", newparent, newname);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  (void)attr;
  (void)fi;
  const char *what = "utimens";
  if (to_set & FUSE_SET_ATTR_SIZE) what = "truncate";
  else if (to_set & FUSE_SET_ATTR_MODE) what = "chmod";
  else if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) what = "chown";
  refuse(req, what, ino, NULL);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)buf;
  (void)size;
  (void)off;
  (void)fi;
  refuse(req, "write", ino, NULL);
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
    .release = op_release,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .access = op_access,
    .create = op_create,
};
