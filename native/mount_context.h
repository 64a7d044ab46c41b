/*
 * The shared state of one native mount: the libfuse session, the thread-safe function that
 * carries kernel requests to JS, and the registry of requests JS has not answered yet.
 * See native/README.md for the threads and the life of one request.
 */
#ifndef BUCKETFS_MOUNT_CONTEXT_H
#define BUCKETFS_MOUNT_CONTEXT_H

/* The libfuse API level; the build lowers it for a libfuse older than 3.12 (native/fuse-flags.sh). */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* The kernel requests JS answers; the numbers are shared with src/fuse/native-addon.ts. */
enum request_op {
  OP_LOOKUP = 1,
  OP_GETATTR = 2,
  OP_OPEN = 3,
  OP_READ = 4,
  OP_RELEASE = 5,
  OP_OPENDIR = 6,
  OP_STATFS = 7,
  OP_ACCESS = 8,
  OP_UNLINK = 9,
  OP_REFUSE = 10,
  /* A page of an open directory (fh: the core's handle, offset: position, flags: 1 for readdirplus). */
  OP_READDIR = 11,
  OP_RELEASEDIR = 12,
  /* FORGET (ino, size = count) or BATCH_FORGET (the payload: pairs of doubles ino, count). Answered at once. */
  OP_FORGET = 13,
  /* CREATE (ino: parent, name, mode, flags: open flags): answered with an entry and a handle; counts one lookup. */
  OP_CREATE = 14,
  /* WRITE (fh, offset, size; buffer: the bytes, owned by the request): answered with the count taken. */
  OP_WRITE = 15,
  /* FLUSH (fh): a close(); uploads a dirty handle. */
  OP_FLUSH = 16,
  /* FSYNC (fh, flags: 1 for fdatasync). */
  OP_FSYNC = 17,
  /* MKDIR (ino: parent, name, mode): answered with an entry; counts one lookup. */
  OP_MKDIR = 18,
  /* RMDIR (ino: parent, name). */
  OP_RMDIR = 19,
  /* RENAME (ino: parent, name, new_parent, new_name, flags: RENAME_NOREPLACE / RENAME_EXCHANGE). */
  OP_RENAME = 20,
  /* SETATTR (ino, flags: SETATTR_WITH_FH when fh is the open handle; payload: SETATTR_FIELDS doubles, NaN when unset). */
  OP_SETATTR = 21,
  /* Not a request: tells JS the session loop has ended and the mount is gone. */
  OP_ENDED = 100,
  /* Not a request: the kernel finished the handshake (INIT). */
  OP_INITIALIZED = 101,
  /* Not a request: cache hits served (cache_read.c); the payload holds their tokens, as doubles. */
  OP_CACHE_SETTLED = 102,
  /* Not a request: writes the engine served into staging files (staged_write.c); the payload holds their reports. */
  OP_WRITES_REPORTED = 103,
};

/*
 * A READ the engine sends back to JS after a cache hit it could not serve: the usual read, with this bit
 * in `flags`, the failure's kind in bits 16-23 and the failing range's index in bits 0-15.
 */
#define READ_AFTER_CACHE_FAILURE 0x40000000
enum cache_failure {
  CACHE_CHECKSUM_MISMATCH = 1,
  CACHE_SHORT_READ = 2, /* the block file ends before the bytes to serve: truncated */
  CACHE_READ_ERROR = 3, /* pread failed: the cache's disk, not the block */
};

/* The numbers JS sends per range: fd, filePosition, length, pieceBytes, firstPieceFilePosition, pieceCount. */
#define RANGE_NUMBERS 6
/* A read spans a few blocks at most; src/fuse/native-cache-hits.ts stops at the same count. */
#define MAX_RANGES 16

/* One range of a cache hit (see CachedRange in src/fs/types.ts): served by the worker, checked piece by piece. */
struct cache_range {
  int fd;
  off_t file_position;
  size_t length;
  size_t piece_bytes;
  off_t first_piece_position;
  size_t piece_count;
  const uint32_t *piece_crcs; /* into cache_hit.crcs */
};

/* JS's answer to a READ the cache holds: ranges in order, then `tail_bytes` JS read into the request's buffer. */
struct cache_hit {
  double token; /* handed back to JS once the ranges' files are no longer needed */
  size_t tail_bytes;
  uint32_t *crcs;
  size_t range_count;
  struct cache_range ranges[];
};

/* Tokens of hits served, waiting for JS to release their ranges (guarded by mount_context.lock). */
struct cache_settlements {
  double *tokens;
  size_t count;
  size_t capacity;
  int queued; /* a call to JS that takes them is queued */
  uint64_t calls; /* calls to JS made for them */
  uint64_t hits;
  uint64_t bytes;
  uint64_t fallbacks;
};

/* A setattr's changes as doubles, in order: size, mode, uid, gid, atime and mtime (ms since the epoch). */
#define SETATTR_FIELDS 6
#define SETATTR_WITH_FH 1

/* One batch of a directory's entries from JS, served by readdir/readdirplus without asking JS again. */
struct dir_entry {
  const char *name; /* points into dir_listing.names */
  struct stat attr;
  /* Times this entry went to the kernel in a readdirplus reply: each is a lookup the core must count. */
  uint32_t handed_out;
};

struct dir_listing {
  size_t count;
  /* The entries' names, NUL-separated, in one allocation. */
  char *names;
  /* JS said no entry follows this batch. */
  int last;
  struct dir_entry entries[];
};

/* An open directory: the core's handle and the batch being served (fi->fh points to it). */
struct dir_handle {
  uint64_t core_handle;
  struct dir_listing *batch;
  off_t batch_start; /* the offset of batch->entries[0] */
};

/* The bytes of one read or write: shared by the request and the JS Buffer that views them. */
struct read_buffer {
  atomic_int refs;
  size_t capacity;
  char data[];
};

struct request {
  struct request *prev, *next; /* in mount_context.outstanding while unanswered */
  uint64_t id;
  /* the worker's and the queued JS call's: the last one frees */
  atomic_int refs;
  enum request_op op;
  fuse_req_t req;
  /* what the kernel asked */
  fuse_ino_t ino;
  char *name;
  mode_t mode;             /* create, mkdir */
  fuse_ino_t new_parent;   /* rename */
  char *new_name;          /* rename */
  const char *refused_op;
  uint64_t fh;
  off_t offset;
  size_t size;
  int flags;
  struct read_buffer *buffer; /* a read's bytes when no slot was free; a write's bytes */
  int slot;                   /* a read's slot in mount_context.slot_memory, or -1 */
  int seen_by_js; /* the dispatcher got it (under lock): from then on JS may write into its slot */
  /* the answer, filled under mount_context.lock */
  int answered_by_js;
  pthread_cond_t answered_cond;
  int answered;
  int err;
  struct stat attr;
  struct statvfs statfs;
  uint64_t open_fh;
  int keep_cache;
  int direct_io;
  size_t bytes;
  struct dir_listing *listing;
  /* A batch JS handed out before: its hand-out counts travel with this request, then it is freed. */
  struct dir_listing *settled_batch;
  /* Bytes copied into a Buffer for JS (BATCH_FORGET's pairs), owned by the request. */
  void *payload;
  size_t payload_bytes;
  int cache_dir;
  struct cache_hit *cache_hit; /* a READ's answer from the cache, or NULL */
  /* An OPEN's answer may name the block file holding the whole object (whole_block.c): owned by the request. */
  char *block_path;
  char *block_key;
  size_t block_key_bytes;
  size_t block_data_bytes;
  /* A CREATE's answer may hand over its staging file (staged_write.c): a descriptor of the request's own. */
  int has_staged_fd;
  int staged_fd;
  off_t staged_writable_end;
};

/* What opens a file from its block file without JS (whole_block.c): JS offers it with a lookup or a listing. */
#define OPEN_OFFER_BUCKETS 4096
/* Offers kept at most; past it the oldest goes (its file's open then asks JS, which may offer it again). */
#define OPEN_OFFERS_MAX 65536
struct open_offer;
/*
 * Handles the engine opened itself are numbered from here (JS's own stay far below): a double holds them
 * exactly, so they travel to JS in the settled tokens as any handle does.
 */
#define ENGINE_FH_BASE 0x10000000000000ull

/* The block files of open handles whose whole object one block holds (whole_block.c), by handle. */
#define WHOLE_BLOCK_BUCKETS 256
/* Open handles hold their block files' bytes, read whole with the open, up to this many in all. */
#define WHOLE_BLOCK_HELD_MAX_BYTES (64u * 1024u * 1024u)
struct whole_block;
/* The blocks lent to open handles ahead of their reads (lent_ranges.c), by handle. */
#define LENT_HANDLE_BUCKETS 64
struct lent_handle;

/* The staging files of open handles whose writes the engine serves (staged_write.c), by handle. */
#define STAGED_WRITE_BUCKETS 256
struct staged_write;

/* Reports of writes served, waiting for JS (guarded by mount_context.lock). */
struct staged_reports {
  double *values;
  size_t count;
  size_t capacity;
  size_t promised; /* reports of writes under way, whose room is set aside */
  int queued;      /* a call to JS that takes them is queued */
  uint64_t served;
  uint64_t bytes;
};

struct notifier;

struct mount_context {
  struct fuse_session *session;
  napi_threadsafe_function dispatch;
  pthread_t loop_thread;
  char *mountpoint;
  double attr_timeout_s;
  double entry_timeout_s;
  unsigned max_threads;
  /* Mounted `ro`: nothing is ever written, so a close() has nothing to upload. */
  int read_only;

  /*
   * Read slots: one 1 MiB buffer per worker thread, reused by every read, so the core writes into
   * warm memory and nothing waits for the garbage collector. JS sees them as views of one external
   * ArrayBuffer (readSlots), whose finalizer frees the memory once JS holds it.
   */
  char *slot_memory;
  size_t slot_count;

  pthread_mutex_t lock;
  /* guarded by lock */
  int slot_memory_owned_by_js; /* set once JS holds the views: only then are slots handed out */
  int *free_slots;
  size_t free_slot_count;
  struct request outstanding; /* list head */
  uint64_t next_id;
  int stopping;
  int ended;
  /* statistics, guarded by lock */
  uint64_t requests_dispatched;
  uint64_t requests_aborted;
  /* read slots kept out of use because JS may still write into them (a timeout, the teardown) */
  uint64_t read_slots_withheld;

  /* Kernel cache invalidation (notifier.c): one thread, started at mount, joined when the loop ends. */
  struct notifier *notifier;
  struct cache_settlements cache;
  /* guarded by lock */
  struct whole_block *whole_blocks[WHOLE_BLOCK_BUCKETS];
  /* guarded by lock */
  struct staged_write *staged_writes[STAGED_WRITE_BUCKETS];
  struct staged_reports staged_reports;
  /* guarded by lock: the blocks JS lent open handles' reads ahead of them (lent_ranges.c), and how many in all */
  struct lent_handle *lent_handles[LENT_HANDLE_BUCKETS];
  size_t lent_range_count;
  /* guarded by lock: open offers by inode, oldest first on their own list; handles opened from them */
  struct open_offer *offers[OPEN_OFFER_BUCKETS];
  struct open_offer *oldest_offer, *newest_offer;
  size_t offer_count;
  uint64_t next_engine_fh;
  uint64_t opens_served;
  /* guarded by lock: bytes of block files held whole by open handles (whole_block.c); reads of block files made, and the bytes they asked for */
  size_t whole_block_held_bytes;
  uint64_t whole_block_reads;
  uint64_t whole_block_read_bytes;
  /* those of the reads that went from the disk straight into memory, past the page cache */
  uint64_t whole_block_direct_reads;
  /* Whether the block files' file system tells what the page cache holds of them: 0 until the first is read whole, 1, or -1 (whole_block.c) */
  atomic_int block_pages_seen;
  /* guarded by lock: stores of a whole file's pages into the kernel's cache with its open (whole_block.c), running and done */
  unsigned page_stores_running;
  /*
   * Bumped whenever offers are dropped or one is replaced (JS learnt of a change, or an open that may write came):
   * an offered open that stored pages while it moved must not keep them.
   */
  uint64_t offer_generation;
  uint64_t page_stores;
  /* READ requests the kernel sent, whoever answered them */
  atomic_uint_fast64_t read_requests;
  /* The JS handle's and the thread-safe function's: whichever finalizer runs last frees the context. */
  atomic_int refs;
};

/* request registry (request_registry.c) */
void registry_init(struct mount_context *ctx);
/* Registers `r` with a fresh id; 0 when the mount is stopping (answer without JS). */
int registry_add(struct mount_context *ctx, struct request *r);
/* As registry_add, keeping the id `r` had: it goes back to JS as the same request. */
int registry_add_again(struct mount_context *ctx, struct request *r);
/* Takes the unanswered request with this id out of the registry; NULL when already answered. Lock held. */
struct request *registry_take_locked(struct mount_context *ctx, uint64_t id);
/* Marks `r` answered and wakes its worker. Lock held. */
void registry_complete_locked(struct request *r);
/* Answers every unanswered request with `err`; returns how many. */
size_t registry_abort_all(struct mount_context *ctx, int err);
/* Answers `r` with `err` in JS's place (teardown, timeout, failed dispatch); counts a withheld slot. Lock held. */
void registry_answer_instead_of_js_locked(struct mount_context *ctx, struct request *r, int err);
/* Waits for the answer to `r`, then removes nothing: the answerer already did. */
void registry_wait(struct mount_context *ctx, struct request *r);

/* Markers queued on the dispatch function to tell JS about the session, not requests (addon.c). */
extern struct request ended_marker;
extern struct request initialized_marker;

/* libfuse callbacks (lowlevel_ops.c) */
extern const struct fuse_lowlevel_ops bucketfs_lowlevel_ops;
void read_buffer_release(struct read_buffer *buffer);
void request_release(struct request *r);
#define READ_SLOT_BYTES (1024u * 1024u)
/* A free read slot for `size` bytes, or -1 (then the read uses a buffer of its own). */
int read_slot_take(struct mount_context *ctx, size_t size);
/* Gives the slot of `r` back, unless JS may still write into it (answered by the teardown). */
void read_slot_give_back(struct mount_context *ctx, struct request *r);
void dir_listing_free(struct dir_listing *listing);

/* Takes the unanswered request `id`, lets `fill` write its answer, wakes its worker (addon.c); false when already answered. */
typedef void (*answer_filler)(struct request *r, void *answer);
int complete_request(struct mount_context *ctx, double id, answer_filler fill, void *answer);
/* Hands `r` to JS again under the same id (a READ whose cache hit failed); 0 or an errno. */
int ask_js_again(struct mount_context *ctx, struct request *r);

/* arguments of the addon's functions (addon.c) */
/* The arguments and the context external (always the first); NULL, with `usage` thrown, when they are not there. */
struct mount_context *args_with_context_or(napi_env env, napi_callback_info info, size_t wanted, napi_value *argv, const char *usage);
/* The elements of a typed array of `type`, `length` of them (`data` may be NULL when there are none); false (nothing thrown) for anything else. */
bool typed_array_data(napi_env env, napi_value value, napi_typedarray_type type, const void **data, size_t *length);

/* cache hits (cache_read.c) */
extern struct request cache_settled_marker;
/* replyCached(ctx, id, token, ranges, crcs, tailBytes) */
napi_value cache_reply_cached(napi_env env, napi_callback_info info);
/* Serves a READ JS answered with a cache hit; replies, or returns 0 after marking `r` for JS's usual read. */
int cache_read_serve(struct mount_context *ctx, struct request *r, const char *tail);
/* Calls JS with the tokens of the hits served since the last call (on the JS thread). */
void cache_deliver_settled(napi_env env, napi_value js_dispatch, struct mount_context *ctx, size_t argc);
void cache_hit_free(struct cache_hit *hit);
/* Queues `tokens` for JS's OP_CACHE_SETTLED (cache_read.c); cache_settle counts a hit of `bytes` too. */
void cache_queue_tokens(struct mount_context *ctx, const double *tokens, size_t token_count);
void cache_settle(struct mount_context *ctx, const double *tokens, size_t token_count, size_t bytes);
/* Queues `tokens` (a hit of `hit_bytes` when not 0) without calling JS: they reach it with the next call that does. */
void cache_queue_quietly(struct mount_context *ctx, const double *tokens, size_t token_count, size_t hit_bytes);
/* This worker thread's buffer of at least `bytes`, or NULL. */
char *scratch_of_at_least(size_t bytes);
/* Up to `length` bytes at `position`, fewer only at the end of the file; -1 on an error. */
ssize_t pread_fully(int fd, char *into, size_t length, off_t position);
/* Reads and checks one range's pieces into `into`; 0, or the failure's kind (CACHE_READ_ERROR, ...). */
int read_checked(const struct cache_range *range, char *into);
/* Counts a hit the engine could not serve from the cache (it went to JS instead). */
void cache_count_fallback(struct mount_context *ctx);
/* Fills `range` from RANGE_NUMBERS of JS's numbers, its length at most `max_length` (piece_crcs left NULL); NULL, or what is wrong. */
const char *cache_range_from(const double *numbers, double max_length, struct cache_range *range);

/* whole blocks (whole_block.c) */
/* The range index of a READ_AFTER_CACHE_FAILURE that names the handle's whole block, not a range JS gave. */
#define WHOLE_BLOCK_RANGE_INDEX 0xffff
/* After JS answered an OPEN naming a block file: opens and checks it, and holds it for the handle `r->open_fh`. */
void whole_block_hold(struct mount_context *ctx, const struct request *r);
/* Serves a READ of handle `fh` from its whole block: 1 when replied, 0 when it holds none, or minus the failure's kind. */
int whole_block_serve(struct mount_context *ctx, fuse_req_t req, uint64_t fh, size_t size, off_t offset);
/* The handle's open never reached the kernel, or it failed: its block file is closed. */
void whole_block_drop(struct mount_context *ctx, uint64_t fh);
/* A RELEASE of a handle holding a whole block: closed, and JS told without a wait (1); 0 when it holds none. */
int whole_block_release(struct mount_context *ctx, uint64_t fh);
/* Closes every block file still held (the context is freed). */
void whole_blocks_free_all(struct mount_context *ctx);

/* staged writes (staged_write.c) */
extern struct request staged_written_marker;
/* Holds `fd` (the engine's own descriptor of the staging file) for handle `fh`: its writes up to `writable_end` are served here. */
void staged_write_hold(struct mount_context *ctx, uint64_t fh, int fd, off_t writable_end);
/* Serves a WRITE of handle `fh` into its staging file: 1 when replied, 0 when JS must serve it. */
int staged_write_serve(struct mount_context *ctx, fuse_req_t req, uint64_t fh, const char *data, size_t size, off_t offset);
void staged_write_set_end(struct mount_context *ctx, uint64_t fh, off_t writable_end);
/* The handle is released (or its create never reached the kernel): its descriptor is closed. */
void staged_write_drop(struct mount_context *ctx, uint64_t fh);
/* Closes every descriptor still held and frees the reports (the context is freed). */
void staged_writes_free_all(struct mount_context *ctx);
/* Calls JS with the reports of the writes served since the last call (on the JS thread). */
void staged_write_deliver(napi_env env, napi_value js_dispatch, struct mount_context *ctx, size_t argc);
/* blocks lent ahead of a handle's reads (lent_ranges.c) */
/* The range index of a READ_AFTER_CACHE_FAILURE that names a lent block, not a range of the READ's answer. */
#define LENT_RANGE_INDEX 0xfffe
/* lendRanges(ctx, fh, ranges, crcs): keeps descriptors of its own of the blocks JS lends handle `fh`; how many it took. */
napi_value lent_lend_ranges(napi_env env, napi_callback_info info);
/* Serves a READ the handle's lent blocks cover: 1 when replied, 0 when they do not cover it, or minus the failure's kind. */
int lent_serve(struct mount_context *ctx, fuse_req_t req, uint64_t fh, size_t size, off_t offset);
/* The handle was released: its lent blocks are closed. */
void lent_drop(struct mount_context *ctx, uint64_t fh);
/* Closes every lent block still held (the context is freed). */
void lent_free_all(struct mount_context *ctx);
/* open offers (whole_block.c) */
/* One offer: the block file holding the whole object of `ino`, its key and length, good for `valid_s` more. */
struct offer_fields {
  fuse_ino_t ino;
  const char *path;
  const char *key;
  size_t key_bytes;
  size_t data_bytes;
  double valid_s;
  int keep_cache;
};
/* Keeps `offer` (a copy), replacing the one `ino` had; 0 when out of memory. */
int open_offer_add(struct mount_context *ctx, const struct offer_fields *offer);
/* Forgets every offer: JS saw something change (or is about to), and its next opens decide afresh. */
void open_offers_drop_all(struct mount_context *ctx);
/* Opens `ino` for reading from its offered block file and replies; 0 when there is none to use (JS opens it). */
int whole_block_open_offered(struct mount_context *ctx, fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* Whether the engine opened handle `fh` itself; if so, `*core_fh` is JS's handle of the same file, 0 while it has none. */
int whole_block_engine_handle(struct mount_context *ctx, uint64_t fh, uint64_t *core_fh);
/* Gives the engine's handle `fh` JS's handle `core_fh` (its reads go to JS from now on); 0 when it has one already. */
int whole_block_set_core_handle(struct mount_context *ctx, uint64_t fh, uint64_t core_fh);

#endif
