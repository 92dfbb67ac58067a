/*
 * The base of the objects in shared memory (shared_object.h): the segment,
 * its users, its random name, the tracker, and the reference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "context.h"
#include "shared_object.h"

#define SHOBJ_MAGIC 0x4d50534fu /* "MPSO" */
#define SLOT MPROC__OS_SYNC_SLOT

int mproc__check_fork_only(const char *what)
{
    if (mproc__os_can_fork())
        return 0;
    return mproc__set_error(MPROC_ENOTSUP,
                            "a fork-only %s needs the fork start method, "
                            "which this platform lacks; create it without "
                            ".fork_only",
                            what);
}

/* The header takes whole slots so that the OS objects stay aligned. */
static size_t slots_offset(const mproc__shobj_class_t *cls)
{
    return (cls->header_size + SLOT - 1) / SLOT * SLOT;
}

static size_t fixed_size(const mproc__shobj_class_t *cls)
{
    return slots_offset(cls) + (size_t) cls->slots * SLOT;
}

void *mproc__shobj_slot(const mproc__shobj_t *o, unsigned i)
{
    return (char *) o->hdr + slots_offset(o->cls) + (size_t) i * SLOT;
}

void *mproc__shobj_extra(const mproc__shobj_t *o)
{
    return (char *) o->hdr + fixed_size(o->cls);
}

const char *mproc__shobj_sub_name(const mproc__shobj_t *o, const char *tag,
                                  char buf[MPROC__SHOBJ_SUB_NAME_LEN])
{
    if (o->name[0] == '\0')
        return NULL;
    snprintf(buf, MPROC__SHOBJ_SUB_NAME_LEN, "%.22s.%.3s", o->name, tag);
    return buf;
}

int mproc__shobj_track_sub(mproc__shobj_t *o, const char *tag,
                           void (*unlink)(const char *name))
{
    char n[MPROC__SHOBJ_SUB_NAME_LEN];
    int rc;
    if (o->name[0] == '\0')
        return 0;
    if (o->nsub == MPROC__SHOBJ_MAX_SUB)
        return mproc__set_error(MPROC_ERANGE, "too many files to track");
    rc = mproc__os_track(mproc__shobj_sub_name(o, tag, n));
    if (rc != 0)
        return rc;
    snprintf(o->sub[o->nsub], sizeof o->sub[0], "%s", tag);
    o->sub_unlink[o->nsub++] = unlink;
    return 0;
}

void mproc__shobj_random_name(char name[MPROC__SHOBJ_NAME_LEN])
{
    unsigned char r[8];
    int i;
    mproc__random_bytes(r, sizeof r);
    memcpy(name, "mproc-", 6);
    for (i = 0; i < 8; i++)
        snprintf(name + 6 + 2 * i, 3, "%02x", r[i]);
}

/* Creates a segment of @size bytes, named at random into @name. */
static int shm_create_named(mproc__os_shm_t **shm, char *name, size_t size)
{
    int rc, attempt;
    /* A random name; a clash is astronomically rare but retried. */
    for (attempt = 0;; attempt++) {
        mproc__shobj_random_name(name);
        rc = mproc__os_shm_create(shm, name, size);
        if (rc != MPROC_EEXIST || attempt == 100)
            return rc;
    }
}

static int segment_create(mproc__shobj_t *o, size_t size, int fork_only)
{
    const char *what = mproc__ref_kind_name(o->cls->kind);
    mproc__shobj_header_t *h;
    int rc;
    if (fork_only) {
        rc = mproc__check_fork_only(what);
        if (rc == 0)
            rc = mproc__os_shm_create(&o->shm, NULL, size);
    } else {
        rc = shm_create_named(&o->shm, o->name, size);
        if (rc == 0) {
            rc = mproc__os_track(o->name);
            if (rc != 0) {
                mproc__os_shm_close(o->shm);
                mproc__os_shm_unlink(o->name);
                o->shm = NULL;
            }
        }
    }
    if (rc != 0) {
        o->name[0] = '\0';
        return rc;
    }
    h = o->hdr = mproc__os_shm_addr(o->shm);
    h->magic = SHOBJ_MAGIC;
    h->kind = (uint32_t) o->cls->kind;
    h->users = 1;
    return 0;
}

/*
 * Maps the segment named @name: the header first if the kind keeps a size
 * there, then the whole of it, and checks that it is an object of the kind.
 */
static int segment_open(mproc__shobj_t *o, const char *name)
{
    const mproc__shobj_class_t *cls = o->cls;
    const char *what = mproc__ref_kind_name(cls->kind);
    size_t size = fixed_size(cls);
    const mproc__shobj_header_t *h;
    int rc;
    /* Only a name of ours, the one check the tracker makes too. */
    if (name == NULL || strlen(name) >= MPROC__SHOBJ_NAME_LEN ||
        !mproc__tracker_name_ok(name, strlen(name)))
        return mproc__set_error(MPROC_EINVAL, "not the name of an mproc %s",
                                what);
    if (cls->extra_of != NULL) {
        mproc__os_shm_t *probe;
        rc = mproc__os_shm_open(&probe, name, cls->header_size);
        if (rc != 0)
            return rc;
        h = mproc__os_shm_addr(probe);
        if (h->magic == SHOBJ_MAGIC && h->kind == (uint32_t) cls->kind)
            size += (size_t) cls->extra_of(h);
        else
            size = cls->header_size;
        rc = mproc__os_shm_open(&o->shm, name, size);
        mproc__os_shm_close(probe);
    } else {
        rc = mproc__os_shm_open(&o->shm, name, size);
    }
    if (rc != 0)
        return rc;
    h = o->hdr = mproc__os_shm_addr(o->shm);
    if (h->magic != SHOBJ_MAGIC || h->kind != (uint32_t) cls->kind) {
        mproc__os_shm_close(o->shm);
        o->shm = NULL;
        return mproc__set_error(MPROC_EINVAL, "'%s' is not an mproc %s", name,
                                what);
    }
    rc = mproc__os_track(name);
    if (rc != 0) {
        mproc__os_shm_close(o->shm);
        o->shm = NULL;
        return rc;
    }
    snprintf(o->name, sizeof o->name, "%s", name);
    mproc__atomic_inc32(&((mproc__shobj_header_t *) o->hdr)->users);
    return 0;
}

/* Lets go of the segment; the last user removes the names. */
static void segment_close(mproc__shobj_t *o)
{
    char n[MPROC__SHOBJ_SUB_NAME_LEN];
    unsigned i;
    int last;
    if (o->shm == NULL)
        return;
    last = mproc__atomic_dec32(&((mproc__shobj_header_t *) o->hdr)->users) == 0;
    mproc__os_shm_close(o->shm);
    o->shm = NULL;
    if (o->name[0] == '\0')
        return;
    if (last) {
        mproc__os_shm_unlink(o->name);
        for (i = 0; i < o->nsub; i++)
            o->sub_unlink[i](mproc__shobj_sub_name(o, o->sub[i], n));
    }
    for (i = 0; i < o->nsub; i++)
        mproc__os_untrack(mproc__shobj_sub_name(o, o->sub[i], n));
    mproc__os_untrack(o->name);
}

/*
 * The common path of create and open: a zeroed handle, its segment, the
 * kind's setup, and the owned list.
 */
static int shobj_new(void **out, const mproc__shobj_class_t *cls,
                     const char *name, size_t extra, int fork_only,
                     const void *arg)
{
    mproc__shobj_t *o;
    int rc;
    *out = NULL;
    /* A named object is tracked, and the tracker is a process. */
    rc = mproc__runtime_check(name != NULL ? "open a named object"
                                           : "create a named object");
    if (rc != 0)
        return rc;
    o = calloc(1, cls->obj_size);
    if (o == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    o->cls = cls;
    rc = name != NULL ? segment_open(o, name)
                      : segment_create(o, fixed_size(cls) + extra, fork_only);
    if (rc == 0) {
        rc = cls->setup(o, name == NULL, arg);
        if (rc != 0) {
            if (cls->teardown != NULL)
                cls->teardown(o);
            segment_close(o);
        }
    }
    if (rc != 0) {
        free(o);
        return rc;
    }
    mproc__owned_link(&o->owned, mproc__shobj_destroy, o);
    *out = o;
    return 0;
}

int mproc__shobj_create(void **out, const mproc__shobj_class_t *cls,
                        size_t extra, int fork_only, const void *arg)
{
    return shobj_new(out, cls, NULL, extra, fork_only, arg);
}

int mproc__shobj_open(void **out, const mproc__shobj_class_t *cls,
                      const char *name)
{
    /* A NULL name is refused by segment_open, not taken for a create. */
    return shobj_new(out, cls, name != NULL ? name : "", 0, 0, NULL);
}

int mproc__shobj_import(void **out, const mproc__shobj_class_t *cls,
                        const mproc_value_t *ref)
{
    int rc = mproc__ref_expect(ref, cls->kind);
    *out = NULL;
    if (rc != 0)
        return rc;
    return mproc__shobj_open(
        out, cls,
        mproc_value_as_str(mproc_value_at(mproc__ref_fields(ref), 0)));
}

void mproc__shobj_let_go(mproc__shobj_t *o)
{
    segment_close(o);
}

void mproc__shobj_destroy(void *obj)
{
    mproc__shobj_t *o = obj;
    if (o == NULL)
        return;
    mproc__ref_cache_forget(o);
    mproc__owned_unlink(&o->owned);
    if (o->cls->teardown != NULL)
        o->cls->teardown(o);
    segment_close(o);
    free(o);
}

int mproc__shobj_ref(const void *obj, const mproc__shobj_class_t *cls,
                     mproc_value_t **ref)
{
    const mproc__shobj_t *o = obj;
    const char *what = mproc__ref_kind_name(cls->kind);
    int rc;
    *ref = NULL;
    if (o == NULL)
        return mproc__set_error(MPROC_EINVAL, "no %s to refer to", what);
    if (o->name[0] == '\0')
        return mproc__set_error(MPROC_EFORKONLY,
                                "this %s was created fork-only: it lives in "
                                "anonymous memory that only fork children "
                                "share, so it cannot be passed to a spawned "
                                "child; create it without .fork_only",
                                what);
    if (cls->check_ref != NULL) {
        rc = cls->check_ref(obj);
        if (rc != 0)
            return rc;
    }
    *ref = mproc__ref_new(cls->kind,
                          mproc_value_list_of(1, mproc_value_str(o->name)));
    return *ref != NULL ? 0 : MPROC_ENOMEM;
}
