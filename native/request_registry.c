/*
 * The requests JS still has to answer. A request is answered exactly once because only the
 * thread that takes it out of this list (under the lock) may fill its answer: a JS reply, or the
 * teardown answering everything still listed. A late JS reply then finds nothing and is ignored.
 */
#include <errno.h>
#include "mount_context.h"

void registry_init(struct mount_context *ctx) {
  ctx->outstanding.prev = &ctx->outstanding;
  ctx->outstanding.next = &ctx->outstanding;
  ctx->next_id = 1;
}

static int registry_insert(struct mount_context *ctx, struct request *r, int fresh_id) {
  pthread_cond_init(&r->answered_cond, NULL);
  r->answered = 0;
  pthread_mutex_lock(&ctx->lock);
  if (ctx->stopping) {
    pthread_mutex_unlock(&ctx->lock);
    pthread_cond_destroy(&r->answered_cond);
    return 0;
  }
  if (fresh_id) r->id = ctx->next_id++;
  r->next = &ctx->outstanding;
  r->prev = ctx->outstanding.prev;
  ctx->outstanding.prev->next = r;
  ctx->outstanding.prev = r;
  ctx->requests_dispatched++;
  pthread_mutex_unlock(&ctx->lock);
  return 1;
}

int registry_add(struct mount_context *ctx, struct request *r) {
  return registry_insert(ctx, r, 1);
}

/* The id was taken out when JS answered it, and JS answers an id once: it can name the request again. */
int registry_add_again(struct mount_context *ctx, struct request *r) {
  return registry_insert(ctx, r, 0);
}

struct request *registry_take_locked(struct mount_context *ctx, uint64_t id) {
  /* Few requests are in flight at once (at most the worker threads): a walk is cheap. */
  for (struct request *r = ctx->outstanding.next; r != &ctx->outstanding; r = r->next) {
    if (r->id != id) continue;
    r->prev->next = r->next;
    r->next->prev = r->prev;
    r->prev = r->next = NULL;
    return r;
  }
  return NULL;
}

void registry_complete_locked(struct request *r) {
  r->answered = 1;
  pthread_cond_signal(&r->answered_cond);
}

void registry_answer_instead_of_js_locked(struct mount_context *ctx, struct request *r, int err) {
  r->err = err;
  /* Not answered_by_js: a read JS received keeps its slot out of use (read_slot_give_back), since the core may still write into it. */
  if (r->seen_by_js && r->slot >= 0) ctx->read_slots_withheld++;
  registry_complete_locked(r);
}

size_t registry_abort_all(struct mount_context *ctx, int err) {
  size_t count = 0;
  pthread_mutex_lock(&ctx->lock);
  while (ctx->outstanding.next != &ctx->outstanding) {
    struct request *r = registry_take_locked(ctx, ctx->outstanding.next->id);
    registry_answer_instead_of_js_locked(ctx, r, err);
    count++;
  }
  ctx->requests_aborted += count;
  pthread_mutex_unlock(&ctx->lock);
  return count;
}

void registry_wait(struct mount_context *ctx, struct request *r) {
  pthread_mutex_lock(&ctx->lock);
  while (!r->answered) pthread_cond_wait(&r->answered_cond, &ctx->lock);
  pthread_mutex_unlock(&ctx->lock);
  pthread_cond_destroy(&r->answered_cond);
}
