/*
 * A FUSE file system whose folders and names cost nothing to produce: every name is printed from its number,
 * with no store, no listing to parse and no table of inodes. `ls` or `find` through it times what the kernel,
 * the FUSE protocol and the command itself take for a walk, the part of a mount's walk no mount can avoid.
 * It answers as the native engine does: READDIRPLUS always (never the adaptive mode), the same entry and
 * attribute timeouts, and libfuse's multi-threaded loop.
 *
 *   null-listing-fs MOUNTPOINT [--plain] flat COUNT                 COUNT files in the root
 *   null-listing-fs MOUNTPOINT [--plain] tree FOLDERS PER_FOLDER    FOLDERS folders of PER_FOLDER files each
 *
 * `--plain` turns READDIRPLUS off: the kernel then gets names and types without attributes, and makes no
 * inode for a name until something looks it up.
 *
 * Names are the bench's own: `f-00042.bin` and `d-007/f-042.bin`, zero-padded to the widest number. Runs in
 * the foreground until unmounted.
 */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ROOT_INO 1
#define TIMEOUT_S 60.0

static unsigned long folders;    /* 0: the files are in the root */
static unsigned long per_folder; /* files in each folder (the root when flat) */
static int folder_digits;
static int file_digits;
static int plain; /* --plain: READDIR without attributes, as with readdirplus off */

static int digits_of(unsigned long count) {
  int digits = 1;
  for (unsigned long top = count > 0 ? count - 1 : 0; top >= 10; top /= 10) digits++;
  return digits;
}

/* Inodes: 1 the root, 2 .. folders+1 the folders, then every file of folder d at 2 + folders + d * per_folder. */
static fuse_ino_t folder_ino(unsigned long d) { return 2 + d; }
static fuse_ino_t file_ino(unsigned long d, unsigned long f) { return 2 + folders + d * per_folder + f; }
static int is_folder(fuse_ino_t ino) { return ino == ROOT_INO || (ino >= 2 && ino < 2 + folders); }

static void attr_of(fuse_ino_t ino, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_nlink = is_folder(ino) ? 2 : 1;
  st->st_mode = is_folder(ino) ? (S_IFDIR | 0555) : (S_IFREG | 0444);
  st->st_size = is_folder(ino) ? 0 : 1024;
  st->st_blksize = 1 << 20;
  st->st_blocks = is_folder(ino) ? 0 : 2;
}

static void entry_of(fuse_ino_t ino, struct fuse_entry_param *e) {
  memset(e, 0, sizeof *e);
  e->ino = ino;
  e->attr_timeout = TIMEOUT_S;
  e->entry_timeout = TIMEOUT_S;
  attr_of(ino, &e->attr);
}

/* The number in a name `PREFIX-NNN.bin` (or `PREFIX-NNN` for a folder) of exactly `digits` digits; -1 if none. */
static long number_in(const char *name, char prefix, int digits, const char *suffix) {
  if (name[0] != prefix || name[1] != '-') return -1;
  long value = 0;
  for (int i = 0; i < digits; i++) {
    char c = name[2 + i];
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return strcmp(name + 2 + digits, suffix) == 0 ? value : -1;
}

/* The folder index behind a folder inode: the root holds the files of "folder 0" when flat. */
static unsigned long folder_index(fuse_ino_t parent) { return parent == ROOT_INO ? 0 : parent - 2; }

static void op_init(void *userdata, struct fuse_conn_info *conn) {
  (void)userdata;
  if (plain) conn->want &= ~FUSE_CAP_READDIRPLUS;
  else if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  struct fuse_entry_param e;
  long n;
  if (parent == ROOT_INO && folders > 0) {
    n = number_in(name, 'd', folder_digits, "");
    if (n < 0 || (unsigned long)n >= folders) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    entry_of(folder_ino((unsigned long)n), &e);
  } else {
    n = number_in(name, 'f', file_digits, ".bin");
    if (n < 0 || (unsigned long)n >= per_folder) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    entry_of(file_ino(folder_index(parent), (unsigned long)n), &e);
  }
  fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi;
  struct stat st;
  attr_of(ino, &st);
  fuse_reply_attr(req, &st, TIMEOUT_S);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  if (!is_folder(ino)) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  fuse_reply_open(req, fi);
}

/* Entry `index` of a folder: 0 `.`, 1 `..`, then its children in name order. */
static void child_at(fuse_ino_t dir, unsigned long index, char *name, size_t name_size, fuse_ino_t *ino) {
  unsigned long child = index - 2;
  if (dir == ROOT_INO && folders > 0) {
    snprintf(name, name_size, "d-%0*lu", folder_digits, child);
    *ino = folder_ino(child);
  } else {
    snprintf(name, name_size, "f-%0*lu.bin", file_digits, child);
    *ino = file_ino(folder_index(dir), child);
  }
}

static void serve(fuse_req_t req, fuse_ino_t dir, size_t size, off_t offset, int plus) {
  unsigned long count = 2 + (dir == ROOT_INO && folders > 0 ? folders : per_folder);
  char *buf = malloc(size);
  if (buf == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  size_t used = 0;
  for (unsigned long index = (unsigned long)offset; index < count; index++) {
    char name[64];
    fuse_ino_t ino = dir;
    if (index == 0) strcpy(name, ".");
    else if (index == 1) strcpy(name, "..");
    else child_at(dir, index, name, sizeof name, &ino);
    size_t needed;
    if (plus) {
      struct fuse_entry_param e;
      entry_of(ino, &e);
      if (index < 2) e.ino = 0; /* dots carry no lookup reference */
      needed = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)index + 1);
    } else {
      struct stat st;
      attr_of(ino, &st);
      needed = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)index + 1);
    }
    if (needed > size - used) break;
    used += needed;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi) {
  (void)fi;
  serve(req, ino, size, offset, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi) {
  (void)fi;
  serve(req, ino, size, offset, 1);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  (void)ino;
  (void)nlookup;
  fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  (void)count;
  (void)forgets;
  fuse_reply_none(req);
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
};

int main(int argc, char **argv) {
  int shift = argc > 2 && strcmp(argv[2], "--plain") == 0 ? 1 : 0;
  plain = shift;
  char **layout = argv + 2 + shift;
  int count = argc - 2 - shift;
  int flat = count == 2 && strcmp(layout[0], "flat") == 0;
  int tree = count == 3 && strcmp(layout[0], "tree") == 0;
  if (!flat && !tree) {
    fprintf(stderr, "usage: %s MOUNTPOINT [--plain] flat COUNT | MOUNTPOINT [--plain] tree FOLDERS PER_FOLDER\n", argv[0]);
    return 2;
  }
  folders = tree ? strtoul(layout[1], NULL, 10) : 0;
  per_folder = strtoul(layout[tree ? 2 : 1], NULL, 10);
  folder_digits = digits_of(folders);
  file_digits = digits_of(per_folder);

  char *fuse_argv[] = {argv[0], "-o", "ro,fsname=null-listing,default_permissions", NULL};
  struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
  struct fuse_session *session = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (session == NULL) return 1;
  if (fuse_session_mount(session, argv[1]) != 0) {
    fuse_session_destroy(session);
    return 1;
  }
#if FUSE_USE_VERSION >= 312 && (FUSE_MAJOR_VERSION > 3 || FUSE_MINOR_VERSION >= 12)
  struct fuse_loop_config *config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(config, 0);
  int result = fuse_session_loop_mt(session, config);
  fuse_loop_cfg_destroy(config);
#else
  struct fuse_loop_config config = {.clone_fd = 0, .max_idle_threads = 10};
  int result = fuse_session_loop_mt(session, &config);
#endif
  fuse_session_unmount(session);
  fuse_session_destroy(session);
  return result == 0 ? 0 : 1;
}
