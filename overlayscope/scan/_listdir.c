/*
 * overlayscope.scan._listdir: the scanner's walk of one layer tree, in C.
 *
 * `Walk` walks a whole tree depth-first, as walker.py's pure-Python walk does, and
 * builds the layer's index (columns.py) as it goes: each column at its final width,
 * the (kind, mode, uid, gid) table, slots, symlink targets, and the layer's sums
 * (sizes.py). Python sees it only every few thousand entries (`step`: cancel,
 * progress, the rare things it makes objects of: problems and overlay xattrs), and
 * once at the end (`finish`). No Python object is made per entry or per directory,
 * and a step runs without the GIL. tests/scan/test_native.py holds it to the
 * pure-Python walk's results, field for field.
 *
 * Read-only: openat(O_NOFOLLOW | O_DIRECTORY), getdents64, fstatat(AT_SYMLINK_NOFOLLOW),
 * readlinkat, listxattrat/getxattrat (or their path forms), fstat. No symlink is
 * followed, nothing is changed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
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
#include <time.h>
#include <sys/xattr.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define DENTS_BUF (64 * 1024)
#define NONE ((size_t)-1)

/* what the caller wants of extended attributes */
enum { XATTR_NONE = 0, XATTR_EMPTY_FILES = 1, XATTR_ALL = 2 };
/* the namespace whose overlay xattrs are metadata, as native.NAMESPACE_CODES numbers it:
 * either (trusted winning), trusted.overlay.* only (rootful), user.overlay.* only (rootless) */
enum { NS_EITHER = 0, NS_TRUSTED = 1, NS_USER = 2 };
/* kind codes, as native_walk.KIND_CODES numbers them */
enum { K_FILE, K_DIR, K_SYMLINK, K_WHITEOUT, K_OTHER, K_OPAQUE_DIR };

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int is_dot_or_dotdot(const char *name) {
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* ---- growable buffers ---- */

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static int buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static int buf_add(buf_t *b, const void *p, size_t n) {
    if (!n) return 0;
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* append `n` bytes and a NUL; *at = where they start */
static int text_add(buf_t *t, const char *s, size_t n, size_t *at) {
    if (buf_reserve(t, n + 1) < 0) return -1;
    *at = t->len;
    memcpy(t->data + t->len, s, n);
    t->data[t->len + n] = '\0';
    t->len += n + 1;
    return 0;
}

static void buf_free(buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- extended attributes, relative to a dir fd where the kernel can ---- */

#ifndef SYS_getxattrat
#define SYS_getxattrat 464 /* Linux 6.13; the same number on every architecture */
#endif
#ifndef SYS_listxattrat
#define SYS_listxattrat 465
#endif
struct xattr_args_v0 {
    uint64_t value;
    uint32_t size, flags;
};

/* set once listxattrat/getxattrat turn out missing (ENOSYS) or filtered (EPERM where
 * the path form works): /proc/self/fd/N/name is then the way, ~1 µs slower a call */
static volatile int no_xattrat = 0;

typedef struct {
    int dfd;          /* the dir holding the entry; the entry itself when name is NULL */
    const char *name; /* the entry's name in dfd */
    const char *path; /* a path to it, for kernels without listxattrat (NULL: none fits) */
} xref_t;

static ssize_t x_list(const xref_t *r, char *buf, size_t size) {
    if (!r->name) return flistxattr(r->dfd, buf, size);
    int tried = 0;
    if (!no_xattrat) {
        long n = syscall(SYS_listxattrat, r->dfd, r->name, AT_SYMLINK_NOFOLLOW, buf, size);
        if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return (ssize_t)n;
        if (errno == ENOSYS) no_xattrat = 1;
        tried = 1;
    }
    if (!r->path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    ssize_t n = llistxattr(r->path, buf, size);
    if (n >= 0 && tried) no_xattrat = 1; /* EPERM from a syscall filter, not the file */
    return n;
}

static ssize_t x_get(const xref_t *r, const char *name, char *buf, size_t size) {
    if (!r->name) return fgetxattr(r->dfd, name, buf, size);
    int tried = 0;
    if (!no_xattrat) {
        struct xattr_args_v0 args = {(uint64_t)(uintptr_t)buf, (uint32_t)size, 0};
        long n = syscall(SYS_getxattrat, r->dfd, r->name, AT_SYMLINK_NOFOLLOW, name, &args,
                         sizeof args);
        if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return (ssize_t)n;
        if (errno == ENOSYS) no_xattrat = 1;
        tried = 1;
    }
    if (!r->path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    ssize_t n = lgetxattr(r->path, name, buf, size);
    if (n >= 0 && tried) no_xattrat = 1;
    return n;
}

static int quiet(int err) { return err == ENOTSUP || err == EOPNOTSUPP || err == ENODATA; }

typedef struct {
    char *names, *value;
    size_t names_size, value_size;
} xscratch_t;

static int grow(char **buf, size_t *size, size_t need) {
    char *grown = realloc(*buf, need);
    if (!grown) return -1;
    *buf = grown;
    *size = need;
    return 0;
}

/* The overlay xattrs of `r` as xattrs.read_overlay_xattrs reads them: the names of
 * namespace `ns` (NS_TRUSTED, NS_USER: the other one's are no overlay metadata at all;
 * NS_EITHER: the namespace that wins, trusted over user), each value read (ENODATA and
 * the like skipped). Appended to `out` as one record: u8 trusted, u16 count, then per
 * value u16 key length, the key (the name past "<ns>.overlay."), u32 value length, the
 * value. Returns 0 (*at = the record's offset, NONE when there is none), or an errno. */
static int read_overlay(xscratch_t *s, const xref_t *r, int ns, buf_t *out, size_t *at) {
    *at = NONE;
    ssize_t n;
    for (;;) {
        n = x_list(r, s->names, s->names_size);
        if (n >= 0) break;
        if (quiet(errno)) return 0;
        if (errno != ERANGE) return errno;
        ssize_t need = x_list(r, NULL, 0);
        if (need < 0) return quiet(errno) ? 0 : errno;
        if (grow(&s->names, &s->names_size, (size_t)need + 256) < 0) return ENOMEM;
    }
    int has_trusted = 0, has_user = 0;
    for (ssize_t i = 0; i < n;) {
        const char *name = s->names + i;
        size_t len = strnlen(name, (size_t)(n - i));
        if (strncmp(name, "trusted.overlay.", 16) == 0) has_trusted = 1;
        else if (strncmp(name, "user.overlay.", 13) == 0) has_user = 1;
        i += (ssize_t)len + 1;
    }
    if (ns == NS_TRUSTED ? !has_trusted : ns == NS_USER ? !has_user : !has_trusted && !has_user)
        return 0;
    int trusted = ns == NS_TRUSTED || (ns == NS_EITHER && has_trusted);
    const char *prefix = trusted ? "trusted.overlay." : "user.overlay.";
    size_t plen = strlen(prefix), start = out->len;
    uint8_t flag = (uint8_t)trusted;
    uint16_t count = 0;
    if (buf_add(out, &flag, 1) < 0 || buf_add(out, &count, 2) < 0) return ENOMEM;
    for (ssize_t i = 0; i < n;) {
        const char *name = s->names + i;
        size_t len = strnlen(name, (size_t)(n - i));
        i += (ssize_t)len + 1;
        if (strncmp(name, prefix, plen) != 0 || name[len] != '\0') continue;
        ssize_t v;
        for (;;) {
            v = x_get(r, name, s->value, s->value_size);
            if (v >= 0 || errno != ERANGE) break;
            ssize_t need = x_get(r, name, NULL, 0);
            if (need < 0) {
                v = -1;
                break;
            }
            if (grow(&s->value, &s->value_size, (size_t)need + 256) < 0) {
                out->len = start;
                return ENOMEM;
            }
        }
        if (v < 0) {
            if (quiet(errno)) continue;
            int err = errno;
            out->len = start;
            return err;
        }
        uint16_t klen = (uint16_t)(len - plen);
        uint32_t vlen = (uint32_t)v;
        if (buf_add(out, &klen, 2) < 0 || buf_add(out, name + plen, klen) < 0 ||
            buf_add(out, &vlen, 4) < 0 || buf_add(out, s->value, vlen) < 0) {
            out->len = start;
            return ENOMEM;
        }
        count++;
    }
    if (!count) {
        out->len = start;
        return 0;
    }
    memcpy(out->data + start + 1, &count, 2);
    *at = start;
    return 0;
}

/* the size of a record read_overlay wrote */
static size_t record_size(const char *rec) {
    uint16_t count;
    memcpy(&count, rec + 1, 2);
    size_t off = 3;
    for (uint16_t k = 0; k < count; k++) {
        uint16_t klen;
        uint32_t vlen;
        memcpy(&klen, rec + off, 2);
        memcpy(&vlen, rec + off + 2 + klen, 4);
        off += 2 + (size_t)klen + 4 + vlen;
    }
    return off;
}

/* Does the record hold `key`, with `value` (NULL: any value)? */
static int record_has(const char *rec, const char *key, const char *value) {
    uint16_t count;
    memcpy(&count, rec + 1, 2);
    size_t off = 3, keylen = strlen(key);
    for (uint16_t k = 0; k < count; k++) {
        uint16_t klen;
        uint32_t vlen;
        memcpy(&klen, rec + off, 2);
        const char *kp = rec + off + 2;
        memcpy(&vlen, kp + klen, 4);
        const char *vp = kp + klen + 4;
        if (klen == keylen && memcmp(kp, key, keylen) == 0)
            return !value || (vlen == strlen(value) && memcmp(vp, value, vlen) == 0);
        off += 2 + (size_t)klen + 4 + vlen;
    }
    return 0;
}

/* walker.classify: the overlayfs kind of an entry */
static int kind_of(mode_t mode, off_t size, dev_t rdev, const char *rec) {
    switch (mode & S_IFMT) {
    case S_IFREG: return size == 0 && rec && record_has(rec, "whiteout", NULL) ? K_WHITEOUT : K_FILE;
    case S_IFDIR: return rec && record_has(rec, "opaque", "y") ? K_OPAQUE_DIR : K_DIR;
    case S_IFLNK: return K_SYMLINK;
    case S_IFCHR: return rdev == 0 ? K_WHITEOUT : K_OTHER;
    default: return K_OTHER;
    }
}

/* st_*_ns as Python computes it, exactly, also for times past 2262 */
static PyObject *ns_of(int64_t sec, long nsec) {
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

static int fits_ns(int64_t sec, long nsec, int64_t *out) {
    long long ns;
    if (__builtin_mul_overflow((long long)sec, 1000000000LL, &ns) ||
        __builtin_add_overflow(ns, (long long)nsec, &ns) || ns == INT64_MIN)
        return 0;
    *out = (int64_t)ns;
    return 1;
}

static PyObject *long_of_128(__int128 v) {
    if (v >= INT64_MIN && v <= INT64_MAX) return PyLong_FromLongLong((long long)v);
    PyObject *hi = PyLong_FromLongLong((long long)(v >> 64));
    PyObject *lo = PyLong_FromUnsignedLongLong((unsigned long long)(uint64_t)v);
    PyObject *shift = PyLong_FromLong(64);
    PyObject *up = hi && shift ? PyNumber_Lshift(hi, shift) : NULL;
    PyObject *sum = up && lo ? PyNumber_Add(up, lo) : NULL;
    Py_XDECREF(hi), Py_XDECREF(lo), Py_XDECREF(shift), Py_XDECREF(up);
    return sum;
}

/* ---- the index's columns, each at the narrowest width its values allow ---- */

/* As columns.widened does: a column starts at its COLUMNS typecode and is widened
 * (B -> H -> I -> Q, or I -> q for st_size and st_blocks) when a value does not fit. */
typedef struct {
    buf_t b;
    size_t n;
    char code, signed_wide;
} col_t;

enum { C_NAME_AT, C_ATTR, C_SIZE, C_BLOCKS, C_MTIME, C_CTIME, C_INO, C_NLINK, C_LINK_ENTRY,
       C_LINK_AT, C_DIR_ENTRY, C_DIR_START, C_DIR_COUNT, C_DIR_PARENT, C_COUNT };
static const char *const col_names[C_COUNT] = {
    "name_at", "attr", "size", "blocks", "mtime", "ctime", "ino", "nlink", "link_entry",
    "link_at", "dir_entry", "dir_start", "dir_count", "dir_parent"};
static const char col_codes[C_COUNT] = "IBIIqqIHIIIIII";

static int width_of(char code) {
    switch (code) {
    case 'B': return 1;
    case 'H': return 2;
    case 'I': return 4;
    default: return 8;
    }
}

static uint64_t col_get(const col_t *c, size_t i) {
    const char *p = c->b.data + i * (size_t)width_of(c->code);
    switch (c->code) {
    case 'B': return *(const uint8_t *)p;
    case 'H': { uint16_t v; memcpy(&v, p, 2); return v; }
    case 'I': { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static void col_set(col_t *c, size_t i, uint64_t v) {
    char *p = c->b.data + i * (size_t)width_of(c->code);
    switch (c->code) {
    case 'B': *(uint8_t *)p = (uint8_t)v; break;
    case 'H': { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
    case 'I': { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
    default: memcpy(p, &v, 8);
    }
}

/* re-store every value at the width of `code` (wider), last first, in place */
static int col_widen(col_t *c, char code) {
    int from = width_of(c->code), to = width_of(code);
    if (buf_reserve(&c->b, c->n * (size_t)(to - from)) < 0) return -1;
    col_t old = *c;
    c->code = code;
    for (size_t i = c->n; i-- > 0;) col_set(c, i, col_get(&old, i));
    c->b.len = c->n * (size_t)to;
    (void)from;
    return 0;
}

static int col_push(col_t *c, uint64_t v, int negative) {
    for (;;) {
        char next;
        switch (c->code) {
        case 'B': if (!negative && v <= 0xff) goto store; next = 'H'; break;
        case 'H': if (!negative && v <= 0xffff) goto store; next = 'I'; break;
        case 'I': if (!negative && v <= 0xffffffffu) goto store; next = c->signed_wide ? 'q' : 'Q'; break;
        case 'q': if (negative || v <= (uint64_t)INT64_MAX) goto store; return -2;
        default: if (!negative) goto store; return -2; /* 'Q': never given a negative */
        }
        if (col_widen(c, next) < 0) return -1;
    }
store:
    if (buf_reserve(&c->b, 8) < 0) return -1;
    c->b.len += (size_t)width_of(c->code);
    col_set(c, c->n++, v);
    return 0;
}

static int col_push_u(col_t *c, uint64_t v) { return col_push(c, v, 0); }
static int col_push_s(col_t *c, int64_t v) { return col_push(c, (uint64_t)v, v < 0); }

/* ---- the layer's (kind, mode, uid, gid) table ---- */

typedef struct {
    uint32_t kindmode, uid, gid, id; /* id + 1; 0: empty */
} attr_slot_t;

typedef struct {
    attr_slot_t *slots;
    size_t cap, count;
    buf_t order; /* (kindmode, uid, gid) by id */
} attrs_t;

static size_t attr_hash(uint32_t km, uint32_t uid, uint32_t gid, size_t mask) {
    uint64_t h = ((uint64_t)km * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)uid * 0xC2B2AE3D27D4EB4FULL) ^
                 ((uint64_t)gid * 0x165667B19E3779F9ULL);
    return (size_t)(h ^ (h >> 29)) & mask;
}

static int attr_put(attr_slot_t *slots, size_t cap, attr_slot_t s) {
    size_t mask = cap - 1, i = attr_hash(s.kindmode, s.uid, s.gid, mask);
    while (slots[i].id) i = (i + 1) & mask;
    slots[i] = s;
    return 0;
}

/* the id of (kindmode, uid, gid), added if new; -1 when out of memory */
static int64_t attr_id(attrs_t *a, uint32_t km, uint32_t uid, uint32_t gid) {
    if (a->cap) {
        size_t mask = a->cap - 1, i = attr_hash(km, uid, gid, mask);
        for (; a->slots[i].id; i = (i + 1) & mask) {
            attr_slot_t *s = &a->slots[i];
            if (s->kindmode == km && s->uid == uid && s->gid == gid) return s->id - 1;
        }
    }
    if ((a->count + 1) * 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        attr_slot_t *slots = calloc(cap, sizeof *slots);
        if (!slots) return -1;
        for (size_t i = 0; i < a->cap; i++)
            if (a->slots[i].id) attr_put(slots, cap, a->slots[i]);
        free(a->slots);
        a->slots = slots;
        a->cap = cap;
    }
    uint32_t key[3] = {km, uid, gid};
    if (buf_add(&a->order, key, sizeof key) < 0) return -1;
    attr_slot_t s = {km, uid, gid, (uint32_t)(a->count + 1)};
    attr_put(a->slots, a->cap, s);
    return (int64_t)a->count++;
}

/* ---- the layer's sums (sizes.LayerSums) ---- */

typedef struct {
    uint64_t *slots; /* ino + 1 would overflow: 0 is tracked apart */
    size_t cap, count;
    int zero;
} inoset_t;

/* 1 if `ino` is new, 0 if seen, -1 when out of memory */
static int inoset_add(inoset_t *s, uint64_t ino) {
    if (ino == 0) {
        int fresh = !s->zero;
        s->zero = 1;
        return fresh;
    }
    if ((s->count + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        uint64_t *slots = calloc(cap, sizeof *slots);
        if (!slots) return -1;
        for (size_t i = 0; i < s->cap; i++) {
            uint64_t v = s->slots[i];
            if (!v) continue;
            size_t j = (size_t)((v * 0x9E3779B97F4A7C15ULL) >> 20) & (cap - 1);
            while (slots[j]) j = (j + 1) & (cap - 1);
            slots[j] = v;
        }
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    size_t j = (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 20) & (s->cap - 1);
    for (; s->slots[j]; j = (j + 1) & (s->cap - 1))
        if (s->slots[j] == ino) return 0;
    s->slots[j] = ino;
    s->count++;
    return 1;
}

typedef struct {
    int64_t blocks, size;
    uint64_t entry;
} big_t;

/* the order of sizes.largest_files: (blocks, size) descending, the earlier entry first */
static int big_less(const big_t *a, const big_t *b) {
    if (a->blocks != b->blocks) return a->blocks < b->blocks;
    if (a->size != b->size) return a->size < b->size;
    return a->entry > b->entry;
}

static int big_desc(const void *x, const void *y) {
    const big_t *a = x, *b = y;
    return big_less(b, a) ? -1 : big_less(a, b) ? 1 : 0;
}

typedef struct {
    __int128 blocks, apparent, docker;
    inoset_t seen; /* inodes with more than one link counted in `docker` */
    buf_t linked;  /* u64 entries: non-dirs with more than one link */
    big_t *largest;
    size_t nlargest, keep;
} sums_t;

/* offer a regular file to the min-heap of the `keep` largest */
static void offer_largest(sums_t *s, big_t e) {
    big_t *h = s->largest;
    size_t i;
    if (s->nlargest < s->keep) {
        i = s->nlargest++;
        while (i && big_less(&e, &h[(i - 1) / 2])) {
            h[i] = h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h[i] = e;
        return;
    }
    if (!s->keep || !big_less(&h[0], &e)) return;
    i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const big_t *least = &e;
        if (l < s->nlargest && big_less(&h[l], least)) m = l, least = &h[l];
        if (r < s->nlargest && big_less(&h[r], least)) m = r;
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    h[i] = e;
}

/* ---- the walk ---- */

typedef struct {
    size_t name, target, xattrs; /* offsets in the listing's text; NONE: none */
    uint32_t nlen, tlen;
    int err, kind;
    uint32_t mode, uid, gid;
    int64_t size, blocks, msec, csec;
    long mnsec, cnsec;
    uint64_t ino, nlink, rdev, dev;
} item_t;

typedef struct {
    int fd;               /* -1 once closed to stay within the fd window */
    uint64_t dev, ino;    /* what its parent's listing said it is */
    size_t path_len;      /* its path is w->path[0:path_len] ("" for the root) */
    uint64_t entry, slot, parent_slot;
    size_t pend_lo, npending; /* its subdirs yet to visit: pending[pend_lo:pend_lo+npending] */
} frame_t;

typedef struct {
    size_t name; /* offset in w->pnames */
    uint32_t nlen;
    int delegated; /* handed to another walk (`delegate`): skipped here, spliced in later */
    uint64_t dev, ino, entry;
} pend_t;

/* where a delegated subtree goes in this walk's index: its dir's entry, and the entry and
 * slot counts (and its parent's slot) at the point where this walk would have entered it */
typedef struct {
    uint64_t entry, at_entry, at_slot, parent_slot;
} splice_t;

typedef struct {
    PyObject_HEAD
    int xmode, ns, use_proc, busy, finished;
    size_t fd_window, batch;
    buf_t prefix; /* the content dir, for xattr paths without /proc */
    /* the walk */
    frame_t *frames;
    size_t depth, frames_cap;
    pend_t *pending;
    size_t npend, pend_cap;
    buf_t pnames; /* pending dirs' names, a stack as `pending` is */
    buf_t path;   /* the top frame's path, and while descending the child's */
    int listing, listing_done, read_error, done;
    uint64_t listed; /* entries read, the root included */
    /* the top frame's listing while it is read */
    item_t *items;
    size_t nitems, items_cap;
    buf_t text; /* its names, targets and xattr records */
    size_t *order, *rank;
    size_t order_cap;
    char *dents;
    buf_t xpath;
    xscratch_t xs;
    /* the index */
    col_t cols[C_COUNT];
    buf_t names, targets;
    uint64_t count;
    attrs_t attrs;
    buf_t rdevs; /* (u64 entry, u64 rdev) */
    buf_t wide;  /* (u64 entry, i64 msec, i64 mnsec, i64 csec, i64 cnsec) */
    sums_t sums;
    /* found since the last step, for Python */
    buf_t problems; /* i32 errno (0: replaced while scanning, -1: a splice), u32 length, the path */
    buf_t splices;  /* splice_t, in walk order */
    buf_t xattrs;   /* u64 entry, then a read_overlay record */
    int oom;
} Walk;

static int add_problem(Walk *w, const char *path, size_t len, int err) {
    int32_t code = err;
    uint32_t n = (uint32_t)len;
    if (buf_add(&w->problems, &code, 4) < 0 || buf_add(&w->problems, &n, 4) < 0 ||
        buf_add(&w->problems, path, len) < 0)
        return -1;
    return 0;
}

/* a problem at the top dir's child `name` */
static int add_child_problem(Walk *w, const char *name, size_t nlen, int err) {
    size_t plen = w->depth ? w->frames[w->depth - 1].path_len : 0;
    int32_t code = err;
    uint32_t n = (uint32_t)(plen + 1 + nlen);
    if (buf_add(&w->problems, &code, 4) < 0 || buf_add(&w->problems, &n, 4) < 0 ||
        buf_add(&w->problems, w->path.data, plen) < 0 || buf_add(&w->problems, "/", 1) < 0 ||
        buf_add(&w->problems, name, nlen) < 0)
        return -1;
    return 0;
}

/* Append one entry to the index; `rec` its overlay xattr record or NULL. */
static int add_entry(Walk *w, const item_t *it, const char *name, const char *target,
                     const char *rec) {
    uint64_t i = w->count;
    col_t *c = w->cols;
    if (buf_add(&w->names, name, it->nlen) < 0 || col_push_u(&c[C_NAME_AT], w->names.len) < 0)
        return -1;
    int64_t id = attr_id(&w->attrs, ((uint32_t)it->kind << 16) | (it->mode & 0xffff), it->uid,
                         it->gid);
    if (id < 0 || col_push_u(&c[C_ATTR], (uint64_t)id) < 0) return -1;
    int64_t mtime, ctime;
    if (!fits_ns(it->msec, it->mnsec, &mtime) || !fits_ns(it->csec, it->cnsec, &ctime)) {
        mtime = ctime = INT64_MIN;
        int64_t rec5[5] = {(int64_t)i, it->msec, it->mnsec, it->csec, it->cnsec};
        if (buf_add(&w->wide, rec5, sizeof rec5) < 0) return -1;
    }
    if (col_push_s(&c[C_SIZE], it->size) < 0 || col_push_s(&c[C_BLOCKS], it->blocks) < 0 ||
        col_push_s(&c[C_MTIME], mtime) < 0 || col_push_s(&c[C_CTIME], ctime) < 0 ||
        col_push_u(&c[C_INO], it->ino) < 0 || col_push_u(&c[C_NLINK], it->nlink) < 0)
        return -1;
    if (it->rdev) {
        uint64_t pair[2] = {i, it->rdev};
        if (buf_add(&w->rdevs, pair, sizeof pair) < 0) return -1;
    }
    if (target) {
        if (col_push_u(&c[C_LINK_ENTRY], i) < 0 || buf_add(&w->targets, target, it->tlen) < 0 ||
            col_push_u(&c[C_LINK_AT], w->targets.len) < 0)
            return -1;
    }
    if (rec) {
        if (buf_add(&w->xattrs, &i, 8) < 0 || buf_add(&w->xattrs, rec, record_size(rec)) < 0)
            return -1;
    }
    sums_t *s = &w->sums;
    s->blocks += it->blocks;
    if (it->kind != K_DIR && it->kind != K_OPAQUE_DIR) {
        s->apparent += it->size;
        /* each inode once: only one with more links can be met again (a hash set of
         * every inode cost a cache miss an entry, most of this function's time) */
        if (it->size && it->nlink > 1) {
            int fresh = inoset_add(&s->seen, it->ino);
            if (fresh < 0) return -1;
            if (fresh) s->docker += it->size;
        } else if (it->size) {
            s->docker += it->size;
        }
        if (it->nlink > 1 && buf_add(&s->linked, &i, 8) < 0) return -1;
        if (it->kind == K_FILE) offer_largest(s, (big_t){it->blocks, it->size, i});
    }
    w->count++;
    return 0;
}

static void fill_item(item_t *it, const struct stat *st) {
    it->mode = st->st_mode;
    it->uid = st->st_uid;
    it->gid = st->st_gid;
    it->size = st->st_size;
    it->blocks = st->st_blocks;
    it->msec = st->st_mtim.tv_sec;
    it->mnsec = st->st_mtim.tv_nsec;
    it->csec = st->st_ctim.tv_sec;
    it->cnsec = st->st_ctim.tv_nsec;
    it->ino = st->st_ino;
    it->nlink = st->st_nlink;
    it->rdev = st->st_rdev;
    it->dev = st->st_dev;
}

/* a path naming entry `name` of the top dir, for the xattr calls' path form */
static const char *xpath_of(Walk *w, int fd, const char *name, size_t nlen) {
    w->xpath.len = 0;
    if (w->use_proc) {
        char head[48];
        int n = snprintf(head, sizeof head, "/proc/self/fd/%d/", fd);
        if (buf_add(&w->xpath, head, (size_t)n) < 0) return NULL;
    } else {
        size_t plen = w->frames[w->depth - 1].path_len;
        if (buf_add(&w->xpath, w->prefix.data, w->prefix.len) < 0 ||
            buf_add(&w->xpath, w->path.data, plen) < 0 || buf_add(&w->xpath, "/", 1) < 0)
            return NULL;
    }
    if (buf_add(&w->xpath, name, nlen + 1) < 0) return NULL;
    return w->xpath.len <= PATH_MAX ? w->xpath.data : NULL;
}

/* Read more of the top dir's listing: `batch` more entries, or to its end. 0, or -1
 * when out of memory. Runs without the GIL. */
static int list_more(Walk *w, size_t *got) {
    int fd = w->frames[w->depth - 1].fd;
    size_t limit = w->nitems + w->batch;
    char link[PATH_MAX + 1];
    while (w->nitems < limit) {
        long n = syscall(SYS_getdents64, fd, w->dents, DENTS_BUF);
        if (n < 0) {
            if (errno == EINTR) continue;
            w->read_error = errno;
            w->listing_done = 1;
            break;
        }
        if (n == 0) {
            w->listing_done = 1;
            break;
        }
        for (long pos = 0; pos < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(w->dents + pos);
            pos += d->d_reclen;
            const char *name = d->d_name;
            if (is_dot_or_dotdot(name)) continue;
            if (w->nitems == w->items_cap) {
                size_t cap = w->items_cap ? w->items_cap * 2 : 256;
                item_t *items = realloc(w->items, cap * sizeof *items);
                if (!items) return -1;
                w->items = items;
                w->items_cap = cap;
            }
            item_t *it = &w->items[w->nitems++];
            size_t nlen = strlen(name);
            if (text_add(&w->text, name, nlen, &it->name) < 0) return -1;
            it->nlen = (uint32_t)nlen;
            it->target = it->xattrs = NONE;
            it->tlen = 0;
            it->err = 0;
            (*got)++;
            struct stat st;
            if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                it->err = errno;
                continue;
            }
            fill_item(it, &st);
            mode_t fmt = st.st_mode & S_IFMT;
            if (w->xmode == XATTR_ALL ||
                (w->xmode == XATTR_EMPTY_FILES && fmt == S_IFREG && st.st_size == 0)) {
                xref_t r = {fd, name, xpath_of(w, fd, name, nlen)};
                int err = read_overlay(&w->xs, &r, w->ns, &w->text, &it->xattrs);
                if (err == ENOMEM) return -1;
                if (err) {
                    it->err = err;
                    continue;
                }
            }
            if (fmt == S_IFLNK) {
                ssize_t tl = readlinkat(fd, name, link, sizeof link);
                if (tl < 0 || (size_t)tl >= sizeof link) {
                    it->err = tl < 0 ? errno : ENAMETOOLONG;
                    continue;
                }
                if (text_add(&w->text, link, (size_t)tl, &it->target) < 0) return -1;
                it->tlen = (uint32_t)tl;
            }
            it->kind = kind_of(st.st_mode, st.st_size, st.st_rdev,
                               it->xattrs == NONE ? NULL : w->text.data + it->xattrs);
            w->listed++;
        }
    }
    return 0;
}

static int by_name(const void *a, const void *b, void *arg) {
    Walk *w = arg;
    const char *text = w->text.data;
    return strcmp(text + w->items[*(const size_t *)a].name,
                  text + w->items[*(const size_t *)b].name);
}

/* The top dir's listing is read: report what could not be read, add the entries sorted
 * by name bytes, its slot, and its subdirs (in listing order) to the dirs to visit. */
static int finish_listing(Walk *w) {
    frame_t *f = &w->frames[w->depth - 1];
    const char *text;
    for (size_t i = 0; i < w->nitems; i++) {
        const item_t *it = &w->items[i];
        if (it->err && add_child_problem(w, w->text.data + it->name, it->nlen, it->err) < 0)
            return -1;
    }
    if (w->read_error) {
        int rc = f->path_len ? add_problem(w, w->path.data, f->path_len, w->read_error)
                             : add_problem(w, "/", 1, w->read_error);
        if (rc < 0) return -1;
    }
    if (w->nitems > w->order_cap) {
        size_t *order = realloc(w->order, w->nitems * sizeof *order);
        if (!order) return -1;
        w->order = order;
        size_t *rank = realloc(w->rank, w->nitems * sizeof *rank);
        if (!rank) return -1;
        w->rank = rank;
        w->order_cap = w->nitems;
    }
    size_t good = 0;
    for (size_t i = 0; i < w->nitems; i++)
        if (!w->items[i].err) w->order[good++] = i;
    qsort_r(w->order, good, sizeof *w->order, by_name, w);
    uint64_t first = w->count;
    text = w->text.data;
    for (size_t k = 0; k < good; k++) {
        const item_t *it = &w->items[w->order[k]];
        w->rank[w->order[k]] = k;
        if (add_entry(w, it, text + it->name, it->target == NONE ? NULL : text + it->target,
                      it->xattrs == NONE ? NULL : text + it->xattrs) < 0)
            return -1;
    }
    col_t *c = w->cols;
    f->slot = c[C_DIR_ENTRY].n;
    if (col_push_u(&c[C_DIR_ENTRY], f->entry) < 0 || col_push_u(&c[C_DIR_START], first) < 0 ||
        col_push_u(&c[C_DIR_COUNT], good) < 0 || col_push_u(&c[C_DIR_PARENT], f->parent_slot) < 0)
        return -1;
    /* the first subdir listed goes on top: visited first, as the Python walk does */
    f->pend_lo = w->npend;
    f->npending = 0;
    for (size_t i = w->nitems; i-- > 0;) {
        const item_t *it = &w->items[i];
        if (it->err || (it->mode & S_IFMT) != S_IFDIR) continue;
        if (w->npend == w->pend_cap) {
            size_t cap = w->pend_cap ? w->pend_cap * 2 : 256;
            pend_t *p = realloc(w->pending, cap * sizeof *p);
            if (!p) return -1;
            w->pending = p;
            w->pend_cap = cap;
        }
        pend_t *p = &w->pending[w->npend++];
        p->name = w->pnames.len;
        p->nlen = it->nlen;
        p->dev = it->dev;
        p->ino = it->ino;
        p->delegated = 0;
        p->entry = first + w->rank[i];
        if (buf_add(&w->pnames, text + it->name, it->nlen) < 0) return -1;
        f->npending++;
    }
    w->nitems = 0;
    w->text.len = 0;
    w->read_error = 0;
    w->listing = w->listing_done = 0;
    return 0;
}

static void close_below_window(Walk *w, size_t from, size_t top) {
    for (size_t m = from; m + w->fd_window < top + 1 && m <= top; m++) {
        if (w->frames[m].fd >= 0) {
            close(w->frames[m].fd);
            w->frames[m].fd = -1;
        }
    }
}

/* openat of a dir, not followed, without touching its atime where the kernel allows */
static int open_flags(void) { return O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC; }

static int open_dir_at(int dir_fd, const char *name) {
    int fd = openat(dir_fd, name, open_flags() | O_NOATIME);
    if (fd >= 0 || errno != EPERM) return fd;
    return openat(dir_fd, name, open_flags());
}

/* Open `name` in `parent` and check it is (dev, ino): the fd, or -1 with *err set
 * (0: another dir took its place). */
static int open_checked(int parent, const char *name, uint64_t dev, uint64_t ino, int *err) {
    int fd = open_dir_at(parent, name);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        *err = errno;
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_dev != dev || (uint64_t)st.st_ino != ino) {
        *err = 0;
        close(fd);
        return -1;
    }
    return fd;
}

/* Reopen the top frame's fd and those of the ancestors closed to save fds (walker's
 * `_reopen`). 1: the top's fd is open; 0: a dir could not be reopened (a problem),
 * and what lies below it is dropped; -1: out of memory. */
static int reopen(Walk *w) {
    size_t top = w->depth - 1, j = top, k;
    while (w->frames[j].fd < 0) j--; /* the root's is never closed */
    int ok = 1;
    for (k = j + 1; k <= top; k++) {
        frame_t *f = &w->frames[k];
        size_t from = w->frames[k - 1].path_len + 1, nlen = f->path_len - from;
        char name[NAME_MAX + 2];
        if (nlen > NAME_MAX) nlen = NAME_MAX + 1; /* cannot be: names come from getdents */
        memcpy(name, w->path.data + from, nlen);
        name[nlen] = '\0';
        int err = 0, fd = open_checked(w->frames[k - 1].fd, name, f->dev, f->ino, &err);
        if (fd < 0) {
            if (add_problem(w, w->path.data, f->path_len, err) < 0) return -1;
            ok = 0;
            break;
        }
        f->fd = fd;
    }
    if (!ok) {
        size_t lo = w->frames[k].pend_lo;
        if (lo < w->npend) w->pnames.len = w->pending[lo].name;
        w->npend = lo;
        for (size_t m = k; m <= top; m++) w->frames[m].npending = 0;
    }
    close_below_window(w, j + 1, top);
    return w->frames[top].fd >= 0;
}

/* Go into the top frame's next subdir: open it, check it is the dir listed, push it
 * and start its listing. 0 (a failure is a problem), or -1 when out of memory. */
static int descend(Walk *w) {
    size_t t = w->depth - 1;
    pend_t it = w->pending[--w->npend];
    w->frames[t].npending--;
    size_t plen = w->frames[t].path_len;
    w->path.len = plen;
    if (buf_reserve(&w->path, it.nlen + 2) < 0) return -1;
    w->path.data[plen] = '/';
    memcpy(w->path.data + plen + 1, w->pnames.data + it.name, it.nlen);
    w->path.len = plen + 1 + it.nlen;
    w->path.data[w->path.len] = '\0';
    w->pnames.len = it.name;
    if (it.delegated) { /* another walk reads it: note where its entries go */
        splice_t sp = {it.entry, w->count, w->cols[C_DIR_ENTRY].n, w->frames[t].slot};
        int rc = buf_add(&w->splices, &sp, sizeof sp) < 0 ||
                         add_problem(w, w->path.data, w->path.len, -1) < 0
                     ? -1
                     : 0;
        w->path.len = plen;
        return rc;
    }
    if (w->frames[t].fd < 0) {
        int r = reopen(w);
        if (r <= 0) {
            w->path.len = plen;
            return r;
        }
    }
    int err = 0, fd = open_checked(w->frames[t].fd, w->path.data + plen + 1, it.dev, it.ino, &err);
    if (fd < 0) {
        int rc = add_problem(w, w->path.data, w->path.len, err);
        w->path.len = plen;
        return rc;
    }
    if (w->depth == w->frames_cap) {
        size_t cap = w->frames_cap * 2;
        frame_t *frames = realloc(w->frames, cap * sizeof *frames);
        if (!frames) {
            close(fd);
            return -1;
        }
        w->frames = frames;
        w->frames_cap = cap;
    }
    frame_t *f = &w->frames[w->depth++];
    f->fd = fd;
    f->dev = it.dev;
    f->ino = it.ino;
    f->path_len = w->path.len;
    f->entry = it.entry;
    f->slot = 0;
    f->parent_slot = w->frames[t].slot;
    f->pend_lo = w->npend;
    f->npending = 0;
    if (w->depth > w->fd_window + 1) { /* the root's and the last fd_window stay open */
        frame_t *old = &w->frames[w->depth - w->fd_window - 1];
        if (old->fd >= 0) {
            close(old->fd);
            old->fd = -1;
        }
    }
    w->listing = 1;
    return 0;
}

static void pop_frame(Walk *w) {
    frame_t *f = &w->frames[--w->depth];
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    w->path.len = w->depth ? w->frames[w->depth - 1].path_len : 0;
}

/* Walk on until `budget` entries more are read (at a listing's batch or a dir's end),
 * or to the end. Runs without the GIL. 0, or -1 when out of memory. */
static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int advance(Walk *w, size_t budget, int64_t max_ns) {
    size_t got = 0;
    int64_t deadline = max_ns > 0 ? now_ns() + max_ns : 0;
    while (!w->done) {
        if (w->listing) {
            if (list_more(w, &got) < 0) return -1;
            if (w->listing_done && finish_listing(w) < 0) return -1;
            /* a cold page cache makes each listing slow: back in time, not only in entries */
            if (got >= budget || (deadline && got && now_ns() >= deadline)) break;
            continue;
        }
        if (!w->depth) {
            w->done = 1;
            break;
        }
        if (!w->frames[w->depth - 1].npending) {
            pop_frame(w);
            continue;
        }
        if (descend(w) < 0) return -1;
    }
    return 0;
}

static void close_fds(Walk *w) {
    while (w->depth) pop_frame(w);
}

static void free_index(Walk *w) {
    for (int i = 0; i < C_COUNT; i++) buf_free(&w->cols[i].b);
    buf_free(&w->names), buf_free(&w->targets), buf_free(&w->rdevs), buf_free(&w->wide);
    free(w->attrs.slots);
    w->attrs.slots = NULL;
    buf_free(&w->attrs.order);
    free(w->sums.seen.slots);
    w->sums.seen.slots = NULL;
    buf_free(&w->sums.linked);
    free(w->sums.largest);
    w->sums.largest = NULL;
}

static void free_walk_state(Walk *w) {
    free(w->frames), free(w->pending), free(w->items), free(w->order), free(w->rank);
    free(w->dents), free(w->xs.names), free(w->xs.value);
    w->frames = NULL, w->pending = NULL, w->items = NULL, w->order = w->rank = NULL;
    w->dents = w->xs.names = w->xs.value = NULL;
    w->order_cap = w->items_cap = w->pend_cap = w->frames_cap = 0;
    buf_free(&w->pnames), buf_free(&w->path), buf_free(&w->text), buf_free(&w->xpath);
    buf_free(&w->prefix), buf_free(&w->problems), buf_free(&w->xattrs), buf_free(&w->splices);
}

static void Walk_dealloc(Walk *w) {
    close_fds(w);
    free_walk_state(w);
    free_index(w);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

static int Walk_init(Walk *w, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"root_fd", "xattr_mode", "fd_window", "batch", "largest",
                             "content_dir", "use_proc", "namespace", NULL};
    int root_fd, xmode, use_proc, ns = NS_EITHER;
    Py_ssize_t fd_window, batch, largest;
    const char *prefix;
    Py_ssize_t prefix_len;
    if (w->frames) {
        PyErr_SetString(PyExc_RuntimeError, "a Walk is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iinnny#p|i", kwlist, &root_fd, &xmode,
                                     &fd_window, &batch, &largest, &prefix, &prefix_len,
                                     &use_proc, &ns))
        return -1;
    if (fd_window < 1 || batch < 1 || largest < 0) {
        PyErr_SetString(PyExc_ValueError, "fd_window and batch must be positive");
        return -1;
    }
    if (ns != NS_EITHER && ns != NS_TRUSTED && ns != NS_USER) {
        PyErr_SetString(PyExc_ValueError, "namespace must be 0 (either), 1 (trusted) or 2 (user)");
        return -1;
    }
    w->xmode = xmode;
    w->ns = ns;
    w->use_proc = use_proc;
    w->fd_window = (size_t)fd_window;
    w->batch = (size_t)batch;
    w->sums.keep = (size_t)largest;
    for (int i = 0; i < C_COUNT; i++) {
        w->cols[i].code = col_codes[i];
        w->cols[i].signed_wide = i == C_SIZE || i == C_BLOCKS;
    }
    w->frames_cap = 64;
    w->frames = malloc(w->frames_cap * sizeof *w->frames);
    w->dents = malloc(DENTS_BUF);
    w->xs.names_size = w->xs.value_size = 4096;
    w->xs.names = malloc(w->xs.names_size);
    w->xs.value = malloc(w->xs.value_size);
    w->sums.largest = malloc((w->sums.keep ? w->sums.keep : 1) * sizeof(big_t));
    if (!w->frames || !w->dents || !w->xs.names || !w->xs.value || !w->sums.largest ||
        buf_add(&w->prefix, prefix, (size_t)prefix_len) < 0 ||
        col_push_u(&w->cols[C_NAME_AT], 0) < 0 || col_push_u(&w->cols[C_LINK_AT], 0) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    /* the root: its entry, and the frame whose listing the first step reads */
    struct stat st;
    if (fstat(root_fd, &st) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    item_t root = {0};
    fill_item(&root, &st);
    root.xattrs = NONE;
    if (xmode == XATTR_ALL) {
        xref_t r = {root_fd, NULL, NULL};
        int err = read_overlay(&w->xs, &r, w->ns, &w->text, &root.xattrs);
        if (err) {
            errno = err;
            PyErr_SetFromErrno(err == ENOMEM ? PyExc_MemoryError : PyExc_OSError);
            return -1;
        }
    }
    const char *rec = root.xattrs == NONE ? NULL : w->text.data + root.xattrs;
    root.kind = kind_of(st.st_mode, st.st_size, st.st_rdev, rec);
    if (add_entry(w, &root, "", NULL, rec) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    w->text.len = 0;
    frame_t *f = &w->frames[0];
    memset(f, 0, sizeof *f);
    f->fd = root_fd; /* ours from here: closed when the walk ends */
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    w->depth = 1;
    w->listing = 1;
    w->listed = 1;
    return 0;
}

/* the problems and xattrs found since the last call, as Python lists */
static PyObject *take_problems(Walk *w) {
    PyObject *list = PyList_New(0);
    for (size_t off = 0; list && off < w->problems.len;) {
        int32_t code;
        uint32_t len;
        memcpy(&code, w->problems.data + off, 4);
        memcpy(&len, w->problems.data + off + 4, 4);
        PyObject *item = Py_BuildValue("(y#i)", w->problems.data + off + 8, (Py_ssize_t)len,
                                       (int)code);
        if (!item || PyList_Append(list, item) < 0) Py_CLEAR(list);
        Py_XDECREF(item);
        off += 8 + len;
    }
    w->problems.len = 0;
    return list;
}

static PyObject *take_xattrs(Walk *w) {
    PyObject *list = PyList_New(0);
    for (size_t off = 0; list && off < w->xattrs.len;) {
        uint64_t entry;
        memcpy(&entry, w->xattrs.data + off, 8);
        const char *rec = w->xattrs.data + off + 8;
        uint16_t count;
        memcpy(&count, rec + 1, 2);
        PyObject *values = PyDict_New();
        size_t at = 3;
        for (uint16_t k = 0; values && k < count; k++) {
            uint16_t klen;
            uint32_t vlen;
            memcpy(&klen, rec + at, 2);
            memcpy(&vlen, rec + at + 2 + klen, 4);
            PyObject *key = PyUnicode_DecodeFSDefaultAndSize(rec + at + 2, klen);
            PyObject *value = PyBytes_FromStringAndSize(rec + at + 2 + klen + 4, vlen);
            if (!key || !value || PyDict_SetItem(values, key, value) < 0) Py_CLEAR(values);
            Py_XDECREF(key), Py_XDECREF(value);
            at += 2 + (size_t)klen + 4 + vlen;
        }
        PyObject *item = values ? Py_BuildValue("(KNO)", (unsigned long long)entry, values,
                                                rec[0] ? Py_True : Py_False)
                                : NULL;
        if (!item || PyList_Append(list, item) < 0) Py_CLEAR(list);
        Py_XDECREF(item);
        off += 8 + at;
    }
    w->xattrs.len = 0;
    return list;
}

PyDoc_STRVAR(step_doc,
"step(budget, max_ns=0) -> (entries, done, problems, xattrs, current)\n"
"--\n\n"
"Walk on until `budget` more entries are read (checked between batches of a listing\n"
"and between dirs), or `max_ns` nanoseconds passed (when > 0; checked likewise), or\n"
"the tree ends, without the GIL. `entries`: read so far, the\n"
"root included; `problems`: (path bytes, errno, 0 for a dir replaced while scanning);\n"
"`xattrs`: (entry, {key: value bytes}, trusted) of the entries with overlay xattrs,\n"
"keys past '<namespace>.overlay.'; both since the last step. `current`: the path\n"
"(bytes, b'' for the root) of the dir being read.");

static PyObject *Walk_step(Walk *w, PyObject *args) {
    Py_ssize_t budget;
    long long max_ns = 0;
    if (!PyArg_ParseTuple(args, "n|L", &budget, &max_ns)) return NULL;
    if (!w->frames || w->busy || w->finished) {
        PyErr_SetString(PyExc_RuntimeError, "this Walk is busy, finished or not initialised");
        return NULL;
    }
    int rc = 0;
    w->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = advance(w, budget < 1 ? 1 : (size_t)budget, (int64_t)max_ns);
    Py_END_ALLOW_THREADS
    w->busy = 0;
    if (rc < 0) {
        w->done = 1;
        close_fds(w);
        return PyErr_NoMemory();
    }
    if (w->done) close_fds(w);
    size_t cur = w->depth ? w->frames[w->depth - 1].path_len : 0;
    PyObject *problems = take_problems(w), *xattrs = take_xattrs(w);
    if (!problems || !xattrs) {
        Py_XDECREF(problems), Py_XDECREF(xattrs);
        return NULL;
    }
    return Py_BuildValue("(KONNy#)", (unsigned long long)w->listed, w->done ? Py_True : Py_False,
                         problems, xattrs, w->path.data ? w->path.data : "", (Py_ssize_t)cur);
}

PyDoc_STRVAR(pending_doc,
"pending() -> list of bytes\n"
"--\n\n"
"The dirs the walk has yet to visit, relative to the root (no leading '/'), the\n"
"next one last: what a read-ahead should warm first.");

static PyObject *Walk_pending(Walk *w, PyObject *unused) {
    (void)unused;
    PyObject *list = PyList_New(0);
    for (size_t d = 0; list && d < w->depth; d++) {
        const frame_t *f = &w->frames[d];
        size_t plen = f->path_len ? f->path_len : 0;
        for (size_t p = f->pend_lo; p < f->pend_lo + f->npending; p++) {
            const pend_t *it = &w->pending[p];
            if (it->delegated) continue;
            buf_t rel = {0};
            int bad = (plen && (buf_add(&rel, w->path.data + 1, plen - 1) < 0 ||
                                buf_add(&rel, "/", 1) < 0)) ||
                      buf_add(&rel, w->pnames.data + it->name, it->nlen) < 0;
            PyObject *item = bad ? PyErr_NoMemory()
                                 : PyBytes_FromStringAndSize(rel.data, (Py_ssize_t)rel.len);
            buf_free(&rel);
            if (!item || PyList_Append(list, item) < 0) Py_CLEAR(list);
            Py_XDECREF(item);
        }
    }
    return list;
}

PyDoc_STRVAR(delegate_doc,
"delegate() -> list of (bytes, int, int)\n"
"--\n\n"
"Hand subtrees this walk has yet to enter to another walk: half of the pending subdirs\n"
"of the shallowest dir with two or more (those it would enter last), else the\n"
"shallowest single one (none when only one is left in all). Returns each one's path relative to the root (no leading '/'),\n"
"and the (dev, ino) its listing gave. This walk then skips them, noting where each\n"
"one's entries go (a problem with errno -1 at its path, and `splices`).");

static PyObject *Walk_delegate(Walk *w, PyObject *unused) {
    (void)unused;
    PyObject *list = PyList_New(0);
    if (!list || !w->frames || w->busy || w->finished || w->done) return list;
    size_t pick = NONE, single = NONE, count = 0, total = 0;
    for (size_t d = 0; d < w->depth; d++) {
        const frame_t *f = &w->frames[d];
        size_t n = 0;
        for (size_t p = f->pend_lo; p < f->pend_lo + f->npending; p++) n += !w->pending[p].delegated;
        total += n;
        if (n >= 2) {
            pick = d;
            count = n / 2;
            break;
        }
        if (n == 1 && single == NONE) single = d;
    }
    if (pick == NONE) {
        /* one subtree left in all: it is this walk's own next work, not to be given away */
        if (single == NONE || total < 2) return list;
        pick = single;
        count = 1;
    }
    const frame_t *f = &w->frames[pick];
    for (size_t p = f->pend_lo; p < f->pend_lo + f->npending && count; p++) {
        pend_t *it = &w->pending[p];
        if (it->delegated) continue;
        buf_t rel = {0};
        int bad = (f->path_len && (buf_add(&rel, w->path.data + 1, f->path_len - 1) < 0 ||
                                   buf_add(&rel, "/", 1) < 0)) ||
                  buf_add(&rel, w->pnames.data + it->name, it->nlen) < 0;
        PyObject *item = bad ? PyErr_NoMemory()
                             : Py_BuildValue("(y#KK)", rel.data, (Py_ssize_t)rel.len,
                                             (unsigned long long)it->dev,
                                             (unsigned long long)it->ino);
        buf_free(&rel);
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
        it->delegated = 1;
        count--;
    }
    return list;
}

PyDoc_STRVAR(splices_doc,
"splices() -> list of (entry, at_entry, at_slot, parent_slot)\n"
"--\n\n"
"The delegated subtrees this walk reached, in walk order (as the problems with errno -1\n"
"came): the entry of the subtree's dir, the entry and slot counts where its entries\n"
"and slots go, and the slot of the dir listing it.");

static PyObject *Walk_splices(Walk *w, PyObject *unused) {
    (void)unused;
    PyObject *list = PyList_New(0);
    for (size_t off = 0; list && off + sizeof(splice_t) <= w->splices.len; off += sizeof(splice_t)) {
        splice_t sp;
        memcpy(&sp, w->splices.data + off, sizeof sp);
        PyObject *item = Py_BuildValue("(KKKK)", (unsigned long long)sp.entry,
                                       (unsigned long long)sp.at_entry,
                                       (unsigned long long)sp.at_slot,
                                       (unsigned long long)sp.parent_slot);
        if (!item || PyList_Append(list, item) < 0) Py_CLEAR(list);
        Py_XDECREF(item);
    }
    return list;
}

/* the column as an array.array of its typecode; its buffer is freed */
static PyObject *array_of(PyObject *array_type, col_t *c) {
    PyObject *arr = PyObject_CallFunction(array_type, "C", (int)c->code);
    if (!arr) return NULL;
    Py_ssize_t size = (Py_ssize_t)(c->n * (size_t)width_of(c->code));
    PyObject *view = PyMemoryView_FromMemory(c->b.data ? c->b.data : (char *)"", size, PyBUF_READ);
    PyObject *done = view ? PyObject_CallMethod(arr, "frombytes", "O", view) : NULL;
    Py_XDECREF(view);
    if (!done) {
        Py_DECREF(arr);
        return NULL;
    }
    Py_DECREF(done);
    buf_free(&c->b);
    return arr;
}

PyDoc_STRVAR(finish_doc,
"finish() -> (names, targets, columns, attrs, rdevs, wide_times, sums)\n"
"--\n\n"
"The index, once `step` said done: the names and targets blobs; (name, array) per\n"
"column of columns.COLUMNS, each of the typecode its values need; (kind code, mode, uid, gid) per attr id;\n"
"(entry, rdev) where non-zero; (entry, mtime_ns, ctime_ns) of times past 64 bits;\n"
"(blocks, apparent, docker, linked, largest) as sizes.LayerSums holds them.");

static PyObject *Walk_finish(Walk *w, PyObject *unused) {
    (void)unused;
    if (!w->done || w->busy || w->finished) {
        PyErr_SetString(PyExc_RuntimeError, "the walk is not done, or already finished");
        return NULL;
    }
    PyObject *columns = PyTuple_New(C_COUNT), *attrs = NULL, *rdevs = NULL, *wide = NULL,
             *linked = NULL, *largest = NULL, *result = NULL;
    PyObject *array_mod = PyImport_ImportModule("array");
    PyObject *array_type = array_mod ? PyObject_GetAttrString(array_mod, "array") : NULL;
    Py_XDECREF(array_mod);
    if (!array_type) Py_CLEAR(columns);
    for (int i = 0; columns && i < C_COUNT; i++) {
        PyObject *arr = array_of(array_type, &w->cols[i]);
        PyObject *item = arr ? Py_BuildValue("(sN)", col_names[i], arr) : NULL;
        if (!item) Py_CLEAR(columns);
        else PyTuple_SET_ITEM(columns, i, item);
    }
    Py_XDECREF(array_type);
    if (!columns) goto done;
    size_t nattrs = w->attrs.count;
    if (!(attrs = PyList_New((Py_ssize_t)nattrs))) goto done;
    for (size_t i = 0; i < nattrs; i++) {
        uint32_t key[3];
        memcpy(key, w->attrs.order.data + i * sizeof key, sizeof key);
        PyObject *item = Py_BuildValue("(IIII)", key[0] >> 16, key[0] & 0xffff, key[1], key[2]);
        if (!item) goto done;
        PyList_SET_ITEM(attrs, (Py_ssize_t)i, item);
    }
    if (!(rdevs = PyList_New(0)) || !(wide = PyList_New(0)) || !(linked = PyList_New(0)) ||
        !(largest = PyList_New(0)))
        goto done;
    for (size_t off = 0; off < w->rdevs.len; off += 16) {
        uint64_t pair[2];
        memcpy(pair, w->rdevs.data + off, sizeof pair);
        PyObject *item = Py_BuildValue("(KK)", (unsigned long long)pair[0],
                                       (unsigned long long)pair[1]);
        if (!item || PyList_Append(rdevs, item) < 0) {
            Py_XDECREF(item);
            goto done;
        }
        Py_DECREF(item);
    }
    for (size_t off = 0; off < w->wide.len; off += 40) {
        int64_t r[5];
        memcpy(r, w->wide.data + off, sizeof r);
        PyObject *item = Py_BuildValue("(LNN)", (long long)r[0], ns_of(r[1], (long)r[2]),
                                       ns_of(r[3], (long)r[4]));
        if (!item || PyList_Append(wide, item) < 0) {
            Py_XDECREF(item);
            goto done;
        }
        Py_DECREF(item);
    }
    sums_t *s = &w->sums;
    for (size_t off = 0; off < s->linked.len; off += 8) {
        uint64_t i;
        memcpy(&i, s->linked.data + off, 8);
        PyObject *item = PyLong_FromUnsignedLongLong(i);
        if (!item || PyList_Append(linked, item) < 0) {
            Py_XDECREF(item);
            goto done;
        }
        Py_DECREF(item);
    }
    qsort(s->largest, s->nlargest, sizeof *s->largest, big_desc);
    for (size_t k = 0; k < s->nlargest; k++) {
        PyObject *item = PyLong_FromUnsignedLongLong(s->largest[k].entry);
        if (!item || PyList_Append(largest, item) < 0) {
            Py_XDECREF(item);
            goto done;
        }
        Py_DECREF(item);
    }
    PyObject *blocks = long_of_128(s->blocks), *apparent = long_of_128(s->apparent),
             *docker = long_of_128(s->docker);
    PyObject *sums = blocks && apparent && docker
                         ? Py_BuildValue("(NNNOO)", blocks, apparent, docker, linked, largest)
                         : NULL;
    if (!sums) {
        Py_XDECREF(blocks), Py_XDECREF(apparent), Py_XDECREF(docker);
        goto done;
    }
    result = Py_BuildValue("(y#y#OOOON)", w->names.data ? w->names.data : "",
                           (Py_ssize_t)w->names.len, w->targets.data ? w->targets.data : "",
                           (Py_ssize_t)w->targets.len, columns, attrs, rdevs, wide, sums);
    if (result) {
        w->finished = 1;
        free_index(w);
    }
done:
    Py_XDECREF(columns), Py_XDECREF(attrs), Py_XDECREF(rdevs), Py_XDECREF(wide);
    Py_XDECREF(linked), Py_XDECREF(largest);
    return result;
}

PyDoc_STRVAR(close_doc, "close()\n--\n\nClose every fd the walk holds, the root's included.");

static PyObject *Walk_close(Walk *w, PyObject *unused) {
    (void)unused;
    if (w->busy) {
        PyErr_SetString(PyExc_RuntimeError, "this Walk is busy");
        return NULL;
    }
    close_fds(w);
    w->done = 1;
    Py_RETURN_NONE;
}

static PyMethodDef Walk_methods[] = {
    {"step", (PyCFunction)Walk_step, METH_VARARGS, step_doc},
    {"pending", (PyCFunction)Walk_pending, METH_NOARGS, pending_doc},
    {"finish", (PyCFunction)Walk_finish, METH_NOARGS, finish_doc},
    {"close", (PyCFunction)Walk_close, METH_NOARGS, close_doc},
    {"delegate", (PyCFunction)Walk_delegate, METH_NOARGS, delegate_doc},
    {"splices", (PyCFunction)Walk_splices, METH_NOARGS, splices_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(Walk_doc,
"Walk(root_fd, xattr_mode, fd_window, batch, largest, content_dir, use_proc, namespace=0)\n"
"--\n\n"
"The walk of the tree below the open dir `root_fd` (the walk's from here: `close`\n"
"or the end of the walk closes it), as walker.py's: subdirs opened relative to their\n"
"parent's fd (O_NOFOLLOW, O_NOATIME where allowed) and checked against their listing,\n"
"the root's and the last `fd_window` fds kept open, listings read `batch` entries at a\n"
"time. `xattr_mode`: 0 reads no xattrs, 1 those of empty regular files, 2 every entry's;\n"
"by listxattrat where the kernel has it, else by /proc/self/fd/N/NAME (`use_proc`) or\n"
"`content_dir` + the entry's path. `largest`: regular files kept in the sums.\n"
"`namespace`: whose overlay xattrs are overlay metadata: 1 trusted.overlay.* (a rootful\n"
"mount), 2 user.overlay.* (rootless, userxattr), 0 either, trusted winning.\n"
"Raises OSError when the root cannot be read (fstat, its xattrs).");

static PyTypeObject WalkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "overlayscope.scan._listdir.Walk",
    .tp_basicsize = sizeof(Walk),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Walk_doc,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Walk_init,
    .tp_dealloc = (destructor)Walk_dealloc,
    .tp_methods = Walk_methods,
};

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

/* The openat2 system call itself: -1 and errno on failure (ENOSYS before Linux 5.6). */
static long openat2_call(int dir_fd, const char *path, uint64_t flags, uint64_t resolve) {
    struct open_how_v0 how = {flags, 0, resolve};
    return syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
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
        const uint64_t resolve = RESOLVE_BENEATH_ | RESOLVE_NO_SYMLINKS_ | RESOLVE_NO_MAGICLINKS_;
        const char *at = *rel ? rel : ".";
        long fd = openat2_call(root_fd, at, (uint64_t)(open_flags() | O_NOATIME), resolve);
        if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership */
            fd = openat2_call(root_fd, at, (uint64_t)open_flags(), resolve);
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
"RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), list it and lstat its subdirs and one other\n"
"entry in 16 (every entry where the filesystem gives no d_type), discarding what it\n"
"reads: the kernel keeps the dir blocks and inode-table blocks cached for the walk.\n"
"Runs without the GIL; stops early once `stop[0]` (a bytearray) is non-zero.\n"
"Returns the names (bytes) of its subdirectories, or -errno when `relpath` could\n"
"not be opened.");

/* warm_dir lstats one non-dir entry in this many: 16 inodes of 256 bytes fill a 4 KiB
   block of an ext4 inode table (measured on a real engine's root, cold: as fast as one
   in 64 or none, ~8% faster than every entry). */
#define WARM_STAT_EVERY 16

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
    buf_t names = {0};
    int err = 0, oom = 0;
    size_t count = 0, seen = 0;
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
            int is_dir;
            if (d->d_type != DT_UNKNOWN) {
                is_dir = d->d_type == DT_DIR;
                /* Every dir's inode, and one other in WARM_STAT_EVERY: that one brings
                   its inode-table block (and ext4's own inode read-ahead) into the
                   cache for its neighbours, and the walk's own lstat of each entry
                   builds its inode once, not twice. */
                if (is_dir || seen++ % WARM_STAT_EVERY == 0)
                    (void)fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW);
            } else {  /* a filesystem that gives no type: lstat tells */
                is_dir = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
            }
            if (is_dir) {
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
    buf_free(&names);
    return result;
}

PyDoc_STRVAR(open_subdir_doc,
"open_subdir(root_fd, relpath, dev, ino) -> (fd, errno)\n"
"--\n\n"
"Open the dir `relpath` (bytes, '/'-separated) below the open dir `root_fd` as a walk\n"
"opens a subdir (no symlink followed, nothing outside the root: openat2 with\n"
"RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; O_NOATIME where allowed) and check it is the\n"
"dir (dev, ino) a listing named. Returns (fd, 0), or (-1, errno), or (-1, 0) when\n"
"another dir took its place.");

static PyObject *open_subdir(PyObject *self, PyObject *args) {
    (void)self;
    int root_fd;
    const char *relpath;
    Py_ssize_t rel_len;
    unsigned long long dev, ino;
    if (!PyArg_ParseTuple(args, "iy#KK", &root_fd, &relpath, &rel_len, &dev, &ino)) return NULL;
    char *rel = PyMem_Malloc((size_t)rel_len + 1);
    if (!rel) return PyErr_NoMemory();
    memcpy(rel, relpath, (size_t)rel_len);
    rel[rel_len] = '\0';
    int fd, err = 0;
    Py_BEGIN_ALLOW_THREADS
    fd = open_beneath(root_fd, rel);
    if (fd < 0) {
        err = errno;
    } else {
        struct stat st;
        if (fstat(fd, &st) < 0) err = errno;
        else if ((uint64_t)st.st_dev != dev || (uint64_t)st.st_ino != ino) err = 0;
        else err = -1;
        if (err >= 0) {
            close(fd);
            fd = -1;
        } else {
            err = 0;
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(rel);
    return Py_BuildValue("(ii)", fd, err);
}

PyDoc_STRVAR(remap_doc,
"remap(src, start, stop, add, bounds, shifts, code) -> array\n"
"--\n\n"
"The values src[start:stop] (an array of unsigned integers) moved for a merged index:\n"
"each v becomes v + add + shifts[k], k the number of `bounds` (ascending) <= v, as an\n"
"array of typecode `code`. Raises OverflowError when a value does not fit `code`.");

static PyObject *remap(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer src;
    Py_ssize_t start, stop;
    long long add;
    PyObject *src_obj, *bounds_obj, *shifts_obj;
    int code;
    if (!PyArg_ParseTuple(args, "OnnLOOC", &src_obj, &start, &stop, &add, &bounds_obj,
                          &shifts_obj, &code))
        return NULL;
    /* with its format: an array's items, not its bytes */
    if (PyObject_GetBuffer(src_obj, &src, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) return NULL;
    PyObject *result = NULL, *bounds = NULL, *shifts = NULL, *raw = NULL;
    char fmt = src.format ? src.format[0] : 'B';
    int width = fmt == 'B' ? 1 : fmt == 'H' ? 2 : fmt == 'I' ? 4 : fmt == 'L' || fmt == 'Q' ? 8 : 0;
    int out_w = code == 'B' ? 1 : code == 'H' ? 2 : code == 'I' ? 4 : code == 'Q' ? 8 : 0;
    if (!width || !out_w || src.itemsize != width || start < 0 || stop < start ||
        stop * width > src.len) {
        PyErr_SetString(PyExc_ValueError, "remap: an unsigned array, a range in it, a code BHIQ");
        goto done;
    }
    bounds = PySequence_Fast(bounds_obj, "bounds: a sequence");
    shifts = bounds ? PySequence_Fast(shifts_obj, "shifts: a sequence") : NULL;
    if (!shifts) goto done;
    Py_ssize_t nb = PySequence_Fast_GET_SIZE(bounds);
    if (PySequence_Fast_GET_SIZE(shifts) != nb + 1) {
        PyErr_SetString(PyExc_ValueError, "remap: one shift more than bounds");
        goto done;
    }
    uint64_t *b = PyMem_Malloc(((size_t)nb + 1) * sizeof *b);
    int64_t *sh = PyMem_Malloc(((size_t)nb + 1) * sizeof *sh);
    if (!b || !sh) {
        PyMem_Free(b), PyMem_Free(sh);
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k <= nb; k++) {
        sh[k] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(shifts, k)) + add;
        if (k < nb) b[k] = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(bounds, k));
    }
    if (PyErr_Occurred()) {
        PyMem_Free(b), PyMem_Free(sh);
        goto done;
    }
    Py_ssize_t n = stop - start;
    raw = PyBytes_FromStringAndSize(NULL, n * out_w);
    if (!raw) {
        PyMem_Free(b), PyMem_Free(sh);
        goto done;
    }
    char *out = PyBytes_AS_STRING(raw);
    const char *in = (const char *)src.buf + start * width;
    uint64_t limit = out_w == 8 ? UINT64_MAX : (1ULL << (8 * out_w)) - 1;
    int overflow = 0;
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t v;
        switch (width) {
        case 1: v = ((const uint8_t *)in)[i]; break;
        case 2: { uint16_t x; memcpy(&x, in + 2 * i, 2); v = x; break; }
        case 4: { uint32_t x; memcpy(&x, in + 4 * i, 4); v = x; break; }
        default: memcpy(&v, in + 8 * i, 8);
        }
        /* values mostly ascend: move k from where the last one was */
        while (k < nb && b[k] <= v) k++;
        while (k > 0 && b[k - 1] > v) k--;
        int64_t moved = (int64_t)v + sh[k];
        if (moved < 0 || (uint64_t)moved > limit) {
            overflow = 1;
            break;
        }
        uint64_t m = (uint64_t)moved;
        switch (out_w) {
        case 1: ((uint8_t *)out)[i] = (uint8_t)m; break;
        case 2: { uint16_t x = (uint16_t)m; memcpy(out + 2 * i, &x, 2); break; }
        case 4: { uint32_t x = (uint32_t)m; memcpy(out + 4 * i, &x, 4); break; }
        default: memcpy(out + 8 * i, &m, 8);
        }
    }
    PyMem_Free(b), PyMem_Free(sh);
    if (overflow) {
        PyErr_SetString(PyExc_OverflowError, "remap: a value does not fit the typecode");
        goto done;
    }
    PyObject *array_mod = PyImport_ImportModule("array");
    PyObject *array_type = array_mod ? PyObject_GetAttrString(array_mod, "array") : NULL;
    Py_XDECREF(array_mod);
    if (!array_type) goto done;
    result = PyObject_CallFunction(array_type, "CO", code, raw);
    Py_DECREF(array_type);
done:
    Py_XDECREF(bounds), Py_XDECREF(shifts), Py_XDECREF(raw);
    PyBuffer_Release(&src);
    return result;
}

PyDoc_STRVAR(openat2_doc,
"openat2(dir_fd, path, flags, resolve) -> fd\n"
"--\n\n"
"The openat2 system call: `path` (bytes) below the open dir `dir_fd`, with open(2)'s\n"
"`flags` and openat2's `resolve` flags (union/layerfiles.py: RESOLVE_BENEATH |\n"
"RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS). OSError with the errno on failure\n"
"(ENOSYS before Linux 5.6). Runs without the GIL.");

static PyObject *openat2_(PyObject *Py_UNUSED(self), PyObject *args) {
    int dir_fd, flags;
    unsigned long long resolve;
    const char *path;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "iy#iK", &dir_fd, &path, &len, &flags, &resolve)) return NULL;
    if ((size_t)len != strlen(path)) {
        PyErr_SetString(PyExc_ValueError, "embedded null byte");
        return NULL;
    }
    long fd;
    Py_BEGIN_ALLOW_THREADS
    fd = openat2_call(dir_fd, path, (uint64_t)(unsigned)flags, (uint64_t)resolve);
    Py_END_ALLOW_THREADS
    if (fd < 0) return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong(fd);
}

#ifdef __GLIBC__
PyDoc_STRVAR(trim_heap_doc,
"trim_heap() -> None\n\n"
"glibc's malloc_trim(0): the heap's free memory back to the system (scan/memory.py).\n"
"Defined only where the C library has that call.");

static PyObject *trim_heap(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(unused)) {
    Py_BEGIN_ALLOW_THREADS
    malloc_trim(0);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}
#endif

static PyMethodDef methods[] = {
#ifdef __GLIBC__
    {"trim_heap", trim_heap, METH_NOARGS, trim_heap_doc},
#endif
    {"openat2", openat2_, METH_VARARGS, openat2_doc},
    {"warm_dir", warm_dir, METH_VARARGS, warm_dir_doc},
    {"open_subdir", open_subdir, METH_VARARGS, open_subdir_doc},
    {"remap", remap, METH_VARARGS, remap_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_listdir",
    "The scanner's walk of a layer tree in C, without the GIL (see walker.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__listdir(void) {
    if (PyType_Ready(&WalkType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&WalkType);
    if (PyModule_AddObject(m, "Walk", (PyObject *)&WalkType) < 0) {
        Py_DECREF(&WalkType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
