/*
 * The registry of targets: names a child can look its function up by,
 * since function pointers do not survive exec and address randomisation.
 *
 * Registration happens while the program loads (MPROC_TARGET) or early in
 * main(), before any child starts; lookups happen later. It is therefore
 * not locked.
 */
#include <stdlib.h>
#include <string.h>

#include "mproc_private.h"

typedef struct target_entry {
    char *name;
    mproc_target_fn fn;
} target_entry;

static target_entry *targets;
static size_t ntargets, captargets;

mproc_target_fn mproc__target_find(const char *name)
{
    size_t i;
    for (i = 0; i < ntargets; i++)
        if (strcmp(targets[i].name, name) == 0)
            return targets[i].fn;
    return NULL;
}

int mproc_register_target(const char *name, mproc_target_fn fn)
{
    mproc_target_fn known;
    if (name == NULL || *name == '\0' || fn == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "a target needs a name and a function");
    known = mproc__target_find(name);
    if (known == fn)
        return 0;
    if (known != NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "target '%s' is already registered to another "
                                "function",
                                name);
    if (ntargets == captargets) {
        size_t cap = captargets ? captargets * 2 : 16;
        target_entry *p = realloc(targets, cap * sizeof *p);
        if (p == NULL)
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
        targets = p;
        captargets = cap;
    }
    targets[ntargets].name = mproc__strdup(name);
    if (targets[ntargets].name == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    targets[ntargets].fn = fn;
    ntargets++;
    return 0;
}
