/*
 * Writes of a new file served without JS. When JS answers a CREATE whose handle writes into a staging file, it
 * hands over that file's descriptor (duplicated here) and how far the engine may write into it: the end of the
 * staging area's room JS set aside for the file. Each WRITE of that handle that ends within it is pwrite()n here,
 * on the worker thread, and replied to at once. JS hears of it after, in batches of (handle, offset, bytes,
 * errno, seconds) that travel through the same queue as the requests: every report is queued before the write's
 * reply, so it reaches JS before any request the kernel sends after that reply (flush, fsync, release, setattr,
 * getattr, read). JS applies a report as it applies a write it served (size, dirty, the append stream, which
 * reads the bytes back from the staging file).
 *
 * What the engine does not decide: a write past the room JS set aside, or of a handle it holds no file for, goes
 * to JS as before (JS then sets aside more room). A write into bytes the append stream already sent is written
 * here too; its report tells JS, which gives the stream up and uploads the whole file, as for a write it served.
 * A failed pwrite is replied with its errno, and reported with it, so that the handle's next flush or fsync
 * reports it as well.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "mount_context.h"

struct staged_write {
  struct staged_write *next; /* in its bucket of mount_context.staged_writes */
  uint64_t fh;
  int fd;
  atomic_int refs;    /* the table's, and one per write being served */
  off_t writable_end; /* a write ending past this goes to JS; guarded by mount_context.lock */
};

/* Five numbers per report: the handle, the offset, the bytes written, the errno (0: none), the seconds taken. */
#define REPORT_FIELDS 5

struct request staged_written_marker = {.op = OP_WRITES_REPORTED};

static size_t bucket_of(uint64_t fh) {
  return (size_t)(fh % STAGED_WRITE_BUCKETS);
}

static void unref(struct staged_write *staged) {
  if (atomic_fetch_sub(&staged->refs, 1) != 1) return;
  close(staged->fd);
  free(staged);
}

/* Takes the handle's entry out of the table (the table's reference passes to the caller); lock held. */
static struct staged_write *take_locked(struct mount_context *ctx, uint64_t fh) {
  for (struct staged_write **at = &ctx->staged_writes[bucket_of(fh)]; *at != NULL; at = &(*at)->next) {
    if ((*at)->fh != fh) continue;
    struct staged_write *staged = *at;
    *at = staged->next;
    return staged;
  }
  return NULL;
}

static struct staged_write *find_locked(struct mount_context *ctx, uint64_t fh) {
  struct staged_write *staged = ctx->staged_writes[bucket_of(fh)];
  while (staged != NULL && staged->fh != fh) staged = staged->next;
  return staged;
}

void staged_write_hold(struct mount_context *ctx, uint64_t fh, int fd, off_t writable_end) {
  struct staged_write *staged = malloc(sizeof *staged);
  if (staged == NULL) {
    close(fd); /* its writes go to JS, as without a file */
    return;
  }
  staged->fh = fh;
  staged->fd = fd;
  atomic_init(&staged->refs, 1);
  staged->writable_end = writable_end;
  pthread_mutex_lock(&ctx->lock);
  struct staged_write *replaced = take_locked(ctx, fh);
  struct staged_write **head = &ctx->staged_writes[bucket_of(fh)];
  staged->next = *head;
  *head = staged;
  pthread_mutex_unlock(&ctx->lock);
  if (replaced != NULL) unref(replaced);
}

void staged_write_drop(struct mount_context *ctx, uint64_t fh) {
  pthread_mutex_lock(&ctx->lock);
  struct staged_write *staged = take_locked(ctx, fh);
  pthread_mutex_unlock(&ctx->lock);
  if (staged != NULL) unref(staged);
}

void staged_writes_free_all(struct mount_context *ctx) {
  for (size_t i = 0; i < STAGED_WRITE_BUCKETS; i++) {
    while (ctx->staged_writes[i] != NULL) {
      struct staged_write *staged = ctx->staged_writes[i];
      ctx->staged_writes[i] = staged->next;
      unref(staged);
    }
  }
  free(ctx->staged_reports.values);
  ctx->staged_reports.values = NULL;
}

/* Sets room aside for one report, so that a write served here is never one JS cannot hear of; 0 when there is none. Lock held. */
static int take_report_room_locked(struct mount_context *ctx) {
  struct staged_reports *reports = &ctx->staged_reports;
  size_t needed = reports->count + (reports->promised + 1) * REPORT_FIELDS;
  if (needed > reports->capacity) {
    size_t capacity = reports->capacity > 0 ? reports->capacity * 2 : 64 * REPORT_FIELDS;
    if (capacity < needed) capacity = needed;
    double *grown = realloc(reports->values, capacity * sizeof *grown);
    if (grown != NULL) {
      reports->values = grown;
      reports->capacity = capacity;
    }
  }
  int room = needed <= reports->capacity;
  if (room) reports->promised++;
  return room;
}

/*
 * Queues one report into the room taken for it; the marker goes on the dispatch queue unless one is there already.
 * The marker is queued under the lock: a worker that finds it marked queued must be able to reply at once, knowing
 * every request the kernel sends after that reply reaches JS behind the marker. 0 when the queue is closing.
 */
static int queue_report(struct mount_context *ctx, const double *report) {
  int queued = 1;
  pthread_mutex_lock(&ctx->lock);
  struct staged_reports *reports = &ctx->staged_reports;
  reports->promised--;
  memcpy(reports->values + reports->count, report, REPORT_FIELDS * sizeof *report);
  reports->count += REPORT_FIELDS;
  reports->served++;
  reports->bytes += (uint64_t)report[2];
  if (!reports->queued) {
    queued = napi_call_threadsafe_function(ctx->dispatch, &staged_written_marker, napi_tsfn_nonblocking) == napi_ok;
    reports->queued = queued;
  }
  pthread_mutex_unlock(&ctx->lock);
  return queued;
}

/* Up to `length` bytes written at `position`; fewer only when pwrite failed (its errno in `*err`). */
static size_t pwrite_fully(int fd, const char *data, size_t length, off_t position, int *err) {
  size_t done = 0;
  *err = 0;
  while (done < length) {
    ssize_t n = pwrite(fd, data + done, length - done, position + (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *err = n < 0 ? errno : EIO;
      break;
    }
    done += (size_t)n;
  }
  return done;
}

static double seconds_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int staged_write_serve(struct mount_context *ctx, fuse_req_t req, uint64_t fh, const char *data, size_t size, off_t offset) {
  pthread_mutex_lock(&ctx->lock);
  /* A stopping mount answers every request ENODEV, this one too (through the usual path). */
  struct staged_write *staged = ctx->stopping ? NULL : find_locked(ctx, fh);
  /* A write past the room set aside is JS's to serve. */
  if (staged != NULL && (offset < 0 || offset + (off_t)size > staged->writable_end || !take_report_room_locked(ctx))) staged = NULL;
  if (staged != NULL) atomic_fetch_add(&staged->refs, 1);
  pthread_mutex_unlock(&ctx->lock);
  if (staged == NULL) return 0;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  int err;
  size_t written = pwrite_fully(staged->fd, data, size, offset, &err);
  unref(staged);
  const double report[REPORT_FIELDS] = {(double)fh, (double)offset, (double)written, (double)err, seconds_since(&start)};
  /* Before the reply: whatever the kernel sends after it reaches JS after the report. A write JS cannot hear of is not acknowledged. */
  if (!queue_report(ctx, report)) fuse_reply_err(req, EIO);
  else if (written == size || written > 0) fuse_reply_write(req, written);
  else fuse_reply_err(req, err);
  return 1;
}

void staged_write_set_end(struct mount_context *ctx, uint64_t fh, off_t writable_end) {
  pthread_mutex_lock(&ctx->lock);
  struct staged_write *staged = find_locked(ctx, fh);
  if (staged != NULL) staged->writable_end = writable_end;
  pthread_mutex_unlock(&ctx->lock);
}

void staged_write_deliver(napi_env env, napi_value js_dispatch, struct mount_context *ctx, size_t argc) {
  napi_value args[16], undefined, reports_buffer = NULL;
  if (argc > 16) argc = 16;
  /* Copied under the lock into JS's buffer: the array stays, with the room promised to writes under way. */
  pthread_mutex_lock(&ctx->lock);
  struct staged_reports *reports = &ctx->staged_reports;
  if (env != NULL && reports->count > 0 && napi_create_buffer_copy(env, reports->count * sizeof *reports->values, reports->values, NULL, &reports_buffer) != napi_ok) {
    reports_buffer = NULL;
  }
  reports->count = 0;
  reports->queued = 0;
  pthread_mutex_unlock(&ctx->lock);
  if (reports_buffer == NULL || argc <= 8) return;
  napi_get_undefined(env, &undefined);
  for (size_t i = 0; i < argc; i++) args[i] = undefined;
  args[8] = reports_buffer;
  if (napi_create_int32(env, OP_WRITES_REPORTED, &args[0]) == napi_ok && napi_call_function(env, undefined, js_dispatch, argc, args, NULL) != napi_ok) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
  }
}
