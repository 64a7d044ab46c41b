/*
 * One notifier thread per mount and its queue (see notifier.h). The queue grows as needed: a
 * re-listing that finds thousands of names gone queues thousands of small entries, served in
 * order by the one thread, where each used to start a thread of its own.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "notifier.h"

struct notification {
  struct notification *next;
  fuse_ino_t ino;
  int has_name; /* else: the inode's pages and attributes */
  size_t name_length;
  char name[];
};

struct notifier {
  struct fuse_session *session;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  /* guarded by lock */
  struct notification *head, *tail;
  int stopping;
  struct notifier_stats stats;
};

static void run_one(struct fuse_session *session, const struct notification *item) {
  /* The answer is not needed: ENOENT (nothing cached) and ENODEV (unmounted) are both fine. */
  if (item->has_name) fuse_lowlevel_notify_inval_entry(session, item->ino, item->name, item->name_length);
  else fuse_lowlevel_notify_inval_inode(session, item->ino, 0, 0);
}

static void *notifier_main(void *arg) {
  struct notifier *n = arg;
  pthread_mutex_lock(&n->lock);
  for (;;) {
    while (n->head == NULL && !n->stopping) pthread_cond_wait(&n->wake, &n->lock);
    struct notification *item = n->head;
    if (item == NULL) break; /* stopping, and nothing left */
    n->head = item->next;
    if (n->head == NULL) n->tail = NULL;
    pthread_mutex_unlock(&n->lock);
    run_one(n->session, item);
    free(item);
    pthread_mutex_lock(&n->lock);
    n->stats.pending--;
    n->stats.done++;
  }
  pthread_mutex_unlock(&n->lock);
  return NULL;
}

struct notifier *notifier_start(struct fuse_session *session) {
  struct notifier *n = calloc(1, sizeof *n);
  if (n == NULL) return NULL;
  n->session = session;
  if (pthread_mutex_init(&n->lock, NULL) != 0) {
    free(n);
    return NULL;
  }
  if (pthread_cond_init(&n->wake, NULL) != 0) {
    pthread_mutex_destroy(&n->lock);
    free(n);
    return NULL;
  }
  /* Signals belong to the JS thread. */
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  int failed = pthread_create(&n->thread, NULL, notifier_main, n);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  if (failed != 0) {
    pthread_cond_destroy(&n->wake);
    pthread_mutex_destroy(&n->lock);
    free(n);
    return NULL;
  }
  return n;
}

int notifier_post(struct notifier *n, fuse_ino_t ino, const char *name, size_t name_length) {
  struct notification *item = malloc(sizeof *item + (name != NULL ? name_length + 1 : 0));
  pthread_mutex_lock(&n->lock);
  if (n->stopping) {
    pthread_mutex_unlock(&n->lock);
    free(item);
    return 0;
  }
  if (item == NULL) {
    n->stats.dropped++;
    pthread_mutex_unlock(&n->lock);
    return 0;
  }
  item->next = NULL;
  item->ino = ino;
  item->has_name = name != NULL;
  item->name_length = name != NULL ? name_length : 0;
  if (name != NULL) {
    memcpy(item->name, name, name_length);
    item->name[name_length] = '\0';
  }
  if (n->tail != NULL) n->tail->next = item;
  else n->head = item;
  n->tail = item;
  n->stats.pending++;
  pthread_cond_signal(&n->wake);
  pthread_mutex_unlock(&n->lock);
  return 1;
}

void notifier_stop(struct notifier *n) {
  pthread_mutex_lock(&n->lock);
  int already = n->stopping;
  n->stopping = 1;
  pthread_cond_signal(&n->wake);
  pthread_mutex_unlock(&n->lock);
  if (!already) pthread_join(n->thread, NULL);
}

void notifier_read_stats(struct notifier *n, struct notifier_stats *out) {
  pthread_mutex_lock(&n->lock);
  *out = n->stats;
  pthread_mutex_unlock(&n->lock);
}

void notifier_free(struct notifier *n) {
  if (n == NULL) return;
  pthread_cond_destroy(&n->wake);
  pthread_mutex_destroy(&n->lock);
  free(n);
}
