/*
 * Writing one block file of the disk cache as one job on Node's thread pool: the piece CRCs and the header
 * (the format of src/fs/disk-cache/block-file.ts) built there, open a temporary name (making the shard's
 * folder when that open finds it missing), one vectored write of header and data, close, rename into place;
 * the temporary file is removed on failure. The same steps as the JS writer (src/fs/disk-cache/block-writer.ts)
 * in one hop instead of one hop per call, and the CRCs off the JS thread: each hop costs the JS thread a
 * wake-up of a pool thread and a callback, more than the call itself.
 *
 * writeBlockFile(folder, temp, final, key, buffers) -> Promise<number>: the file's bytes, or -errno on failure.
 * `key` is the block's key as the header holds it (UTF-8). The buffers stay referenced (and so alive and
 * unmoved) until the job is done.
 *
 * writeBlockFiles(texts, buffers) -> Promise<Float64Array>: several blocks of one buffer each, written in turn by
 * one job, one outcome each (as writeBlockFile's). `texts` holds "temp\0final\0key\0" per block; a block's folder
 * is its final path's. One hop for many blocks: the pool thread's wake-up, the completion and its promise are
 * paid once per batch of fills, not once per fill. writeCalls() counts the jobs queued (either call).
 *
 * A large block in page-aligned buffers is written past the page cache (DIRECT_MIN_BYTES); alignmentGap(buffer)
 * tells JS where a buffer's first page boundary is, directWrites() how many blocks went that way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "block_format.h"
#include "crc.h"

#define FOLDER_MODE 0755
#define FILE_MODE 0644
/*
 * A block at least this large, whose buffers sit on page boundaries, is written with O_DIRECT: no copy into
 * the page cache (the costliest step of writing it), and no second cached copy of bytes the kernel already
 * caches for the mount's file. A smaller one costs less through the page cache than waiting for the disk.
 */
#define DIRECT_MIN_BYTES (512u * 1024u)
#define DIRECT_ALIGNMENT_BYTES 4096u

/* Blocks this process wrote with O_DIRECT (directWrites()). */
static atomic_uint_fast64_t direct_writes;

struct fill_job {
  char *folder;
  char *temp;
  char *final_path;
  char *key;
  size_t key_bytes;
  /* iov[0] is the header, built by the job; the data follows. */
  struct iovec *iov;
  size_t iov_count;
  int64_t result;
};

/* One job on the pool: one block (writeBlockFile) or several written in turn (writeBlockFiles). */
struct fill_batch {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref buffers;
  /* Whether the promise settles with one number (writeBlockFile) or an array of them. */
  int many;
  size_t count;
  struct fill_job *jobs;
};

/* Jobs queued by either call (writeCalls()). */
static atomic_uint_fast64_t write_calls;

static int make_folder(const char *path) {
  return mkdir(path, FOLDER_MODE) == 0 || errno == EEXIST ? 0 : -1;
}

static void put32(unsigned char *at, uint32_t value) {
  at[0] = (unsigned char)value;
  at[1] = (unsigned char)(value >> 8);
  at[2] = (unsigned char)(value >> 16);
  at[3] = (unsigned char)(value >> 24);
}

/* The header of the data in iov[1..]: its piece CRCs (pieces may span buffers), the key, its own CRC. */
static int build_header(struct fill_job *job) {
  size_t data_bytes = 0;
  for (size_t i = 1; i < job->iov_count; i++) data_bytes += job->iov[i].iov_len;
  if (data_bytes > UINT32_MAX) return -EFBIG;
  size_t piece_count = (data_bytes + PIECE_BYTES - 1) / PIECE_BYTES;
  size_t used = FIXED_HEADER_BYTES + job->key_bytes + 4 * piece_count;
  size_t data_offset = (used + DATA_ALIGNMENT_BYTES - 1) / DATA_ALIGNMENT_BYTES * DATA_ALIGNMENT_BYTES;
  unsigned char *header = NULL;
  if (posix_memalign((void **)&header, DIRECT_ALIGNMENT_BYTES, data_offset) != 0) return -ENOMEM;
  memset(header, 0, data_offset);
  memcpy(header, BLOCK_MAGIC, 8);
  put32(header + 8, BLOCK_FORMAT_VERSION);
  put32(header + 12, (uint32_t)data_offset);
  put32(header + 16, (uint32_t)data_bytes);
  put32(header + 20, PIECE_BYTES);
  put32(header + 24, (uint32_t)piece_count);
  put32(header + 28, (uint32_t)job->key_bytes);
  memcpy(header + FIXED_HEADER_BYTES, job->key, job->key_bytes);
  unsigned char *crcs = header + FIXED_HEADER_BYTES + job->key_bytes;
  size_t piece = 0, filled = 0;
  uint32_t crc = 0;
  for (size_t i = 1; i < job->iov_count; i++) {
    const unsigned char *bytes = job->iov[i].iov_base;
    for (size_t at = 0, length = job->iov[i].iov_len; at < length;) {
      size_t take = PIECE_BYTES - filled < length - at ? PIECE_BYTES - filled : length - at;
      crc = crc32_of(crc, bytes + at, take);
      at += take;
      filled += take;
      if (filled == PIECE_BYTES) {
        put32(crcs + 4 * piece++, crc);
        crc = 0;
        filled = 0;
      }
    }
  }
  if (filled > 0) put32(crcs + 4 * piece, crc);
  put32(header + HEADER_CRC_OFFSET, crc32_of(crc32_of(0, header, HEADER_CRC_OFFSET), header + FIXED_HEADER_BYTES, used - FIXED_HEADER_BYTES));
  job->iov[0].iov_base = header;
  job->iov[0].iov_len = data_offset;
  return 0;
}

static int write_all(int fd, struct iovec *iov, size_t count, off_t at) {
  size_t first = 0;
  while (first < count) {
    int batch = count - first > IOV_MAX ? IOV_MAX : (int)(count - first);
    ssize_t wrote = pwritev(fd, iov + first, batch, at);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    /* A regular file's write is short only when the disk is full or failing. */
    if (wrote == 0) {
      errno = ENOSPC;
      return -1;
    }
    at += wrote;
    for (size_t left = (size_t)wrote; left > 0 && first < count;) {
      if (left >= iov[first].iov_len) {
        left -= iov[first].iov_len;
        first++;
      } else {
        iov[first].iov_base = (char *)iov[first].iov_base + left;
        iov[first].iov_len -= left;
        left = 0;
      }
    }
    while (first < count && iov[first].iov_len == 0) first++;
  }
  return 0;
}

/* Whether the data may go past the page cache: large enough, and every buffer page-aligned (the last may be short). */
static int direct_eligible(const struct fill_job *job) {
  size_t data_bytes = 0;
  for (size_t i = 1; i < job->iov_count; i++) {
    if ((uintptr_t)job->iov[i].iov_base % DIRECT_ALIGNMENT_BYTES != 0) return 0;
    if (i + 1 < job->iov_count && job->iov[i].iov_len % DIRECT_ALIGNMENT_BYTES != 0) return 0;
    data_bytes += job->iov[i].iov_len;
  }
  return data_bytes >= DIRECT_MIN_BYTES;
}

static int open_temp(const char *path, int direct) {
  return open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | (direct ? O_DIRECT : 0), FILE_MODE);
}

/*
 * Header and data, at offset 0. With O_DIRECT on `fd`, whole pages go direct and a short last page through the
 * page cache; a file system that takes the open but refuses the write (EINVAL) gets it all through the cache.
 */
static int write_file(int fd, struct iovec *iov, size_t count, int direct) {
  if (direct) {
    struct iovec *whole = malloc(count * sizeof *whole);
    if (whole == NULL) return -1;
    memcpy(whole, iov, count * sizeof *whole);
    size_t tail = whole[count - 1].iov_len % DIRECT_ALIGNMENT_BYTES;
    whole[count - 1].iov_len -= tail;
    off_t direct_bytes = 0;
    for (size_t i = 0; i < count; i++) direct_bytes += (off_t)whole[i].iov_len;
    int failed = write_all(fd, whole, count, 0);
    free(whole);
    if (failed != 0 && errno != EINVAL) return -1;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_DIRECT) != 0) return -1;
    if (failed == 0) {
      if (tail == 0) return 0;
      struct iovec rest = {(char *)iov[count - 1].iov_base + iov[count - 1].iov_len - tail, tail};
      return write_all(fd, &rest, 1, direct_bytes);
    }
  }
  return write_all(fd, iov, count, 0);
}

static void write_one(struct fill_job *job) {
  int built = build_header(job);
  if (built != 0) {
    job->result = built;
    return;
  }
  int direct = direct_eligible(job);
  int fd = open_temp(job->temp, direct);
  if (fd < 0 && errno == ENOENT) {
    if (make_folder(job->folder) != 0) {
      job->result = -errno;
      return;
    }
    fd = open_temp(job->temp, direct);
  }
  /* tmpfs, for one, refuses O_DIRECT at the open. */
  if (fd < 0 && errno == EINVAL && direct) {
    direct = 0;
    fd = open_temp(job->temp, 0);
  }
  if (fd < 0) {
    job->result = -errno;
    return;
  }
  int64_t file_bytes = 0;
  for (size_t i = 0; i < job->iov_count; i++) file_bytes += (int64_t)job->iov[i].iov_len;
  /* write_all moves the iovecs: the header's memory is freed from its own pointer. */
  void *header = job->iov[0].iov_base;
  int failed = write_file(fd, job->iov, job->iov_count, direct) != 0 ? errno : 0;
  job->iov[0].iov_base = header;
  if (close(fd) != 0 && failed == 0) failed = errno;
  if (failed == 0 && rename(job->temp, job->final_path) != 0) failed = errno;
  if (failed == 0 && direct) atomic_fetch_add(&direct_writes, 1);
  if (failed != 0) {
    unlink(job->temp);
    job->result = -failed;
    return;
  }
  job->result = file_bytes;
}

static void execute(napi_env env, void *data) {
  struct fill_batch *batch = data;
  for (size_t i = 0; i < batch->count; i++) write_one(&batch->jobs[i]);
}

static void free_job_fields(struct fill_job *job) {
  free(job->folder);
  free(job->temp);
  free(job->final_path);
  free(job->key);
  if (job->iov != NULL) free(job->iov[0].iov_base);
  free(job->iov);
}

static void free_batch(napi_env env, struct fill_batch *batch) {
  if (batch->buffers != NULL) napi_delete_reference(env, batch->buffers);
  if (batch->work != NULL) napi_delete_async_work(env, batch->work);
  for (size_t i = 0; batch->jobs != NULL && i < batch->count; i++) free_job_fields(&batch->jobs[i]);
  free(batch->jobs);
  free(batch);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct fill_batch *batch = data;
  napi_value result;
  if (!batch->many) {
    napi_create_int64(env, status == napi_ok ? batch->jobs[0].result : -ECANCELED, &result);
  } else {
    napi_value array_buffer;
    void *bytes = NULL;
    if (napi_create_arraybuffer(env, batch->count * sizeof(double), &bytes, &array_buffer) != napi_ok ||
        napi_create_typedarray(env, napi_float64_array, batch->count, array_buffer, 0, &result) != napi_ok) {
      napi_get_undefined(env, &result);
    } else {
      double *outcomes = bytes;
      for (size_t i = 0; i < batch->count; i++) outcomes[i] = status == napi_ok ? (double)batch->jobs[i].result : -ECANCELED;
    }
  }
  napi_resolve_deferred(env, batch->deferred, result);
  free_batch(env, batch);
}

/* Queues `batch` (its jobs filled, `buffers` the JS value holding their memory); NULL and nothing thrown on success. */
static napi_value queue_batch(napi_env env, struct fill_batch *batch, napi_value buffers, const char *what) {
  napi_value promise, name;
  if (napi_create_reference(env, buffers, 1, &batch->buffers) != napi_ok || napi_create_promise(env, &batch->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, batch, &batch->work) != napi_ok || napi_queue_async_work(env, batch->work) != napi_ok) {
    /* A promise made but never settled would leave its caller waiting: only fail before it exists. */
    free_batch(env, batch);
    napi_throw_error(env, NULL, "could not queue the write");
    return NULL;
  }
  atomic_fetch_add(&write_calls, 1);
  return promise;
}

static char *string_arg(napi_env env, napi_value value, size_t max_bytes, size_t *bytes) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok || length == 0 || length >= max_bytes) return NULL;
  char *text = malloc(length + 1);
  if (text != NULL && napi_get_value_string_utf8(env, value, text, length + 1, &length) != napi_ok) {
    free(text);
    return NULL;
  }
  if (bytes != NULL) *bytes = length;
  return text;
}

/* A Buffer's memory as an iovec; false when `value` is no Buffer. */
static bool buffer_arg(napi_env env, napi_value value, struct iovec *into) {
  bool is_buffer = false;
  void *bytes = NULL;
  size_t length = 0;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, value, &bytes, &length) != napi_ok) return false;
  into->iov_base = bytes;
  into->iov_len = length;
  return true;
}

static napi_value write_block_file(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) {
    napi_throw_type_error(env, NULL, "writeBlockFile(folder, temp, final, key, buffers)");
    return NULL;
  }
  struct fill_batch *batch = calloc(1, sizeof *batch);
  struct fill_job *job = calloc(1, sizeof *job);
  if (batch == NULL || job == NULL) {
    free(batch);
    free(job);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  batch->jobs = job;
  batch->count = 1;
  job->folder = string_arg(env, argv[0], PATH_MAX, NULL);
  job->temp = string_arg(env, argv[1], PATH_MAX, NULL);
  job->final_path = string_arg(env, argv[2], PATH_MAX, NULL);
  job->key = string_arg(env, argv[3], MAX_KEY_BYTES + 1, &job->key_bytes);
  uint32_t count = 0;
  bool is_array = false;
  napi_is_array(env, argv[4], &is_array);
  if (job->folder == NULL || job->temp == NULL || job->final_path == NULL || job->key == NULL || !is_array ||
      napi_get_array_length(env, argv[4], &count) != napi_ok) {
    free_batch(env, batch);
    napi_throw_type_error(env, NULL, "writeBlockFile: expected three paths, a key of at most 16 KiB and an array of buffers");
    return NULL;
  }
  job->iov = calloc(count + 1, sizeof *job->iov);
  job->iov_count = count + 1;
  for (uint32_t i = 0; job->iov != NULL && i < count; i++) {
    napi_value element;
    if (napi_get_element(env, argv[4], i, &element) != napi_ok || !buffer_arg(env, element, &job->iov[i + 1])) {
      free_batch(env, batch);
      napi_throw_type_error(env, NULL, "writeBlockFile: expected an array of buffers");
      return NULL;
    }
  }
  if (job->iov == NULL) {
    free_batch(env, batch);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  return queue_batch(env, batch, argv[4], "bucketfs:writeBlockFile");
}

/* The next '\0'-ended field of `*at` (up to `end`) as its own string, or NULL when it is empty, too long or unended. */
static char *next_field(const char **at, const char *end, size_t max_bytes, size_t *bytes) {
  const char *stop = memchr(*at, '\0', (size_t)(end - *at));
  if (stop == NULL || stop == *at || (size_t)(stop - *at) >= max_bytes) return NULL;
  size_t length = (size_t)(stop - *at);
  char *text = malloc(length + 1);
  if (text == NULL) return NULL;
  memcpy(text, *at, length);
  text[length] = '\0';
  *at = stop + 1;
  if (bytes != NULL) *bytes = length;
  return text;
}

/* The folder of `path`: everything before its last '/'. */
static char *folder_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL || slash == path) return NULL;
  return strndup(path, (size_t)(slash - path));
}

static napi_value write_block_files(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t count = 0;
  bool is_array = false;
  size_t text_bytes = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[1], &count) != napi_ok || count == 0 ||
      napi_get_value_string_utf8(env, argv[0], NULL, 0, &text_bytes) != napi_ok) {
    napi_throw_type_error(env, NULL, "writeBlockFiles(texts, buffers): expected a string and a non-empty array of buffers");
    return NULL;
  }
  struct fill_batch *batch = calloc(1, sizeof *batch);
  char *texts = malloc(text_bytes + 1);
  if (batch == NULL || texts == NULL || (batch->jobs = calloc(count, sizeof *batch->jobs)) == NULL) {
    free(texts);
    if (batch != NULL) free_batch(env, batch);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  batch->many = 1;
  batch->count = count;
  napi_get_value_string_utf8(env, argv[0], texts, text_bytes + 1, &text_bytes);
  const char *at = texts, *end = texts + text_bytes;
  const char *failure = NULL;
  for (uint32_t i = 0; failure == NULL && i < count; i++) {
    struct fill_job *job = &batch->jobs[i];
    napi_value element;
    job->temp = next_field(&at, end, PATH_MAX, NULL);
    job->final_path = next_field(&at, end, PATH_MAX, NULL);
    job->key = next_field(&at, end, MAX_KEY_BYTES + 1, &job->key_bytes);
    job->folder = job->final_path == NULL ? NULL : folder_of(job->final_path);
    job->iov = calloc(2, sizeof *job->iov);
    job->iov_count = 2;
    if (job->temp == NULL || job->final_path == NULL || job->key == NULL || job->folder == NULL || job->iov == NULL) {
      failure = "writeBlockFiles: expected a temporary path, a final path and a key of at most 16 KiB per buffer";
    } else if (napi_get_element(env, argv[1], i, &element) != napi_ok || !buffer_arg(env, element, &job->iov[1])) {
      failure = "writeBlockFiles: expected an array of buffers";
    }
  }
  free(texts);
  if (failure != NULL) {
    free_batch(env, batch);
    napi_throw_type_error(env, NULL, failure);
    return NULL;
  }
  return queue_batch(env, batch, argv[1], "bucketfs:writeBlockFiles");
}

/* writeCalls() -> number: jobs queued by writeBlockFile and writeBlockFiles since the process started. */
static napi_value write_calls_count(napi_env env, napi_callback_info info) {
  napi_value result;
  napi_create_double(env, (double)atomic_load(&write_calls), &result);
  return result;
}

/* alignmentGap(buffer) -> number: bytes from the buffer's start to the next page boundary (0 when on one). */
static napi_value alignment_gap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  void *bytes = NULL;
  size_t length = 0;
  bool is_buffer = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[0], &bytes, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "alignmentGap(buffer)");
    return NULL;
  }
  uintptr_t past = (uintptr_t)bytes % DIRECT_ALIGNMENT_BYTES;
  napi_create_uint32(env, past == 0 ? 0 : (uint32_t)(DIRECT_ALIGNMENT_BYTES - past), &result);
  return result;
}

static napi_value direct_writes_count(napi_env env, napi_callback_info info) {
  napi_value result;
  napi_create_double(env, (double)atomic_load(&direct_writes), &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value write_fn, batch_fn, calls_fn, gap_fn, direct_fn;
  if (napi_create_function(env, "writeBlockFile", NAPI_AUTO_LENGTH, write_block_file, NULL, &write_fn) != napi_ok ||
      napi_set_named_property(env, exports, "writeBlockFile", write_fn) != napi_ok ||
      napi_create_function(env, "writeBlockFiles", NAPI_AUTO_LENGTH, write_block_files, NULL, &batch_fn) != napi_ok ||
      napi_set_named_property(env, exports, "writeBlockFiles", batch_fn) != napi_ok ||
      napi_create_function(env, "writeCalls", NAPI_AUTO_LENGTH, write_calls_count, NULL, &calls_fn) != napi_ok ||
      napi_set_named_property(env, exports, "writeCalls", calls_fn) != napi_ok ||
      napi_create_function(env, "alignmentGap", NAPI_AUTO_LENGTH, alignment_gap, NULL, &gap_fn) != napi_ok ||
      napi_set_named_property(env, exports, "alignmentGap", gap_fn) != napi_ok ||
      napi_create_function(env, "directWrites", NAPI_AUTO_LENGTH, direct_writes_count, NULL, &direct_fn) != napi_ok ||
      napi_set_named_property(env, exports, "directWrites", direct_fn) != napi_ok) {
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
