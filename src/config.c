/*
 * The explicit configuration: key/value strings the program sets once and
 * every child receives, whatever its start method.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mproc_services.h"

typedef struct config_entry {
    char *key;
    char *value;
} config_entry;

static config_entry *entries;
static size_t nentries, capentries;

static config_entry *lookup(const char *key)
{
    size_t i;
    for (i = 0; i < nentries; i++)
        if (strcmp(entries[i].key, key) == 0)
            return &entries[i];
    return NULL;
}

int mproc_config_set(const char *key, const char *value)
{
    config_entry *e;
    char *v;
    if (key == NULL || *key == '\0' || value == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "a configuration entry needs a key and a "
                                "value");
    v = mproc__strdup(value);
    if (v == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    e = lookup(key);
    if (e != NULL) {
        free(e->value);
        e->value = v;
        return 0;
    }
    if (nentries == capentries) {
        size_t cap = capentries ? capentries * 2 : 8;
        config_entry *p = realloc(entries, cap * sizeof *p);
        if (p == NULL) {
            free(v);
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
        }
        entries = p;
        capentries = cap;
    }
    entries[nentries].key = mproc__strdup(key);
    if (entries[nentries].key == NULL) {
        free(v);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    entries[nentries].value = v;
    nentries++;
    return 0;
}

const char *mproc_config_get(const char *key)
{
    config_entry *e = key != NULL ? lookup(key) : NULL;
    return e != NULL ? e->value : NULL;
}

mproc_value_t *mproc__config_export(void)
{
    mproc_value_t *map = mproc_value_map();
    size_t i;
    for (i = 0; map != NULL && i < nentries; i++) {
        if (mproc_value_map_set_str(map, entries[i].key,
                                    mproc_value_str(entries[i].value)) != 0) {
            mproc_value_free(map);
            return NULL;
        }
    }
    return map;
}

int mproc__config_import(const mproc_value_t *map)
{
    size_t i, n = mproc_value_len(map);
    for (i = 0; i < n; i++) {
        const char *k = mproc_value_as_str(mproc_value_key_at(map, i));
        const char *v = mproc_value_as_str(mproc_value_value_at(map, i));
        int rc;
        if (k == NULL || v == NULL)
            return mproc__set_error(MPROC_ECORRUPT,
                                    "configuration entry is not a string");
        rc = mproc_config_set(k, v);
        if (rc != 0)
            return rc;
    }
    return 0;
}
