/*
 * The base of every object that lives in shared memory (private).
 *
 * A shared object is one segment: a header that starts with
 * mproc__shobj_header_t (magic, kind, users) and goes on with the kind's
 * own fields, then slots for the kind's OS objects (platform/mproc_os.h,
 * MPROC__OS_SYNC_SLOT bytes each), then whatever else the kind keeps there
 * (a queue's ring, an array's items). The handle a process holds is a
 * struct whose first member is its mproc__shobj_t.
 *
 * A named object has a random name "mproc-<16 hex digits>" that any
 * process can open, and its reference (an MPROC_VALUE_REF of the kind,
 * whose one field is the name) reaches spawned children; the resource
 * tracker knows the name, and the last user to close it removes it. A
 * fork-only object has no name: it lives in anonymous memory that only
 * fork children share, so it has no reference and nothing to track.
 *
 * Each kind describes itself once in a mproc__shobj_class_t; create, open,
 * import, destroy and the reference functions are then the same for every
 * kind (the sync objects, the queue, and next shared memory, the Manager's
 * state and the Pool's). The handle is registered with the runtime's
 * owned list, so that a process which ends normally lets go of it.
 */
#ifndef MPROC_SHARED_OBJECT_H
#define MPROC_SHARED_OBJECT_H

#include "mproc_private.h"

/* A name "mproc-<16 hex>" and its terminator fit, with room to spare. */
#define MPROC__SHOBJ_NAME_LEN 32
/* The name of one of an object's OS objects or files: "<name>.<tag>". */
#define MPROC__SHOBJ_SUB_NAME_LEN (MPROC__SHOBJ_NAME_LEN + 8)
/* How many files besides its segment one object may have tracked. */
#define MPROC__SHOBJ_MAX_SUB 2

/* The start of every segment. */
typedef struct mproc__shobj_header_t {
    uint32_t magic;
    uint32_t kind;           /* the mproc_ref_kind_e of the object */
    volatile uint32_t users; /* handles open on it, in all processes */
} mproc__shobj_header_t;

/* What a kind tells the base about itself. */
typedef struct mproc__shobj_class_t {
    mproc_ref_kind_e kind;
    /* The handle's size; its first member is the mproc__shobj_t. */
    size_t obj_size;
    /* The kind's header, which starts with mproc__shobj_header_t. */
    size_t header_size;
    /* How many OS object slots follow the header. */
    unsigned slots;
    /*
     * How many bytes follow the slots in an existing segment, read from
     * its header (the first header_size bytes are mapped); NULL: none.
     */
    uint64_t (*extra_of)(const void *hdr);
    /*
     * Makes the handle usable once the segment is there: for a new object
     * (@create) fills the kind's header from @arg, then opens the OS
     * objects. On failure the base calls @teardown.
     */
    int (*setup)(void *obj, int create, const void *arg);
    /* Closes what setup opened (any part of it); NULL: nothing to close. */
    void (*teardown)(void *obj);
    /* Refuses a reference the kind cannot give (0: fine); NULL: none. */
    int (*check_ref)(const void *obj);
} mproc__shobj_class_t;

/* A process's handle on a shared object. */
typedef struct mproc__shobj_t {
    const mproc__shobj_class_t *cls;
    mproc__os_shm_t *shm;
    void *hdr;                         /* the segment's start */
    char name[MPROC__SHOBJ_NAME_LEN];  /* "" for fork-only */
    char sub[MPROC__SHOBJ_MAX_SUB][4]; /* tags of tracked files */
    void (*sub_unlink[MPROC__SHOBJ_MAX_SUB])(const char *name);
    unsigned nsub;
    mproc__owned_t owned; /* released at exit if still open */
} mproc__shobj_t;

/*
 * Creates a new object of @cls: a segment with @extra bytes after the
 * slots, named unless @fork_only, then @cls->setup(obj, 1, @arg). The
 * handle, zeroed but for its base, goes to *@out and to the owned list.
 */
int mproc__shobj_create(void **out, const mproc__shobj_class_t *cls,
                        size_t extra, int fork_only, const void *arg);
/* Opens the existing object of @cls named @name, in *@out. */
int mproc__shobj_open(void **out, const mproc__shobj_class_t *cls,
                      const char *name);
/* Opens the object that reference @ref (of @cls's kind) names. */
int mproc__shobj_import(void **out, const mproc__shobj_class_t *cls,
                        const mproc_value_t *ref);
/*
 * Closes handle @obj (NULL: nothing) and frees it: the kind's teardown,
 * then the segment; the last user removes the name and the tracked files.
 * Of type void (*)(void *), so that it serves as the owned list's release
 * and mproc__ref_open_once()'s close for every kind alike.
 */
void mproc__shobj_destroy(void *obj);
/*
 * Lets go of @o's segment before the handle is destroyed (a queue's close):
 * unmapped, and removed with its tracked files if this was its last user.
 * The kind has closed its OS objects first; the destroy that follows then
 * lets go of nothing more. The handle keeps its name, for messages.
 */
void mproc__shobj_let_go(mproc__shobj_t *o);
/* The reference of object @obj of @cls in *@ref; MPROC_EFORKONLY if none. */
int mproc__shobj_ref(const void *obj, const mproc__shobj_class_t *cls,
                     mproc_value_t **ref);

/* Where OS object slot @i of @o is. */
void *mproc__shobj_slot(const mproc__shobj_t *o, unsigned i);
/* Where the bytes after the slots begin. */
void *mproc__shobj_extra(const mproc__shobj_t *o);
/*
 * The name of OS object or file @tag (at most 3 characters) of @o in @buf,
 * "mproc-<16 hex>.<tag>" (within the 31 characters Windows object names
 * allow here); NULL for a fork-only object, whose OS objects are anonymous.
 */
const char *mproc__shobj_sub_name(const mproc__shobj_t *o, const char *tag,
                                  char buf[MPROC__SHOBJ_SUB_NAME_LEN]);
/*
 * Tracks the file named by @tag (mproc__shobj_sub_name) as the object's:
 * the tracker removes it with the segment, and the last user's close
 * removes it with @unlink. Nothing for a fork-only object.
 */
int mproc__shobj_track_sub(mproc__shobj_t *o, const char *tag,
                           void (*unlink)(const char *name));

/*
 * Writes a fresh random name "mproc-<16 hex digits>" (64 random bits, so a
 * clash is not met) to @name.
 */
void mproc__shobj_random_name(char name[MPROC__SHOBJ_NAME_LEN]);

/*
 * 0 if a fork-only object (anonymous memory that fork children share) can
 * be made here; MPROC_ENOTSUP with a sentence naming @what otherwise.
 */
int mproc__check_fork_only(const char *what);

/*
 * What every kind @T (lock, queue, ...) with class @CLASS has on the
 * reference side: the value constructor, export and import, and the
 * receiving accessor that opens once per reference and leaves the object
 * to the runtime (mproc__ref_open_once).
 */
#define MPROC__SHOBJ_REFERENCES(T, CLASS)                                      \
    mproc_value_t *mproc_value_##T(const mproc_##T##_t *obj)                   \
    {                                                                          \
        mproc_value_t *ref = NULL;                                             \
        return mproc__shobj_ref(obj, &(CLASS), &ref) == 0 ? ref : NULL;        \
    }                                                                          \
    int mproc_##T##_export(const mproc_##T##_t *obj, mproc_value_t **ref)      \
    {                                                                          \
        return mproc__shobj_ref(obj, &(CLASS), ref);                           \
    }                                                                          \
    int mproc_##T##_import(mproc_##T##_t **out, const mproc_value_t *ref)      \
    {                                                                          \
        void *obj = NULL;                                                      \
        int rc = mproc__shobj_import(&obj, &(CLASS), ref);                     \
        if (rc == 0)                                                           \
            *out = obj;                                                        \
        return rc;                                                             \
    }                                                                          \
    static int T##_open_ref(const mproc_value_t *ref, void **obj)              \
    {                                                                          \
        return mproc__shobj_import(obj, &(CLASS), ref);                        \
    }                                                                          \
    int mproc_value_to_##T(const mproc_value_t *v, mproc_##T##_t **out)        \
    {                                                                          \
        void *obj = NULL;                                                      \
        int rc = mproc__ref_open_once(v, (CLASS).kind, T##_open_ref,           \
                                      mproc__shobj_destroy, &obj);             \
        if (rc == 0)                                                           \
            *out = obj;                                                        \
        return rc;                                                             \
    }

#endif
