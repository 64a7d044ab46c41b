/*
 * Two process-level calls Node lacks, kept apart from the FUSE engine (they need no libfuse):
 * execv, so that a mount re-executes itself with the V8 flags it needs while keeping its pid (the pid
 * systemd supervises), and the datagram of sd_notify(3) to $NOTIFY_SOCKET (Node has no unix datagram sockets).
 */
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Throws `what: strerror(err)` with the errno name as its code; returns NULL for the caller to return. */
static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, "ERR_BUCKETFS_PROCESS", message);
  return NULL;
}

/* A malloc'd copy of a JS string, or NULL (with a pending exception) when it is not one. */
static char *copy_string(napi_env env, napi_value value) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a string");
    return NULL;
  }
  char *text = malloc(length + 1);
  if (text == NULL) return NULL;
  napi_get_value_string_utf8(env, value, text, length + 1, &length);
  return text;
}

static void free_strings(char **strings, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) free(strings[i]);
  free(strings);
}

/* execv(file, argv) with stdio inherited: returns only on failure, by throwing. The environment is the process's own. */
static napi_value exec_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  uint32_t count = 0;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 2 || napi_get_array_length(env, args[1], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "execv(file, argv[])");
    return NULL;
  }
  char *file = copy_string(env, args[0]);
  char **argv = calloc(count + 1, sizeof *argv);
  if (file == NULL || argv == NULL) {
    free(file);
    free(argv);
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    if (napi_get_element(env, args[1], i, &element) != napi_ok || (argv[i] = copy_string(env, element)) == NULL) {
      free(file);
      free_strings(argv, count);
      return NULL;
    }
  }
  /* Node marks its own stdin, stdout and stderr close-on-exec at start: the new image must inherit them. */
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  execv(file, argv);
  int err = errno;
  free_strings(argv, count);
  napi_value thrown = throw_errno(env, file, err);
  free(file);
  return thrown;
}

/* notify(socketPath, state): one datagram, as sd_notify sends it; a leading '@' names an abstract socket. */
static napi_value notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "notify(socketPath, state)");
    return NULL;
  }
  char *path = copy_string(env, args[0]);
  char *state = path == NULL ? NULL : copy_string(env, args[1]);
  if (path == NULL || state == NULL) {
    free(path);
    return NULL;
  }
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  size_t path_length = strlen(path);
  napi_value result = NULL;
  if (path_length == 0 || path_length >= sizeof address.sun_path) {
    result = throw_errno(env, "NOTIFY_SOCKET", ENAMETOOLONG);
  } else {
    memcpy(address.sun_path, path, path_length);
    if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
    socklen_t address_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      result = throw_errno(env, "socket", errno);
    } else {
      ssize_t sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&address, address_length);
      int err = errno;
      close(fd);
      if (sent < 0) result = throw_errno(env, path, err);
      else napi_get_boolean(env, true, &result);
    }
  }
  free(path);
  free(state);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"execv", NULL, exec_file, NULL, NULL, NULL, napi_default, NULL},
      {"notify", NULL, notify, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
