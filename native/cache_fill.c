/*
 * Writing one block file of the disk cache as one job on Node's thread pool: open a temporary name (making the
 * object's folder, and its shard's, when that open finds them missing), one vectored write of header and data,
 * close, rename into place; the temporary file is removed on failure. The same steps as the JS writer
 * (src/fs/disk-cache/block-writer.ts) in one hop instead of one hop per call: each hop costs the JS thread a
 * wake-up of a pool thread and a callback, more than the call itself.
 *
 * writeBlockFile(folder, temp, final, buffers) -> Promise<number>: 1 when the folder was made, 0 when it was
 * there, -errno on failure. The buffers stay referenced (and so alive and unmoved) until the job is done.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define FOLDER_MODE 0755
#define FILE_MODE 0644

struct fill_job {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref buffers;
  char *folder;
  char *temp;
  char *final_path;
  struct iovec *iov;
  size_t iov_count;
  int result;
};

static int make_dir(const char *path) {
  return mkdir(path, FOLDER_MODE) == 0 || errno == EEXIST ? 0 : -1;
}

/* The object's folder, and its shard's when that is missing too; another writer making either first is fine. */
static int make_folder(char *folder) {
  if (make_dir(folder) == 0) return 0;
  if (errno != ENOENT) return -1;
  char *slash = strrchr(folder, '/');
  if (slash == NULL || slash == folder) return -1;
  *slash = '\0';
  int made = make_dir(folder);
  *slash = '/';
  return made == 0 ? make_dir(folder) : -1;
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
  int made = 0;
  int fd = open(job->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
  if (fd < 0 && errno == ENOENT) {
    if (make_folder(job->folder) != 0) {
      job->result = -errno;
      return;
    }
    made = 1;
    fd = open(job->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
  }
  if (fd < 0) {
    job->result = -errno;
    return;
  }
  int failed = write_all(fd, job->iov, job->iov_count) != 0 ? errno : 0;
  if (close(fd) != 0 && failed == 0) failed = errno;
  if (failed == 0 && rename(job->temp, job->final_path) != 0) failed = errno;
  if (failed != 0) {
    unlink(job->temp);
    job->result = -failed;
    return;
  }
  job->result = made;
}

static void free_job(napi_env env, struct fill_job *job) {
  if (job->buffers != NULL) napi_delete_reference(env, job->buffers);
  if (job->work != NULL) napi_delete_async_work(env, job->work);
  free(job->folder);
  free(job->temp);
  free(job->final_path);
  free(job->iov);
  free(job);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct fill_job *job = data;
  napi_value result;
  napi_create_int32(env, status == napi_ok ? job->result : -ECANCELED, &result);
  napi_resolve_deferred(env, job->deferred, result);
  free_job(env, job);
}

static char *string_arg(napi_env env, napi_value value) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok || length == 0 || length >= PATH_MAX) return NULL;
  char *text = malloc(length + 1);
  if (text != NULL && napi_get_value_string_utf8(env, value, text, length + 1, &length) != napi_ok) {
    free(text);
    return NULL;
  }
  return text;
}

static napi_value write_block_file(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) {
    napi_throw_type_error(env, NULL, "writeBlockFile(folder, temp, final, buffers)");
    return NULL;
  }
  struct fill_job *job = calloc(1, sizeof *job);
  if (job == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  job->folder = string_arg(env, argv[0]);
  job->temp = string_arg(env, argv[1]);
  job->final_path = string_arg(env, argv[2]);
  uint32_t count = 0;
  bool is_array = false;
  napi_is_array(env, argv[3], &is_array);
  if (job->folder == NULL || job->temp == NULL || job->final_path == NULL || !is_array || napi_get_array_length(env, argv[3], &count) != napi_ok) {
    free_job(env, job);
    napi_throw_type_error(env, NULL, "writeBlockFile: expected three paths and an array of buffers");
    return NULL;
  }
  job->iov = calloc(count == 0 ? 1 : count, sizeof *job->iov);
  job->iov_count = count;
  for (uint32_t i = 0; job->iov != NULL && i < count; i++) {
    napi_value element;
    void *bytes = NULL;
    size_t length = 0;
    bool is_buffer = false;
    if (napi_get_element(env, argv[3], i, &element) != napi_ok || napi_is_buffer(env, element, &is_buffer) != napi_ok || !is_buffer ||
        napi_get_buffer_info(env, element, &bytes, &length) != napi_ok) {
      free_job(env, job);
      napi_throw_type_error(env, NULL, "writeBlockFile: expected an array of buffers");
      return NULL;
    }
    job->iov[i].iov_base = bytes;
    job->iov[i].iov_len = length;
  }
  napi_value promise, name;
  if (job->iov == NULL || napi_create_reference(env, argv[3], 1, &job->buffers) != napi_ok || napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
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
