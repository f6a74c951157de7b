/*
 * overlayscope.scan._listdir: list one open directory and lstat its entries in C.
 *
 * The scanner's per-entry cost in Python (a DirEntry, a stat_result, a dozen
 * attribute reads, a tuple, then the index's columns) is about twice the kernel's
 * fstatat; here the entries go straight into the builder's staged columns, and no
 * Python object is made per entry. The syscalls run without the GIL, so threads
 * listing different directories overlap their I/O. The pure-Python walk in
 * walker.py does the same thing entry for entry and is what runs when this module
 * was not built; tests/scan/test_native.py holds the two to the same results.
 *
 * Read-only: getdents64, fstatat(AT_SYMLINK_NOFOLLOW), readlinkat, llistxattr, and
 * (read-ahead) openat(O_NOFOLLOW | O_DIRECTORY). No symlink is followed, nothing changed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define DENTS_BUF (64 * 1024)

/* what the caller wants of extended attributes */
enum { XATTR_NONE = 0, XATTR_EMPTY_FILES = 1, XATTR_ALL = 2 };
/* kind codes, as stage.KIND_CODES numbers them */
enum { K_FILE, K_DIR, K_SYMLINK, K_WHITEOUT, K_OTHER, K_COUNT };

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

typedef struct {
    size_t name;    /* offset of the NUL-terminated name in the text buffer */
    size_t target;  /* symlink target: offset in text, or (size_t)-1 */
    size_t tlen;
    size_t xnames;  /* overlay xattr names, NUL-separated: offset in text, or -1 */
    size_t xlen;
    int err;        /* errno of the failed call, or 0 */
    struct stat st;
} item_t;

typedef struct {
    char *data;
    size_t len, cap;
} text_t;

static int is_dot_or_dotdot(const char *name) {
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static int text_add(text_t *t, const char *s, size_t n, size_t *at) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 16384;
        while (t->len + n + 1 > cap) cap *= 2;
        char *d = realloc(t->data, cap);
        if (!d) return -1;
        t->data = d;
        t->cap = cap;
    }
    *at = t->len;
    memcpy(t->data + t->len, s, n);
    t->data[t->len + n] = '\0';
    t->len += n + 1;
    return 0;
}

static int is_overlay_xattr(const char *name) {
    return strncmp(name, "trusted.overlay.", 16) == 0 || strncmp(name, "user.overlay.", 13) == 0;
}

/* The overlay xattr names of `path` (not followed), NUL-separated, into `text`.
 * Returns 0 (item->xnames set, or -1 for none), or an errno worth reporting. */
static int list_overlay_xattrs(const char *path, text_t *text, item_t *item, char **buf,
                               size_t *bufsize) {
    ssize_t n;
    for (;;) {
        n = llistxattr(path, *buf, *bufsize);
        if (n >= 0) break;
        if (errno == ENOTSUP || errno == ENODATA) return 0;
        if (errno != ERANGE) return errno;
        ssize_t need = llistxattr(path, NULL, 0);
        if (need < 0) return errno == ENOTSUP || errno == ENODATA ? 0 : errno;
        size_t size = (size_t)need + 256;
        char *grown = realloc(*buf, size);
        if (!grown) return ENOMEM;
        *buf = grown;
        *bufsize = size;
    }
    size_t start = (size_t)-1, total = 0;
    for (ssize_t i = 0; i < n;) {
        const char *name = *buf + i;
        size_t len = strnlen(name, (size_t)(n - i));
        if (len && is_overlay_xattr(name)) {
            size_t at;
            if (text_add(text, name, len, &at) < 0) return ENOMEM;
            if (start == (size_t)-1) start = at;
            total += len + 1;
        }
        i += (ssize_t)len + 1;
    }
    item->xnames = start;
    item->xlen = total;
    return 0;
}

typedef struct {
    item_t *items;
    size_t count, cap;
    text_t text;
    int read_error; /* errno of getdents64 itself, or 0 */
    int done;       /* the listing reached its end (or failed) */
} listing_t;

/* Read directory entries from `fd`'s current position until at least `limit` are
 * held or the listing ends, lstat-ing each. Runs without the GIL. */
static int fill(listing_t *out, int fd, const char *xprefix, size_t xprefix_len, int xmode,
                size_t limit) {
    char proc[64];
    if (xprefix_len == 0) { /* no prefix given: name entries through the dir's fd */
        xprefix_len = (size_t)snprintf(proc, sizeof proc, "/proc/self/fd/%d/", fd);
        xprefix = proc;
    }
    char *dents = malloc(DENTS_BUF);
    char *xbuf = malloc(65536);
    size_t xbufsize = 65536;
    char *path = malloc(xprefix_len + NAME_MAX + 2);
    char link[PATH_MAX + 1];
    if (!dents || !xbuf || !path) {
        free(dents), free(xbuf), free(path);
        return -1;
    }
    memcpy(path, xprefix, xprefix_len);
    while (out->count < limit) {
        long n = syscall(SYS_getdents64, fd, dents, DENTS_BUF);
        if (n < 0) {
            if (errno == EINTR) continue;
            out->read_error = errno;
            out->done = 1;
            break;
        }
        if (n == 0) {
            out->done = 1;
            break;
        }
        for (long pos = 0; pos < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(dents + pos);
            pos += d->d_reclen;
            const char *name = d->d_name;
            if (is_dot_or_dotdot(name)) continue;
            if (out->count == out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 256;
                item_t *items = realloc(out->items, cap * sizeof(item_t));
                if (!items) goto oom;
                out->items = items;
                out->cap = cap;
            }
            item_t *it = &out->items[out->count];
            size_t len = strlen(name);
            if (text_add(&out->text, name, len, &it->name) < 0) goto oom;
            it->target = it->xnames = (size_t)-1;
            it->tlen = it->xlen = 0;
            it->err = 0;
            out->count++;
            if (fstatat(fd, name, &it->st, AT_SYMLINK_NOFOLLOW) < 0) {
                it->err = errno;
                continue;
            }
            mode_t fmt = it->st.st_mode & S_IFMT;
            if (xmode == XATTR_ALL || (xmode == XATTR_EMPTY_FILES && fmt == S_IFREG &&
                                       it->st.st_size == 0)) {
                if (len > NAME_MAX || xprefix_len + len + 1 > PATH_MAX) {
                    it->err = ENAMETOOLONG;
                    continue;
                }
                memcpy(path + xprefix_len, name, len + 1);
                int err = list_overlay_xattrs(path, &out->text, it, &xbuf, &xbufsize);
                if (err == ENOMEM) goto oom;
                if (err) {
                    it->err = err;
                    continue;
                }
            }
            if (fmt == S_IFLNK) {
                ssize_t tl = readlinkat(fd, name, link, sizeof link);
                if (tl < 0) {
                    it->err = errno;
                    continue;
                }
                if ((size_t)tl >= sizeof link) {
                    it->err = ENAMETOOLONG;
                    continue;
                }
                if (text_add(&out->text, link, (size_t)tl, &it->target) < 0) goto oom;
                it->tlen = (size_t)tl;
            }
        }
    }
    free(dents), free(xbuf), free(path);
    return 0;
oom:
    free(dents), free(xbuf), free(path);
    return -1;
}

/* st_*_ns as Python computes it, exactly, also for times past 2262 */
static PyObject *ns_of(time_t sec, long nsec) {
    long long ns;
    if (!__builtin_mul_overflow((long long)sec, 1000000000LL, &ns) &&
        !__builtin_add_overflow(ns, (long long)nsec, &ns))
        return PyLong_FromLongLong(ns);
    PyObject *s = PyLong_FromLongLong((long long)sec);
    PyObject *billion = PyLong_FromLong(1000000000L);
    PyObject *n = PyLong_FromLong(nsec);
    PyObject *prod = s && billion ? PyNumber_Multiply(s, billion) : NULL;
    PyObject *sum = prod && n ? PyNumber_Add(prod, n) : NULL;
    Py_XDECREF(s), Py_XDECREF(billion), Py_XDECREF(n), Py_XDECREF(prod);
    return sum;
}

static PyObject *xattr_names_of(const item_t *it, const char *text) {
    PyObject *names = PyList_New(0);
    if (!names) return NULL;
    for (size_t off = 0; off < it->xlen;) {
        const char *s = text + it->xnames + off;
        size_t len = strlen(s);
        PyObject *name = PyUnicode_DecodeFSDefaultAndSize(s, (Py_ssize_t)len);
        if (!name || PyList_Append(names, name) < 0) {
            Py_XDECREF(name);
            Py_DECREF(names);
            return NULL;
        }
        Py_DECREF(name);
        off += len + 1;
    }
    return names;
}

/* ---- one directory's listing, straight into the index's columns (builder.py) ---- */

enum { OUT_NAMES, OUT_NAME_LENS, OUT_KINDMODE, OUT_UID, OUT_GID, OUT_SIZE, OUT_BLOCKS,
       OUT_MTIME, OUT_CTIME, OUT_INO, OUT_NLINK, OUT_COUNT };

static int by_name(const void *a, const void *b, void *text) {
    const item_t *x = *(item_t *const *)a, *y = *(item_t *const *)b;
    return strcmp((const char *)text + x->name, (const char *)text + y->name);
}

static int kind_code(const struct stat *st) {
    switch (st->st_mode & S_IFMT) {
    case S_IFREG: return K_FILE;
    case S_IFDIR: return K_DIR;
    case S_IFLNK: return K_SYMLINK;
    case S_IFCHR: return st->st_rdev == 0 ? K_WHITEOUT : K_OTHER;
    default: return K_OTHER;
    }
}

/* append `n` bytes to a bytearray */
static int put(PyObject *ba, const void *data, size_t n) {
    Py_ssize_t len = PyByteArray_GET_SIZE(ba);
    if (PyByteArray_Resize(ba, len + (Py_ssize_t)n) < 0) return -1;
    memcpy(PyByteArray_AS_STRING(ba) + len, data, n);
    return 0;
}

static int append_new(PyObject *list, PyObject *item) {
    int rc = item ? PyList_Append(list, item) : -1;
    Py_XDECREF(item);
    return rc;
}

static int fits_ns(time_t sec, long nsec, int64_t *out) {
    long long ns;
    if (__builtin_mul_overflow((long long)sec, 1000000000LL, &ns) ||
        __builtin_add_overflow(ns, (long long)nsec, &ns) || ns == INT64_MIN)
        return 0;
    *out = (int64_t)ns;
    return 1;
}

PyDoc_STRVAR(list_dir_columns_doc,
"list_dir_columns(fd, xprefix, xattr_mode, limit, out)\n"
"--\n\n"
"Read entries of the open directory `fd` from its current position, until at least\n"
"`limit` are read or the listing ends, and lstat each one (readlink symlinks).\n"
"`xprefix` (bytes) joined to an entry's name is a path to it for llistxattr; b''\n"
"names it through /proc/self/fd/`fd`/. `xattr_mode`: 0 reads no xattrs, 1 those\n"
"of empty regular files, 2 every entry's.\n\n"
"The entries, sorted by name bytes, are appended column by column to `out`, a\n"
"tuple of 11 bytearrays: names (back to back), name lengths (uint8), kind << 16 |\n"
"mode (uint32; kind 0-4: file, dir, symlink, whiteout, other), uid, gid (uint32),\n"
"size, blocks, mtime_ns, ctime_ns (int64), ino, nlink (uint64), native byte order.\n"
"A time that does not fit 64 bits is INT64_MIN there and exact in `wide`.\n\n"
"Returns (count, rdevs, targets, dirs, xattr_names, wide, errors, read_errno, done):\n"
"(i, rdev) where non-zero, (i, target bytes) of symlinks, (i, name, st_dev, st_ino)\n"
"of directories in listing order, (i, name, [overlay xattr names], mode, size, rdev)\n"
"of entries that have some, (i, mtime_ns, ctime_ns),\n"
"(name, errno) of entries that could not be read; i counts from this call's first.");

static PyObject *columns_of(int fd, const char *xprefix, Py_ssize_t xprefix_len, int xmode,
                            Py_ssize_t limit, PyObject *out);

static PyObject *list_dir_columns(PyObject *self, PyObject *args) {
    (void)self;
    int fd, xmode;
    const char *xprefix;
    Py_ssize_t xprefix_len, limit;
    PyObject *out;
    if (!PyArg_ParseTuple(args, "iy#inO!", &fd, &xprefix, &xprefix_len, &xmode, &limit,
                          &PyTuple_Type, &out))
        return NULL;
    return columns_of(fd, xprefix, xprefix_len, xmode, limit, out);
}

static PyObject *columns_of(int fd, const char *xprefix, Py_ssize_t xprefix_len, int xmode,
                            Py_ssize_t limit, PyObject *out) {
    if (PyTuple_GET_SIZE(out) != OUT_COUNT) {
        PyErr_SetString(PyExc_ValueError, "out must hold 11 bytearrays");
        return NULL;
    }
    for (int i = 0; i < OUT_COUNT; i++) {
        if (!PyByteArray_Check(PyTuple_GET_ITEM(out, i))) {
            PyErr_SetString(PyExc_TypeError, "out must hold 11 bytearrays");
            return NULL;
        }
    }
    if (limit < 1) limit = 1;
    listing_t got = {0};
    item_t **sorted = NULL;
    size_t good = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fill(&got, fd, xprefix, (size_t)xprefix_len, xmode, (size_t)limit);
    if (rc == 0 && got.count) {
        sorted = malloc(got.count * sizeof *sorted);
        if (!sorted) {
            rc = -1;
        } else {
            for (size_t i = 0; i < got.count; i++)
                if (!got.items[i].err) sorted[good++] = &got.items[i];
            qsort_r(sorted, good, sizeof *sorted, by_name, got.text.data);
        }
    }
    Py_END_ALLOW_THREADS
    PyObject *rdevs = NULL, *targets = NULL, *dirs = NULL, *xattrs = NULL, *wide = NULL,
             *errors = NULL, *result = NULL;
    size_t *rank = NULL;
    if (rc < 0) {
        PyErr_NoMemory();
        goto done;
    }
    rdevs = PyList_New(0), targets = PyList_New(0), dirs = PyList_New(0);
    xattrs = PyList_New(0), wide = PyList_New(0), errors = PyList_New(0);
    rank = malloc((got.count ? got.count : 1) * sizeof *rank); /* listing order -> sorted */
    if (!rdevs || !targets || !dirs || !xattrs || !wide || !errors || !rank) {
        if (!rank) PyErr_NoMemory();
        goto done;
    }
    const char *text = got.text.data;
    PyObject **ba = &PyTuple_GET_ITEM(out, 0);
    for (size_t k = 0; k < good; k++) {
        const item_t *it = sorted[k];
        const struct stat *st = &it->st;
        rank[it - got.items] = k;
        size_t len = strlen(text + it->name);
        unsigned char len8 = (unsigned char)len; /* NAME_MAX is 255 */
        uint32_t kindmode = ((uint32_t)kind_code(st) << 16) | (st->st_mode & 0xffff);
        uint32_t uid = st->st_uid, gid = st->st_gid;
        int64_t size = st->st_size, blocks = st->st_blocks, mtime, ctime;
        uint64_t ino = st->st_ino, nlink = st->st_nlink;
        int fit = fits_ns(st->st_mtim.tv_sec, st->st_mtim.tv_nsec, &mtime) &
                  fits_ns(st->st_ctim.tv_sec, st->st_ctim.tv_nsec, &ctime);
        if (!fit) {
            mtime = ctime = INT64_MIN;
            if (append_new(wide, Py_BuildValue("(nNN)", (Py_ssize_t)k,
                                               ns_of(st->st_mtim.tv_sec, st->st_mtim.tv_nsec),
                                               ns_of(st->st_ctim.tv_sec, st->st_ctim.tv_nsec))) < 0)
                goto done;
        }
        if (put(ba[OUT_NAMES], text + it->name, len) < 0 ||
            put(ba[OUT_NAME_LENS], &len8, 1) < 0 || put(ba[OUT_KINDMODE], &kindmode, 4) < 0 ||
            put(ba[OUT_UID], &uid, 4) < 0 || put(ba[OUT_GID], &gid, 4) < 0 ||
            put(ba[OUT_SIZE], &size, 8) < 0 || put(ba[OUT_BLOCKS], &blocks, 8) < 0 ||
            put(ba[OUT_MTIME], &mtime, 8) < 0 || put(ba[OUT_CTIME], &ctime, 8) < 0 ||
            put(ba[OUT_INO], &ino, 8) < 0 || put(ba[OUT_NLINK], &nlink, 8) < 0)
            goto done;
        if (st->st_rdev &&
            append_new(rdevs, Py_BuildValue("(nK)", (Py_ssize_t)k,
                                            (unsigned long long)st->st_rdev)) < 0)
            goto done;
        if (it->target != (size_t)-1 &&
            append_new(targets, Py_BuildValue("(ny#)", (Py_ssize_t)k, text + it->target,
                                              (Py_ssize_t)it->tlen)) < 0)
            goto done;
        if (it->xnames != (size_t)-1 &&
            append_new(xattrs, Py_BuildValue("(nNNkLK)", (Py_ssize_t)k,
                                             PyUnicode_DecodeFSDefault(text + it->name),
                                             xattr_names_of(it, text), (unsigned long)st->st_mode,
                                             (long long)st->st_size,
                                             (unsigned long long)st->st_rdev)) < 0)
            goto done;
    }
    for (size_t i = 0; i < got.count; i++) { /* listing order, as the walk visits dirs */
        const item_t *it = &got.items[i];
        if (it->err) {
            if (append_new(errors, Py_BuildValue("(Ni)", PyUnicode_DecodeFSDefault(text + it->name),
                                                 it->err)) < 0)
                goto done;
        } else if (S_ISDIR(it->st.st_mode)) {
            if (append_new(dirs, Py_BuildValue("(nNKK)", (Py_ssize_t)rank[i],
                                               PyUnicode_DecodeFSDefault(text + it->name),
                                               (unsigned long long)it->st.st_dev,
                                               (unsigned long long)it->st.st_ino)) < 0)
                goto done;
        }
    }
    result = Py_BuildValue("(nOOOOOOiO)", (Py_ssize_t)good, rdevs, targets, dirs, xattrs, wide,
                           errors, got.read_error, got.done ? Py_True : Py_False);
done:
    Py_XDECREF(rdevs), Py_XDECREF(targets), Py_XDECREF(dirs), Py_XDECREF(xattrs);
    Py_XDECREF(wide), Py_XDECREF(errors);
    free(rank);
    free(sorted);
    free(got.items);
    free(got.text.data);
    return result;
}

/* ---- read-ahead: warming the kernel's caches for directories the walk will reach ---- */

#ifndef SYS_openat2
#define SYS_openat2 437 /* the same number on every architecture */
#endif
struct open_how_v0 {
    uint64_t flags, mode, resolve;
};
#define RESOLVE_NO_MAGICLINKS_ 0x02
#define RESOLVE_NO_SYMLINKS_ 0x04
#define RESOLVE_BENEATH_ 0x08

static int open_flags(void) { return O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC; }

/* openat of a dir, not followed, without touching its atime where the kernel allows */
static int open_dir_at(int dir_fd, const char *name) {
    int fd = openat(dir_fd, name, open_flags() | O_NOATIME);
    if (fd >= 0 || errno != EPERM) return fd;
    return openat(dir_fd, name, open_flags());
}

/* Open the dir `rel` below `root_fd` without following any symlink or leaving it:
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), or, where the kernel lacks it (before
 * 5.6), one openat(O_NOFOLLOW) per component. ".." is refused. -1 and errno on failure. */
static int open_beneath(int root_fd, char *rel) {
    static volatile int no_openat2 = 0;
    for (const char *p = rel; *p;) { /* no "." or ".." components */
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
            errno = EINVAL;
            return -1;
        }
        p += n + (end ? 1 : 0);
    }
    if (!no_openat2) {
        struct open_how_v0 how = {(uint64_t)(open_flags() | O_NOATIME), 0,
                                  RESOLVE_BENEATH_ | RESOLVE_NO_SYMLINKS_ | RESOLVE_NO_MAGICLINKS_};
        long fd = syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof how);
        if (fd < 0 && errno == EPERM) { /* O_NOATIME needs ownership */
            how.flags = (uint64_t)open_flags();
            fd = syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof how);
        }
        if (fd >= 0 || errno != ENOSYS) return (int)fd;
        no_openat2 = 1;
    }
    int fd = open_dir_at(root_fd, ".");
    char *save = NULL;
    for (char *part = strtok_r(rel, "/", &save); part && fd >= 0;
         part = strtok_r(NULL, "/", &save)) {
        int next = open_dir_at(fd, part);
        int err = errno;
        close(fd);
        fd = next;
        errno = err;
    }
    return fd;
}

PyDoc_STRVAR(warm_dir_doc,
"warm_dir(root_fd, relpath, stop)\n"
"--\n\n"
"Read ahead for a walk: open the dir `relpath` (bytes, '/'-separated, '' for the\n"
"root) below the open dir `root_fd` without following a symlink (openat2 with\n"
"RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), list it and lstat every entry, discarding\n"
"what it reads: the kernel keeps the inodes cached for the walk that follows.\n"
"Runs without the GIL; stops early once `stop[0]` (a bytearray) is non-zero.\n"
"Returns the names (bytes) of its subdirectories, or -errno when `relpath` could\n"
"not be opened.");

static PyObject *warm_dir(PyObject *self, PyObject *args) {
    (void)self;
    int root_fd;
    const char *relpath;
    Py_ssize_t rel_len;
    Py_buffer stop;
    if (!PyArg_ParseTuple(args, "iy#w*", &root_fd, &relpath, &rel_len, &stop)) return NULL;
    char *rel = PyMem_Malloc((size_t)rel_len + 1);
    char *dents = PyMem_Malloc(DENTS_BUF);
    if (!rel || !dents || stop.len < 1) {
        PyMem_Free(rel), PyMem_Free(dents);
        PyBuffer_Release(&stop);
        return stop.len < 1 ? (PyErr_SetString(PyExc_ValueError, "stop: one byte at least"), NULL)
                            : PyErr_NoMemory();
    }
    memcpy(rel, relpath, (size_t)rel_len);
    rel[rel_len] = '\0';
    volatile const char *halt = (volatile const char *)stop.buf;
    text_t names = {0};
    int err = 0, oom = 0;
    size_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    int fd = open_beneath(root_fd, rel);
    if (fd < 0) err = errno;
    while (fd >= 0 && !*halt && !oom) {
        long n = syscall(SYS_getdents64, fd, dents, DENTS_BUF);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (long pos = 0; pos < n && !oom;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(dents + pos);
            pos += d->d_reclen;
            const char *name = d->d_name;
            if (is_dot_or_dotdot(name)) continue;
            struct stat st;
            size_t at;
            if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
                oom = text_add(&names, name, strlen(name), &at) < 0;
                count += !oom;
            }
        }
    }
    if (fd >= 0) close(fd);
    Py_END_ALLOW_THREADS
    PyMem_Free(rel), PyMem_Free(dents);
    PyBuffer_Release(&stop);
    PyObject *result = NULL;
    if (oom) {
        PyErr_NoMemory();
    } else if (err) {
        result = PyLong_FromLong(-err);
    } else if ((result = PyList_New((Py_ssize_t)count))) {
        size_t off = 0;
        for (size_t i = 0; i < count; i++) {
            size_t len = strlen(names.data + off);
            PyObject *name = PyBytes_FromStringAndSize(names.data + off, (Py_ssize_t)len);
            if (!name) {
                Py_CLEAR(result);
                break;
            }
            PyList_SET_ITEM(result, (Py_ssize_t)i, name);
            off += len + 1;
        }
    }
    free(names.data);
    return result;
}

/* ---- descending: open a subdir, check it is the one listed, list it ---- */

PyDoc_STRVAR(descend_doc,
"descend(parent_fd, name, st_dev, st_ino, xattr_mode, limit, out)\n"
"--\n\n"
"Open the subdirectory `name` of `parent_fd` (O_NOFOLLOW | O_DIRECTORY, O_NOATIME\n"
"where allowed), check with fstat that it is the (st_dev, st_ino) its listing gave,\n"
"and read its first entries as `list_dir_columns(fd, b'', ...)` would: one call per\n"
"directory where the walk made three. Returns (fd, list_dir_columns' result), the\n"
"fd the caller's to close; None when another dir had taken its place (closed); or\n"
"-errno when it could not be opened or checked.");

static PyObject *descend(PyObject *self, PyObject *args) {
    (void)self;
    int parent, xmode;
    PyObject *name;
    unsigned long long dev, ino;
    Py_ssize_t limit;
    PyObject *out;
    if (!PyArg_ParseTuple(args, "iO&KKinO!", &parent, PyUnicode_FSConverter, &name, &dev, &ino,
                          &xmode, &limit, &PyTuple_Type, &out))
        return NULL;
    const char *raw = PyBytes_AS_STRING(name);
    int fd, err = 0, other = 0;
    Py_BEGIN_ALLOW_THREADS
    fd = open_dir_at(parent, raw);
    if (fd < 0) {
        err = errno;
    } else {
        struct stat st;
        if (fstat(fd, &st) < 0) {
            err = errno;
        } else if ((unsigned long long)st.st_dev != dev || (unsigned long long)st.st_ino != ino) {
            other = 1;
        }
        if (err || other) close(fd);
    }
    Py_END_ALLOW_THREADS
    Py_DECREF(name);
    if (err) return PyLong_FromLong(-err);
    if (other) Py_RETURN_NONE;
    PyObject *batch = columns_of(fd, "", 0, xmode, limit, out);
    if (!batch) {
        close(fd);
        return NULL;
    }
    return Py_BuildValue("(iN)", fd, batch);
}

static PyMethodDef methods[] = {
    {"list_dir_columns", list_dir_columns, METH_VARARGS, list_dir_columns_doc},
    {"warm_dir", warm_dir, METH_VARARGS, warm_dir_doc},
    {"descend", descend, METH_VARARGS, descend_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_listdir",
    "Listing and lstat-ing one directory in C, without the GIL (see walker.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__listdir(void) { return PyModule_Create(&module); }
