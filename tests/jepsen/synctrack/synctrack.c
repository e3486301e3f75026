// libraftlog_synctrack.so: an LD_PRELOAD shim that records, for files under
// one directory tree, how many bytes of each file the process has made
// durable, so that a simulated power loss (tests/jepsen/harness/powerloss.py)
// can cut every file back to what survives on a real disk.
//
// Environment (the shim is inert unless both are set):
//   RAFTLOG_SYNCTRACK_DIR   directory for the logs; one per process, named
//                           "<20-digit CLOCK_MONOTONIC ns at first record>-<pid>.log"
//   RAFTLOG_SYNCTRACK_ROOT  only paths equal to or below it are recorded
//                           (compared after symlink resolution)
//
// Log: append-only text, one O_APPEND write() per line (atomic between the
// process's threads), written only after the call it describes succeeded:
//   O <created 0|1> <trunc 0|1> <size> <path>   open/openat/creat/fopen with write
//                                  access; size after the open
//   F <size> <path>                fsync/fdatasync: size taken BEFORE the call, so
//                                  every byte below it was written before the sync
//   W <size> <path>                sync_file_range with SYNC_FILE_RANGE_WAIT_AFTER
//   D <path>                       fsync/fdatasync of a directory
//   A <size> <path>                a file open in the process when syncfs()/sync()
//                                  succeeded (syncfs: only files on that filesystem)
//   R <len> <old><new>             rename*; <len> = strlen(old); both absolute
//   U <path>                       unlink/unlinkat/remove
//   T <newlen> <oldsize> <path>    ftruncate/truncate
// Paths are absolute and resolved: an fd's path comes from /proc/self/fd/N,
// a name relative to a directory fd or the cwd from that directory's path.
//
// Invariants: the shim keeps no fd -> path table (an fd's path is read from
// /proc at the call), so it is thread-safe without locks and cannot be
// confused by fd reuse; it never changes the result or errno of a call; its
// own log writes use raw syscalls. No malloc on the per-call paths (syncfs
// excepted); fixed stack buffers; paths longer than PATH_MAX are skipped.
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static char g_dir[PATH_MAX];   // track dir ("" = inert)
static char g_root[PATH_MAX];  // resolved root
static size_t g_root_len;
static int g_log_fd = -1;
static pid_t g_log_pid = -1;

__attribute__((constructor)) static void synctrack_init(void) {
  const char* dir = getenv("RAFTLOG_SYNCTRACK_DIR");
  const char* root = getenv("RAFTLOG_SYNCTRACK_ROOT");
  if (dir == NULL || root == NULL || dir[0] != '/' || root[0] != '/') return;
  if (strlen(dir) >= sizeof(g_dir) - 32 || strlen(root) >= sizeof(g_root)) return;
  // The root may not exist yet (raftlogd creates its data dir): keep the
  // literal path then; callers pass an already resolved path.
  if (realpath(root, g_root) == NULL) strcpy(g_root, root);
  g_root_len = strlen(g_root);
  while (g_root_len > 1 && g_root[g_root_len - 1] == '/') g_root[--g_root_len] = '\0';
  strcpy(g_dir, dir);
}

static int active(void) { return g_dir[0] != '\0'; }

static int under_root(const char* path) {
  if (strncmp(path, g_root, g_root_len) != 0) return 0;
  return path[g_root_len] == '\0' || path[g_root_len] == '/' || g_root_len == 1;
}

// ---- real functions -------------------------------------------------------

#define REAL(name, type)                             \
  static type real_##name(void) {                    \
    static type fn;                                  \
    type f = __atomic_load_n(&fn, __ATOMIC_ACQUIRE); \
    if (f == NULL) {                                 \
      f = (type)dlsym(RTLD_NEXT, #name);             \
      __atomic_store_n(&fn, f, __ATOMIC_RELEASE);    \
    }                                                \
    return f;                                        \
  }

typedef int (*open_fn)(const char*, int, ...);
typedef int (*open2_fn)(const char*, int);
typedef int (*openat_fn)(int, const char*, int, ...);
typedef int (*openat2_fn)(int, const char*, int);
typedef int (*creat_fn)(const char*, mode_t);
typedef FILE* (*fopen_fn)(const char*, const char*);
typedef int (*fd_fn)(int);
typedef void (*void_fn)(void);
typedef int (*sfr_fn)(int, off64_t, off64_t, unsigned int);
typedef int (*rename_fn)(const char*, const char*);
typedef int (*renameat_fn)(int, const char*, int, const char*);
typedef int (*renameat2_fn)(int, const char*, int, const char*, unsigned int);
typedef int (*unlink_fn)(const char*);
typedef int (*unlinkat_fn)(int, const char*, int);
typedef int (*ftruncate_fn)(int, off_t);
typedef int (*ftruncate64_fn)(int, off64_t);
typedef int (*truncate_fn)(const char*, off_t);
typedef int (*truncate64_fn)(const char*, off64_t);

REAL(open, open_fn)
REAL(open64, open_fn)
REAL(__open_2, open2_fn)
REAL(__open64_2, open2_fn)
REAL(openat, openat_fn)
REAL(openat64, openat_fn)
REAL(__openat_2, openat2_fn)
REAL(__openat64_2, openat2_fn)
REAL(creat, creat_fn)
REAL(creat64, creat_fn)
REAL(fopen, fopen_fn)
REAL(fopen64, fopen_fn)
REAL(fsync, fd_fn)
REAL(fdatasync, fd_fn)
REAL(syncfs, fd_fn)
REAL(sync, void_fn)
REAL(sync_file_range, sfr_fn)
REAL(rename, rename_fn)
REAL(renameat, renameat_fn)
REAL(renameat2, renameat2_fn)
REAL(unlink, unlink_fn)
REAL(unlinkat, unlinkat_fn)
REAL(remove, unlink_fn)
REAL(ftruncate, ftruncate_fn)
REAL(ftruncate64, ftruncate64_fn)
REAL(truncate, truncate_fn)
REAL(truncate64, truncate64_fn)

// ---- log writing ------------------------------------------------------------

// A small append-only line builder on the caller's stack.
typedef struct {
  char buf[2 * PATH_MAX + 96];
  size_t len;
  int overflow;
} line_t;

static void put_str(line_t* l, const char* s) {
  size_t n = strlen(s);
  if (l->len + n >= sizeof(l->buf)) {
    l->overflow = 1;
    return;
  }
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

static void put_u64(line_t* l, unsigned long long v) {
  char tmp[24];
  int i = 0;
  do {
    tmp[i++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  char out[24];
  for (int j = 0; j < i; ++j) out[j] = tmp[i - 1 - j];
  out[i] = '\0';
  put_str(l, out);
}

static int log_fd(void) {
  pid_t pid = (pid_t)syscall(SYS_getpid);
  int fd = __atomic_load_n(&g_log_fd, __ATOMIC_ACQUIRE);
  if (fd >= 0 && __atomic_load_n(&g_log_pid, __ATOMIC_ACQUIRE) == pid) return fd;
  // "<20-digit CLOCK_MONOTONIC ns>-<pid>.log": names sort in start order, so
  // the logs of successive incarnations replay in order.
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  unsigned long long now =
      (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
  char digits[21];
  for (int i = 19; i >= 0; --i, now /= 10) digits[i] = (char)('0' + now % 10);
  digits[20] = '\0';
  line_t name = {.len = 0};
  put_str(&name, g_dir);
  put_str(&name, "/");
  put_str(&name, digits);
  put_str(&name, "-");
  put_u64(&name, (unsigned long long)pid);
  put_str(&name, ".log");
  name.buf[name.len] = '\0';
  int nfd =
      (int)syscall(SYS_openat, AT_FDCWD, name.buf, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (nfd < 0) return -1;
  // Another thread may have raced us; keep one descriptor.
  if (__atomic_compare_exchange_n(&g_log_fd, &fd, nfd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    __atomic_store_n(&g_log_pid, pid, __ATOMIC_RELEASE);
    return nfd;
  }
  if (__atomic_load_n(&g_log_pid, __ATOMIC_ACQUIRE) == pid) {
    syscall(SYS_close, nfd);
    return __atomic_load_n(&g_log_fd, __ATOMIC_ACQUIRE);
  }
  // A forked child: the stored fd is the parent's; switch to our own file.
  __atomic_store_n(&g_log_fd, nfd, __ATOMIC_RELEASE);
  __atomic_store_n(&g_log_pid, pid, __ATOMIC_RELEASE);
  return nfd;
}

static void emit(line_t* l) {
  if (l->overflow) return;
  put_str(l, "\n");
  if (l->overflow) return;
  int fd = log_fd();
  if (fd < 0) return;
  size_t off = 0;
  for (int tries = 0; off < l->len && tries < 16; ++tries) {
    long n = syscall(SYS_write, fd, l->buf + off, l->len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += (size_t)n;
  }
}

// ---- path resolution ----------------------------------------------------------

// The path behind an open fd, NUL-terminated in out; 0 on failure (including
// deleted files and non-file objects).
static int fd_path(int fd, char* out, size_t cap) {
  line_t p = {.len = 0};
  put_str(&p, "/proc/self/fd/");
  put_u64(&p, (unsigned long long)fd);
  p.buf[p.len] = '\0';
  ssize_t n = readlink(p.buf, out, cap - 1);
  if (n <= 0 || out[0] != '/') return 0;
  out[n] = '\0';
  static const char kDeleted[] = " (deleted)";
  size_t dl = sizeof(kDeleted) - 1;
  if ((size_t)n > dl && strcmp(out + n - dl, kDeleted) == 0) return 0;
  return 1;
}

// Resolves `name` relative to dirfd (AT_FDCWD = cwd) WITHOUT following a
// final symlink and without requiring the final component to exist: the
// parent directory is resolved (realpath), the last component appended.
static int name_path(int dirfd, const char* name, char* out, size_t cap) {
  char joined[PATH_MAX];
  if (name == NULL || name[0] == '\0') return 0;
  if (name[0] == '/') {
    if (strlen(name) >= sizeof(joined)) return 0;
    strcpy(joined, name);
  } else {
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
      if (getcwd(base, sizeof(base)) == NULL) return 0;
    } else if (!fd_path(dirfd, base, sizeof(base))) {
      return 0;
    }
    if (strlen(base) + 1 + strlen(name) >= sizeof(joined)) return 0;
    strcpy(joined, base);
    strcat(joined, "/");
    strcat(joined, name);
  }
  // Split off the last component (ignoring trailing slashes).
  size_t n = strlen(joined);
  while (n > 1 && joined[n - 1] == '/') joined[--n] = '\0';
  char* slash = strrchr(joined, '/');
  if (slash == NULL) return 0;
  const char* last = slash + 1;
  char parent[PATH_MAX];
  if (slash == joined) {
    strcpy(parent, "/");
  } else {
    *slash = '\0';
    if (realpath(joined, parent) == NULL) return 0;
  }
  if (strcmp(last, ".") == 0 || strcmp(last, "..") == 0) return 0;
  size_t pl = strlen(parent);
  if (pl + 1 + strlen(last) >= cap) return 0;
  strcpy(out, parent);
  if (pl > 1) strcat(out, "/");
  strcat(out, last);
  return 1;
}

// ---- recorders ------------------------------------------------------------------

static int wants_write(int flags) {
  return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) != 0;
}

// Before an open with O_CREAT: does the target exist already?
static int existed_before(int dirfd, const char* name, int flags) {
  if ((flags & O_CREAT) == 0) return 1;
  struct stat st;
  return fstatat(dirfd, name, &st, 0) == 0;
}

static void record_open(int fd, int existed, int flags) {
  char path[PATH_MAX];
  if (fd < 0 || !fd_path(fd, path, sizeof(path)) || !under_root(path)) return;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  line_t l = {.len = 0};
  put_str(&l, existed ? "O 0 " : "O 1 ");
  put_str(&l, (flags & O_TRUNC) ? "1 " : "0 ");
  put_u64(&l, (unsigned long long)st.st_size);
  put_str(&l, " ");
  put_str(&l, path);
  emit(&l);
}

static int open_common(int dirfd, const char* name, int flags, mode_t mode, int has_mode,
                       int (*call)(int, const char*, int, mode_t, int, void*), void* ctx) {
  if (!active() || !wants_write(flags)) return call(dirfd, name, flags, mode, has_mode, ctx);
  int saved = errno;
  int existed = existed_before(dirfd, name, flags);
  errno = saved;
  int fd = call(dirfd, name, flags, mode, has_mode, ctx);
  if (fd >= 0) {
    saved = errno;
    record_open(fd, existed, flags);
    errno = saved;
  }
  return fd;
}

// Before an fd sync: the path and size to record, if the fd is tracked.
typedef struct {
  int ok;
  int is_dir;
  unsigned long long size;
  char path[PATH_MAX];
} fdinfo_t;

static void fd_info(int fd, fdinfo_t* out) {
  out->ok = 0;
  if (!active() || !fd_path(fd, out->path, sizeof(out->path)) || !under_root(out->path)) return;
  struct stat st;
  if (fstat(fd, &st) != 0) return;
  out->is_dir = S_ISDIR(st.st_mode);
  if (!out->is_dir && !S_ISREG(st.st_mode)) return;
  out->size = (unsigned long long)st.st_size;
  out->ok = 1;
}

static void record_sync(const fdinfo_t* info, const char* kind) {
  if (!info->ok) return;
  line_t l = {.len = 0};
  if (info->is_dir) {
    if (kind[0] != 'F') return;  // sync_file_range on a directory: nothing
    put_str(&l, "D ");
  } else {
    put_str(&l, kind);
    put_str(&l, " ");
    put_u64(&l, info->size);
    put_str(&l, " ");
  }
  put_str(&l, info->path);
  emit(&l);
}

static int sync_common(int fd, fd_fn fn) {
  fdinfo_t info;
  int saved = errno;
  fd_info(fd, &info);
  errno = saved;
  int rc = fn(fd);
  if (rc == 0) {
    saved = errno;
    record_sync(&info, "F");
    errno = saved;
  }
  return rc;
}

// syncfs/sync: every tracked regular file this process has open (on `dev`
// unless any_dev). Sizes are taken before the call.
typedef struct {
  unsigned long long size;
  char path[PATH_MAX];
} openfile_t;

static int collect_open(dev_t dev, int any_dev, openfile_t** out, size_t* count) {
  *out = NULL;
  *count = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == NULL) return 0;
  size_t cap = 0;
  struct dirent* e;
  int self = dirfd(d);
  for (int guard = 0; guard < 1 << 20 && (e = readdir(d)) != NULL; ++guard) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name);
    if (fd == self) continue;
    char path[PATH_MAX];
    struct stat st;
    if (!fd_path(fd, path, sizeof(path)) || !under_root(path)) continue;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (!any_dev && st.st_dev != dev) continue;
    if (*count == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      openfile_t* n = realloc(*out, ncap * sizeof(openfile_t));
      if (n == NULL) break;
      *out = n;
      cap = ncap;
    }
    (*out)[*count].size = (unsigned long long)st.st_size;
    strcpy((*out)[*count].path, path);
    ++*count;
  }
  closedir(d);
  return 1;
}

static void emit_open(openfile_t* files, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    line_t l = {.len = 0};
    put_str(&l, "A ");
    put_u64(&l, files[i].size);
    put_str(&l, " ");
    put_str(&l, files[i].path);
    emit(&l);
  }
  free(files);
}

static void record_rename(int olddirfd, const char* oldname, int newdirfd, const char* newname,
                          int (*call)(void*), void* ctx, int* rc) {
  char from[PATH_MAX], to[PATH_MAX];
  int saved = errno;
  int ok = active() && name_path(olddirfd, oldname, from, sizeof(from)) &&
           name_path(newdirfd, newname, to, sizeof(to)) && (under_root(from) || under_root(to));
  errno = saved;
  *rc = call(ctx);
  if (*rc != 0 || !ok) return;
  saved = errno;
  line_t l = {.len = 0};
  put_str(&l, "R ");
  put_u64(&l, (unsigned long long)strlen(from));
  put_str(&l, " ");
  put_str(&l, from);
  put_str(&l, to);
  emit(&l);
  errno = saved;
}

static void record_unlink(const char* path) {
  line_t l = {.len = 0};
  put_str(&l, "U ");
  put_str(&l, path);
  emit(&l);
}

static void record_truncate(const char* path, unsigned long long newlen,
                            unsigned long long oldsize) {
  line_t l = {.len = 0};
  put_str(&l, "T ");
  put_u64(&l, newlen);
  put_str(&l, " ");
  put_u64(&l, oldsize);
  put_str(&l, " ");
  put_str(&l, path);
  emit(&l);
}

// ---- exported wrappers ------------------------------------------------------------

typedef struct {
  open_fn fn;
} open_ctx;
static int call_open(int dirfd, const char* name, int flags, mode_t mode, int has_mode, void* ctx) {
  (void)dirfd;
  open_fn fn = ((open_ctx*)ctx)->fn;
  return has_mode ? fn(name, flags, mode) : fn(name, flags);
}
typedef struct {
  openat_fn fn;
} openat_ctx;
static int call_openat(int dirfd, const char* name, int flags, mode_t mode, int has_mode,
                       void* ctx) {
  openat_fn fn = ((openat_ctx*)ctx)->fn;
  return has_mode ? fn(dirfd, name, flags, mode) : fn(dirfd, name, flags);
}
typedef struct {
  open2_fn fn;
} open2_ctx;
static int call_open2(int dirfd, const char* name, int flags, mode_t mode, int has_mode,
                      void* ctx) {
  (void)dirfd;
  (void)mode;
  (void)has_mode;
  return ((open2_ctx*)ctx)->fn(name, flags);
}
typedef struct {
  openat2_fn fn;
} openat2_ctx;
static int call_openat2(int dirfd, const char* name, int flags, mode_t mode, int has_mode,
                        void* ctx) {
  (void)mode;
  (void)has_mode;
  return ((openat2_ctx*)ctx)->fn(dirfd, name, flags);
}

static int needs_mode(int flags) {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

#define OPEN_WRAPPER(name)                                                    \
  EXPORT int name(const char* path, int flags, ...) {                         \
    mode_t mode = 0;                                                          \
    int has_mode = needs_mode(flags);                                         \
    if (has_mode) {                                                           \
      va_list ap;                                                             \
      va_start(ap, flags);                                                    \
      mode = (mode_t)va_arg(ap, int);                                         \
      va_end(ap);                                                             \
    }                                                                         \
    open_ctx c = {real_##name()};                                             \
    return open_common(AT_FDCWD, path, flags, mode, has_mode, call_open, &c); \
  }
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                                                 \
  EXPORT int name(int dirfd, const char* path, int flags, ...) {             \
    mode_t mode = 0;                                                         \
    int has_mode = needs_mode(flags);                                        \
    if (has_mode) {                                                          \
      va_list ap;                                                            \
      va_start(ap, flags);                                                   \
      mode = (mode_t)va_arg(ap, int);                                        \
      va_end(ap);                                                            \
    }                                                                        \
    openat_ctx c = {real_##name()};                                          \
    return open_common(dirfd, path, flags, mode, has_mode, call_openat, &c); \
  }
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

EXPORT int __open_2(const char* path, int flags) {
  open2_ctx c = {real___open_2()};
  return open_common(AT_FDCWD, path, flags, 0, 0, call_open2, &c);
}
EXPORT int __open64_2(const char* path, int flags) {
  open2_ctx c = {real___open64_2()};
  return open_common(AT_FDCWD, path, flags, 0, 0, call_open2, &c);
}
EXPORT int __openat_2(int dirfd, const char* path, int flags) {
  openat2_ctx c = {real___openat_2()};
  return open_common(dirfd, path, flags, 0, 0, call_openat2, &c);
}
EXPORT int __openat64_2(int dirfd, const char* path, int flags) {
  openat2_ctx c = {real___openat64_2()};
  return open_common(dirfd, path, flags, 0, 0, call_openat2, &c);
}

typedef struct {
  creat_fn fn;
} creat_ctx;
static int call_creat(int dirfd, const char* name, int flags, mode_t mode, int has_mode,
                      void* ctx) {
  (void)dirfd;
  (void)flags;
  (void)has_mode;
  return ((creat_ctx*)ctx)->fn(name, mode);
}
EXPORT int creat(const char* path, mode_t mode) {
  creat_ctx c = {real_creat()};
  return open_common(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 1, call_creat, &c);
}
EXPORT int creat64(const char* path, mode_t mode) {
  creat_ctx c = {real_creat64()};
  return open_common(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 1, call_creat, &c);
}

static FILE* fopen_common(const char* path, const char* mode, fopen_fn fn) {
  if (!active() || mode == NULL || strpbrk(mode, "wa+") == NULL) return fn(path, mode);
  int flags = (strchr(mode, 'w') != NULL ? O_CREAT | O_TRUNC : 0) |
              (strchr(mode, 'a') != NULL ? O_CREAT : 0) | O_RDWR;
  int saved = errno;
  int existed = existed_before(AT_FDCWD, path, flags);
  errno = saved;
  FILE* f = fn(path, mode);
  if (f != NULL) {
    saved = errno;
    record_open(fileno(f), existed, flags);
    errno = saved;
  }
  return f;
}
EXPORT FILE* fopen(const char* path, const char* mode) {
  return fopen_common(path, mode, real_fopen());
}
EXPORT FILE* fopen64(const char* path, const char* mode) {
  return fopen_common(path, mode, real_fopen64());
}

EXPORT int fsync(int fd) { return sync_common(fd, real_fsync()); }
EXPORT int fdatasync(int fd) { return sync_common(fd, real_fdatasync()); }

EXPORT int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
  fdinfo_t info;
  info.ok = 0;
  int saved = errno;
  if (flags & SYNC_FILE_RANGE_WAIT_AFTER) fd_info(fd, &info);
  errno = saved;
  int rc = real_sync_file_range()(fd, offset, nbytes, flags);
  if (rc == 0) {
    saved = errno;
    record_sync(&info, "W");
    errno = saved;
  }
  return rc;
}

EXPORT int syncfs(int fd) {
  if (!active()) return real_syncfs()(fd);
  int saved = errno;
  struct stat st;
  openfile_t* files = NULL;
  size_t count = 0;
  if (fstat(fd, &st) == 0) collect_open(st.st_dev, 0, &files, &count);
  errno = saved;
  int rc = real_syncfs()(fd);
  saved = errno;
  if (rc == 0) {
    emit_open(files, count);
  } else {
    free(files);
  }
  errno = saved;
  return rc;
}

EXPORT void sync(void) {
  if (!active()) {
    real_sync()();
    return;
  }
  int saved = errno;
  openfile_t* files = NULL;
  size_t count = 0;
  collect_open(0, 1, &files, &count);
  errno = saved;
  real_sync()();
  saved = errno;
  emit_open(files, count);
  errno = saved;
}

typedef struct {
  int olddirfd, newdirfd;
  const char *oldname, *newname;
  unsigned int flags;
  int kind;  // 0 rename, 1 renameat, 2 renameat2
} rename_ctx;
static int call_rename(void* p) {
  rename_ctx* c = (rename_ctx*)p;
  switch (c->kind) {
    case 0:
      return real_rename()(c->oldname, c->newname);
    case 1:
      return real_renameat()(c->olddirfd, c->oldname, c->newdirfd, c->newname);
    default:
      return real_renameat2()(c->olddirfd, c->oldname, c->newdirfd, c->newname, c->flags);
  }
}
EXPORT int rename(const char* oldname, const char* newname) {
  rename_ctx c = {AT_FDCWD, AT_FDCWD, oldname, newname, 0, 0};
  int rc;
  record_rename(AT_FDCWD, oldname, AT_FDCWD, newname, call_rename, &c, &rc);
  return rc;
}
EXPORT int renameat(int olddirfd, const char* oldname, int newdirfd, const char* newname) {
  rename_ctx c = {olddirfd, newdirfd, oldname, newname, 0, 1};
  int rc;
  record_rename(olddirfd, oldname, newdirfd, newname, call_rename, &c, &rc);
  return rc;
}
EXPORT int renameat2(int olddirfd, const char* oldname, int newdirfd, const char* newname,
                     unsigned int flags) {
  // RENAME_EXCHANGE swaps two names; recorded as a plain move of the first
  // (the second keeps no record), which drops tracking for the second file.
  rename_ctx c = {olddirfd, newdirfd, oldname, newname, flags, 2};
  int rc;
  record_rename(olddirfd, oldname, newdirfd, newname, call_rename, &c, &rc);
  return rc;
}

static int unlink_common(int dirfd, const char* name, int (*call)(int, const char*, int, void*),
                         int flags, void* ctx) {
  char path[PATH_MAX];
  int saved = errno;
  int ok = active() && name_path(dirfd, name, path, sizeof(path)) && under_root(path);
  errno = saved;
  int rc = call(dirfd, name, flags, ctx);
  if (rc == 0 && ok) {
    saved = errno;
    record_unlink(path);
    errno = saved;
  }
  return rc;
}
typedef struct {
  unlink_fn fn;
} unlink_ctx;
static int call_unlink(int dirfd, const char* name, int flags, void* ctx) {
  (void)dirfd;
  (void)flags;
  return ((unlink_ctx*)ctx)->fn(name);
}
static int call_unlinkat(int dirfd, const char* name, int flags, void* ctx) {
  (void)ctx;
  return real_unlinkat()(dirfd, name, flags);
}
EXPORT int unlink(const char* path) {
  unlink_ctx c = {real_unlink()};
  return unlink_common(AT_FDCWD, path, call_unlink, 0, &c);
}
EXPORT int remove(const char* path) {
  unlink_ctx c = {real_remove()};
  return unlink_common(AT_FDCWD, path, call_unlink, 0, &c);
}
EXPORT int unlinkat(int dirfd, const char* path, int flags) {
  return unlink_common(dirfd, path, call_unlinkat, flags, NULL);
}

static int ftruncate_common(int fd, long long len, int is64) {
  fdinfo_t info;
  int saved = errno;
  fd_info(fd, &info);
  errno = saved;
  int rc = is64 ? real_ftruncate64()(fd, (off64_t)len) : real_ftruncate()(fd, (off_t)len);
  if (rc == 0 && info.ok && !info.is_dir) {
    saved = errno;
    record_truncate(info.path, (unsigned long long)len, info.size);
    errno = saved;
  }
  return rc;
}
EXPORT int ftruncate(int fd, off_t len) { return ftruncate_common(fd, (long long)len, 0); }
EXPORT int ftruncate64(int fd, off64_t len) { return ftruncate_common(fd, (long long)len, 1); }

static int truncate_common(const char* name, long long len, int is64) {
  char path[PATH_MAX];
  struct stat st;
  int saved = errno;
  int ok = active() && realpath(name, path) != NULL && under_root(path) && stat(path, &st) == 0 &&
           S_ISREG(st.st_mode);
  errno = saved;
  int rc = is64 ? real_truncate64()(name, (off64_t)len) : real_truncate()(name, (off_t)len);
  if (rc == 0 && ok) {
    saved = errno;
    record_truncate(path, (unsigned long long)len, (unsigned long long)st.st_size);
    errno = saved;
  }
  return rc;
}
EXPORT int truncate(const char* path, off_t len) {
  return truncate_common(path, (long long)len, 0);
}
EXPORT int truncate64(const char* path, off64_t len) {
  return truncate_common(path, (long long)len, 1);
}
