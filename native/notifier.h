/*
 * Kernel cache invalidation for one mount, on one thread of its own with a queue.
 * `fuse_lowlevel_notify_inval_*` may wait in the kernel for a page that a read in flight holds,
 * and that read needs the JS thread to answer: so notifications never run on the JS thread nor
 * on a libfuse worker. One thread serves them in order; posting only appends to the queue.
 */
#ifndef BUCKETFS_NOTIFIER_H
#define BUCKETFS_NOTIFIER_H

#include "mount_context.h"

struct notifier;

struct notifier_stats {
  uint64_t pending; /* queued or running */
  uint64_t done;
  uint64_t dropped; /* could not be queued: out of memory */
};

/* Starts the thread; NULL when it cannot (out of memory, no thread): the mount must fail then. */
struct notifier *notifier_start(struct fuse_session *session);
/* Queues an invalidation of `ino`'s pages and attributes (`name` NULL) or of the entry `name` in
 * `ino`. Returns 0 when it was not queued: stopped, or out of memory (then counted as dropped). */
int notifier_post(struct notifier *n, fuse_ino_t ino, const char *name, size_t name_length);
/* Runs what is queued, then ends and joins the thread. Call before the session is destroyed. */
void notifier_stop(struct notifier *n);
void notifier_read_stats(struct notifier *n, struct notifier_stats *out);
/* Frees a stopped notifier. */
void notifier_free(struct notifier *n);

#endif
