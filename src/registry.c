/*
 * Registries of names: targets (functions a child runs), pool targets
 * (functions a pool worker calls) and record types (the behaviour of user
 * records). A child finds them by name, since function pointers do not
 * survive exec and address randomisation.
 *
 * Registration mostly happens while the program loads (MPROC_TARGET,
 * MPROC_RECORD) or early in main(), but a thread may register while
 * another looks up, so the tables have a lock. It is a spin lock, which
 * works before mproc_main() (a constructor registers before main runs).
 * A name found is the registry's, and stays valid: entries are never
 * removed, and only the array of them moves (under the lock).
 */
#include <stdlib.h>
#include <string.h>

#include "mproc_services.h"
#include "registry.h"
#include "tlock.h"
#include "value_internal.h"

typedef void (*any_fn)(void);

typedef struct entry {
    char *name;
    any_fn fn;
} entry;

typedef struct registry {
    const char *what; /* for sentences: "target", "record type" */
    entry *entries;
    size_t n, cap;
} registry;

static registry targets = {"target", NULL, 0, 0};
static registry records = {"record type", NULL, 0, 0};
static registry pool_targets = {"pool target", NULL, 0, 0};
static mproc__spin_t lock = MPROC__SPIN_INIT;

void mproc__registry_after_fork(void)
{
    mproc__spin_reset(&lock);
}

static entry *find(const registry *r, const char *name)
{
    size_t i;
    for (i = 0; i < r->n; i++)
        if (strcmp(r->entries[i].name, name) == 0)
            return &r->entries[i];
    return NULL;
}

static int add(registry *r, const char *name, any_fn fn)
{
    entry *known;
    if (name == NULL || *name == '\0')
        return mproc__set_error(MPROC_EINVAL, "a %s needs a name", r->what);
    known = find(r, name);
    if (known != NULL) {
        if (known->fn == fn)
            return 0;
        return mproc__set_error(MPROC_EINVAL,
                                "%s '%s' is already registered to another "
                                "function",
                                r->what, name);
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        entry *p = realloc(r->entries, cap * sizeof *p);
        if (p == NULL)
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
        r->entries = p;
        r->cap = cap;
    }
    r->entries[r->n].name = mproc__strdup(name);
    if (r->entries[r->n].name == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    r->entries[r->n].fn = fn;
    r->n++;
    return 0;
}

static int locked_add(registry *r, const char *name, any_fn fn)
{
    int rc;
    mproc__spin_lock(&lock);
    rc = add(r, name, fn);
    mproc__spin_unlock(&lock);
    return rc;
}

/*
 * Function pointers of different types are stored as any_fn and cast back
 * to their own type on the way out, which C allows.
 */
mproc_target_fn mproc__target_find(const char *name)
{
    entry *e;
    any_fn fn;
    mproc__spin_lock(&lock);
    e = find(&targets, name);
    fn = e != NULL ? e->fn : NULL;
    mproc__spin_unlock(&lock);
    return (mproc_target_fn) fn;
}

/*
 * One function may be registered under several names; the first is its
 * name, so the answer does not depend on later registrations.
 */
static const char *name_of(const registry *r, any_fn fn)
{
    size_t i;
    const char *name = NULL;
    mproc__spin_lock(&lock);
    for (i = 0; i < r->n && name == NULL; i++)
        if (r->entries[i].fn == fn)
            name = r->entries[i].name;
    mproc__spin_unlock(&lock);
    return name;
}

const char *mproc__target_name(mproc_target_fn fn)
{
    return name_of(&targets, (any_fn) fn);
}

int mproc_register_target(const char *name, mproc_target_fn fn)
{
    if (fn == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "a target needs a name and a function");
    return locked_add(&targets, name, (any_fn) fn);
}

int mproc__record_find(const char *type, mproc_record_fn *call)
{
    entry *e;
    any_fn fn = NULL;
    mproc__spin_lock(&lock);
    e = find(&records, type);
    if (e != NULL)
        fn = e->fn;
    mproc__spin_unlock(&lock);
    if (e == NULL)
        return 0;
    *call = (mproc_record_fn) fn;
    return 1;
}

int mproc_register_record(const char *type, mproc_record_fn call)
{
    return locked_add(&records, type, (any_fn) call);
}

mproc_pool_fn mproc__pool_target_find(const char *name)
{
    entry *e;
    any_fn fn;
    mproc__spin_lock(&lock);
    e = find(&pool_targets, name);
    fn = e != NULL ? e->fn : NULL;
    mproc__spin_unlock(&lock);
    return (mproc_pool_fn) fn;
}

const char *mproc__pool_target_name(mproc_pool_fn fn)
{
    return name_of(&pool_targets, (any_fn) fn);
}

int mproc_register_pool_target(const char *name, mproc_pool_fn fn)
{
    if (fn == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "a pool target needs a name and a function");
    return locked_add(&pool_targets, name, (any_fn) fn);
}
