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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "crc.h"

#define FOLDER_MODE 0755
#define FILE_MODE 0644
/* The block format's constants (src/fs/disk-cache/block-file.ts, native/whole_block.c). */
#define BLOCK_MAGIC "BKFSBLK1"
#define BLOCK_FORMAT_VERSION 1u
#define FIXED_HEADER_BYTES 36u
#define HEADER_CRC_OFFSET 32u
#define PIECE_BYTES 65536u
#define DATA_ALIGNMENT_BYTES 4096u
#define MAX_KEY_BYTES (16u * 1024u)

struct fill_job {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref buffers;
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
  unsigned char *header = calloc(1, data_offset);
  if (header == NULL) return -ENOMEM;
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

static int write_all(int fd, struct iovec *iov, size_t count) {
  off_t at = 0;
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

static void execute(napi_env env, void *data) {
  struct fill_job *job = data;
  int built = build_header(job);
  if (built != 0) {
    job->result = built;
    return;
  }
  int fd = open(job->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
  if (fd < 0 && errno == ENOENT) {
    if (make_folder(job->folder) != 0) {
      job->result = -errno;
      return;
    }
    fd = open(job->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
  }
  if (fd < 0) {
    job->result = -errno;
    return;
  }
  int64_t file_bytes = 0;
  for (size_t i = 0; i < job->iov_count; i++) file_bytes += (int64_t)job->iov[i].iov_len;
  /* write_all moves the iovecs: the header's memory is freed from its own pointer. */
  void *header = job->iov[0].iov_base;
  int failed = write_all(fd, job->iov, job->iov_count) != 0 ? errno : 0;
  job->iov[0].iov_base = header;
  if (close(fd) != 0 && failed == 0) failed = errno;
  if (failed == 0 && rename(job->temp, job->final_path) != 0) failed = errno;
  if (failed != 0) {
    unlink(job->temp);
    job->result = -failed;
    return;
  }
  job->result = file_bytes;
}

static void free_job(napi_env env, struct fill_job *job) {
  if (job->buffers != NULL) napi_delete_reference(env, job->buffers);
  if (job->work != NULL) napi_delete_async_work(env, job->work);
  free(job->folder);
  free(job->temp);
  free(job->final_path);
  free(job->key);
  if (job->iov != NULL) free(job->iov[0].iov_base);
  free(job->iov);
  free(job);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct fill_job *job = data;
  napi_value result;
  napi_create_int64(env, status == napi_ok ? job->result : -ECANCELED, &result);
  napi_resolve_deferred(env, job->deferred, result);
  free_job(env, job);
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

static napi_value write_block_file(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) {
    napi_throw_type_error(env, NULL, "writeBlockFile(folder, temp, final, key, buffers)");
    return NULL;
  }
  struct fill_job *job = calloc(1, sizeof *job);
  if (job == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  job->folder = string_arg(env, argv[0], PATH_MAX, NULL);
  job->temp = string_arg(env, argv[1], PATH_MAX, NULL);
  job->final_path = string_arg(env, argv[2], PATH_MAX, NULL);
  job->key = string_arg(env, argv[3], MAX_KEY_BYTES + 1, &job->key_bytes);
  uint32_t count = 0;
  bool is_array = false;
  napi_is_array(env, argv[4], &is_array);
  if (job->folder == NULL || job->temp == NULL || job->final_path == NULL || job->key == NULL || !is_array ||
      napi_get_array_length(env, argv[4], &count) != napi_ok) {
    free_job(env, job);
    napi_throw_type_error(env, NULL, "writeBlockFile: expected three paths, a key of at most 16 KiB and an array of buffers");
    return NULL;
  }
  job->iov = calloc(count + 1, sizeof *job->iov);
  job->iov_count = count + 1;
  for (uint32_t i = 0; job->iov != NULL && i < count; i++) {
    napi_value element;
    void *bytes = NULL;
    size_t length = 0;
    bool is_buffer = false;
    if (napi_get_element(env, argv[4], i, &element) != napi_ok || napi_is_buffer(env, element, &is_buffer) != napi_ok || !is_buffer ||
        napi_get_buffer_info(env, element, &bytes, &length) != napi_ok) {
      free_job(env, job);
      napi_throw_type_error(env, NULL, "writeBlockFile: expected an array of buffers");
      return NULL;
    }
    job->iov[i + 1].iov_base = bytes;
    job->iov[i + 1].iov_len = length;
  }
  napi_value promise, name;
  if (job->iov == NULL || napi_create_reference(env, argv[4], 1, &job->buffers) != napi_ok || napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "bucketfs:writeBlockFile", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, job, &job->work) != napi_ok || napi_queue_async_work(env, job->work) != napi_ok) {
    /* A promise made but never settled would leave its caller waiting: only fail before it exists. */
    free_job(env, job);
    napi_throw_error(env, NULL, "writeBlockFile: could not queue the write");
    return NULL;
  }
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "writeBlockFile", NAPI_AUTO_LENGTH, write_block_file, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "writeBlockFile", fn) != napi_ok) {
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
