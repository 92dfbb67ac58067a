/*
 * Win32 backend: spill files, a queue's overflow.
 *
 * A pagefile-backed mapping disappears with its last handle, so a producer
 * that exits would take its spilled items with it. The overflow is
 * therefore a real file in the temporary directory. (APR's file calls
 * would do, but they want a pool per call site; these calls are simpler
 * on the Win32 API directly.)
 *
 * It must also go when every user has gone, killed or not, as the queue's
 * kernel objects do: the creator opens it with FILE_FLAG_DELETE_ON_CLOSE,
 * which deletes the file when the last handle to that file object closes
 * (the kernel closes a killed process's handles). That flag forbids
 * opening the file again by name once any handle opened with it has
 * closed, even while others are open, so nobody reopens it by name: every
 * other user gets a duplicate of a handle to the creator's file object
 * (DuplicateHandle) from a process that holds one. Who holds one is kept
 * in a small table in a named mapping of the same name, which itself
 * disappears with its last user. A slot is claimed and freed without a
 * lock (a killed holder must never wedge the others), so a slot read in
 * passing may be stale: a duplicate is kept only if it is the same file
 * (volume and file index, written once by the creator).
 */
#include "os_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "mproc_services.h"

#define SPILL_SLOTS 250

typedef struct spill_table {
    DWORD volume;
    DWORD index_high, index_low;
    volatile LONG pid[SPILL_SLOTS];      /* 0: free */
    volatile LONG64 handle[SPILL_SLOTS]; /* the holder's handle value */
} spill_table;

struct mproc__os_spill {
    HANDLE h;
    HANDLE table_map;
    spill_table *table;
    int slot; /* ours in the table, or -1 */
};

/* <temp dir>\<name> as UTF-16; names are plain ASCII. */
static int spill_path(const char *name, wchar_t *path, size_t cap)
{
    DWORD n = GetTempPathW((DWORD) cap, path);
    size_t i, len = strlen(name);
    if (n == 0 || n + len + 1 > cap)
        return mproc__win_error(GetLastError(),
                                "cannot find the temporary directory");
    for (i = 0; i <= len; i++)
        path[n + i] = (wchar_t) (unsigned char) name[i];
    return 0;
}

/* Local\<name> for the holders' table. */
static void table_name(const char *name, wchar_t *out, size_t cap)
{
    size_t i, len = strlen(name);
    wcscpy(out, L"Local\\");
    for (i = 0; i <= len && 6 + i < cap; i++)
        out[6 + i] = (wchar_t) (unsigned char) name[i];
}

static int same_file(HANDLE h, const spill_table *t)
{
    BY_HANDLE_FILE_INFORMATION fi;
    return GetFileInformationByHandle(h, &fi) &&
           fi.dwVolumeSerialNumber == t->volume &&
           fi.nFileIndexHigh == t->index_high &&
           fi.nFileIndexLow == t->index_low;
}

/* Claims a free slot for this process's handle @h: 0, or -1 if full. */
static int claim_slot(mproc__os_spill_t *s)
{
    LONG me = (LONG) GetCurrentProcessId();
    int i;
    for (i = 0; i < SPILL_SLOTS; i++) {
        if (InterlockedCompareExchange(&s->table->pid[i], me, 0) == 0) {
            InterlockedExchange64(&s->table->handle[i],
                                  (LONG64) (INT_PTR) s->h);
            s->slot = i;
            return 0;
        }
    }
    return -1;
}

/*
 * Frees slots whose process has ended: a killed holder cannot free its
 * own. Only a slot whose process cannot be opened any more is freed.
 */
static void free_dead_slots(spill_table *t)
{
    int i;
    for (i = 0; i < SPILL_SLOTS; i++) {
        LONG pid = t->pid[i];
        HANDLE p;
        DWORD code = 0;
        if (pid == 0)
            continue;
        p = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD) pid);
        if (p != NULL) {
            int ended = GetExitCodeProcess(p, &code) && code != STILL_ACTIVE;
            CloseHandle(p);
            if (!ended)
                continue;
        } else if (GetLastError() != ERROR_INVALID_PARAMETER) {
            continue;
        }
        InterlockedCompareExchange(&t->pid[i], 0, pid);
    }
}

/* A duplicate of a holder's handle to the file, or NULL. */
static HANDLE duplicate_from_holder(const spill_table *t)
{
    int i;
    for (i = 0; i < SPILL_SLOTS; i++) {
        LONG pid = t->pid[i];
        HANDLE p, h = NULL;
        if (pid == 0)
            continue;
        p = OpenProcess(PROCESS_DUP_HANDLE, FALSE, (DWORD) pid);
        if (p == NULL)
            continue;
        if (!DuplicateHandle(p, (HANDLE) (INT_PTR) t->handle[i],
                             GetCurrentProcess(), &h, 0, FALSE,
                             DUPLICATE_SAME_ACCESS))
            h = NULL;
        CloseHandle(p);
        if (h != NULL && same_file(h, t))
            return h;
        if (h != NULL)
            CloseHandle(h);
    }
    return NULL;
}

static void spill_free(mproc__os_spill_t *s)
{
    if (s->table != NULL && s->slot >= 0)
        InterlockedExchange(&s->table->pid[s->slot], 0);
    if (s->table != NULL)
        UnmapViewOfFile(s->table);
    if (s->table_map != NULL)
        CloseHandle(s->table_map);
    if (s->h != NULL && s->h != INVALID_HANDLE_VALUE)
        CloseHandle(s->h);
    free(s);
}

static int create_spill(mproc__os_spill_t *s, const char *name)
{
    wchar_t path[MAX_PATH + 64], tname[64];
    BY_HANDLE_FILE_INFORMATION fi;
    int rc = spill_path(name, path, sizeof path / sizeof path[0]);
    if (rc != 0)
        return rc;
    /* CREATE_NEW: a file someone made first is never adopted. */
    s->h = CreateFileW(
        path, GENERIC_READ | GENERIC_WRITE,
        FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
        CREATE_NEW, FILE_ATTRIBUTE_TEMPORARY | FILE_FLAG_DELETE_ON_CLOSE, NULL);
    if (s->h == INVALID_HANDLE_VALUE) {
        DWORD err = GetLastError();
        s->h = NULL;
        if (err == ERROR_FILE_EXISTS || err == ERROR_ALREADY_EXISTS)
            return mproc__set_error(MPROC_EEXIST,
                                    "spill file '%s' exists already (made by "
                                    "another process); refusing to adopt it",
                                    name);
        return mproc__win_error(err, "cannot create a spill file");
    }
    table_name(name, tname, sizeof tname / sizeof tname[0]);
    s->table_map =
        CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0,
                           sizeof(spill_table), tname);
    if (s->table_map == NULL)
        return mproc__win_error(GetLastError(),
                                "cannot create a spill file's table");
    if (GetLastError() == ERROR_ALREADY_EXISTS)
        return mproc__set_error(MPROC_EEXIST,
                                "spill file '%s' has a table already; refusing "
                                "to adopt it",
                                name);
    s->table = MapViewOfFile(s->table_map, FILE_MAP_ALL_ACCESS, 0, 0, 0);
    if (s->table == NULL)
        return mproc__win_error(GetLastError(),
                                "cannot map a spill file's table");
    if (!GetFileInformationByHandle(s->h, &fi))
        return mproc__win_error(GetLastError(), "cannot identify a spill file");
    s->table->volume = fi.dwVolumeSerialNumber;
    s->table->index_high = fi.nFileIndexHigh;
    s->table->index_low = fi.nFileIndexLow;
    if (claim_slot(s) != 0)
        return mproc__set_error(MPROC_ENOMEM,
                                "no room in a spill file's table");
    return 0;
}

static int open_spill(mproc__os_spill_t *s, const char *name)
{
    wchar_t tname[64];
    table_name(name, tname, sizeof tname / sizeof tname[0]);
    s->table_map = OpenFileMappingW(FILE_MAP_ALL_ACCESS, FALSE, tname);
    if (s->table_map == NULL) {
        DWORD err = GetLastError();
        if (err == ERROR_FILE_NOT_FOUND)
            return mproc__set_error(MPROC_ENOTFOUND, "spill file '%s' is gone",
                                    name);
        return mproc__win_error(err, "cannot open a spill file's table");
    }
    s->table = MapViewOfFile(s->table_map, FILE_MAP_ALL_ACCESS, 0, 0, 0);
    if (s->table == NULL)
        return mproc__win_error(GetLastError(),
                                "cannot map a spill file's table");
    s->h = duplicate_from_holder(s->table);
    if (s->h == NULL)
        return mproc__set_error(MPROC_ENOTFOUND,
                                "spill file '%s' is gone (no process holds it)",
                                name);
    if (claim_slot(s) != 0) {
        free_dead_slots(s->table);
        if (claim_slot(s) != 0)
            return mproc__set_error(MPROC_ENOMEM,
                                    "no room in a spill file's table");
    }
    return 0;
}

int mproc__os_spill_open(mproc__os_spill_t **s, const char *name, int create)
{
    mproc__os_spill_t *n = calloc(1, sizeof *n);
    int rc;
    *s = NULL;
    if (n == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    n->slot = -1;
    rc = create ? create_spill(n, name) : open_spill(n, name);
    if (rc != 0) {
        spill_free(n);
        return rc;
    }
    *s = n;
    return 0;
}

/* One positioned transfer of at most 1 GiB, as a DWORD count allows. */
static int transfer(HANDLE h, uint64_t offset, void *buf, size_t n, int write)
{
    char *p = buf;
    while (n > 0) {
        OVERLAPPED ov;
        DWORD chunk = n > (1u << 30) ? (1u << 30) : (DWORD) n, done = 0;
        BOOL ok;
        memset(&ov, 0, sizeof ov);
        ov.Offset = (DWORD) offset;
        ov.OffsetHigh = (DWORD) (offset >> 32);
        ok = write ? WriteFile(h, p, chunk, &done, &ov)
                   : ReadFile(h, p, chunk, &done, &ov);
        if (!ok)
            return mproc__win_error(GetLastError(),
                                    write ? "cannot write the spill file"
                                          : "cannot read the spill file");
        if (done == 0)
            return mproc__set_error(MPROC_ECORRUPT, "the spill file is short");
        p += done;
        n -= done;
        offset += done;
    }
    return 0;
}

int mproc__os_spill_write(mproc__os_spill_t *s, uint64_t offset,
                          const void *buf, size_t n)
{
    return transfer(s->h, offset, (void *) buf, n, 1);
}

int mproc__os_spill_read(mproc__os_spill_t *s, uint64_t offset, void *buf,
                         size_t n)
{
    return transfer(s->h, offset, buf, n, 0);
}

int mproc__os_spill_truncate(mproc__os_spill_t *s)
{
    /*
     * Not SetEndOfFile: every user shares one file object, and with it one
     * file pointer, which another process may move meanwhile.
     */
    FILE_END_OF_FILE_INFO eof;
    eof.EndOfFile.QuadPart = 0;
    if (!SetFileInformationByHandle(s->h, FileEndOfFileInfo, &eof, sizeof eof))
        return mproc__win_error(GetLastError(),
                                "cannot truncate the spill file");
    return 0;
}

void mproc__os_spill_close(mproc__os_spill_t *s)
{
    if (s != NULL)
        spill_free(s);
}

void mproc__os_spill_unlink(const char *name)
{
    /*
     * Nothing to do: the file goes with the last handle to it. Deleting it
     * by name would only hide it from nobody, since nobody opens it by
     * name.
     */
    (void) name;
}
