/*
 * The resource tracker's process: its bookkeeping of names and its
 * removal of leftovers, on the contract's OS mechanics (a local listener,
 * packets, shared memory names).
 *
 * POSIX shared memory outlives the processes that use it: if every one of
 * them is killed, nobody runs the destroy that removes the name, and the
 * memory stays in /dev/shm until reboot. The tracker removes such
 * leftovers. The design is Python's (Lib/multiprocessing/
 * resource_tracker.py):
 *
 * - One tracker serves a process tree. It is spawned on first use, in a
 *   session of its own, so that a signal to the program's process group
 *   (Ctrl-C, kill -- -PGID) does not take it down with the program.
 * - It listens on a local listener of packets (a Unix SOCK_SEQPACKET
 *   socket in a private 0700 directory). Every process that uses it keeps
 *   one connection open for its whole life; a fork child shares its
 *   parent's, a spawned child connects by the path it got in its bootstrap
 *   message.
 * - A message is one packet: "R <name>" registers a name, "U <name>"
 *   unregisters it. Names are counted, as several processes may register
 *   the same one. A name may also be the path of a Unix socket in a
 *   private directory (a manager's fresh address), which a server killed
 *   together with its creator leaves behind: the tracker removes it, and
 *   its directory, only if it is still such a socket of its user's.
 * - When every connection has closed (each process has ended, however),
 *   the tracker removes every name still registered, says so on stderr and
 *   exits.
 * - What the tracker knows also sits in a journal, a file of "R <name>"
 *   and "U <name>" lines in its private directory, appended as each
 *   message arrives (and rewritten compact now and then). A tracker
 *   killed with SIGKILL cleans up nothing, and Python's then forgets every
 *   name for good. Here the first client that finds its tracker dead
 *   starts a new one and sends it "A <old path>" before anything else;
 *   the new tracker reads the old journal (only from a private directory
 *   of its own user), counts its names as its own, and removes the old
 *   files. Of the designs that keep the knowledge, this is the one with
 *   no new duty for the clients: they need not remember what they
 *   registered, nor all reconnect, since one of them hands over
 *   everything, the names of processes that never call again included.
 *   What remains open is when the replacement finishes: with its own
 *   connections, which are those of the processes that have reached it
 *   since, as before.
 *
 * The client side, which keeps a process's one connection across threads
 * and forks, is the backend's (mproc__os_track, platform/unix/
 * os_tracker.c). Windows needs no tracker: the kernel frees an object with
 * its last handle, and the contract's calls here answer MPROC_ENOTSUP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc_services.h"
#include "tracker.h"

/* A tracker nobody connects to within this time gives up. */
#define TRACKER_FIRST_CLIENT_SEC 10.0

/* ---- names -------------------------------------------------------------- */

int mproc__tracker_name_ok(const char *name, size_t n)
{
    size_t i, plen = sizeof MPROC__TRACKER_PREFIX - 1;
    if (n <= plen || n > MPROC__TRACKER_NAME_MAX ||
        memcmp(name, MPROC__TRACKER_PREFIX, plen) != 0)
        return 0;
    for (i = plen; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

int mproc__tracker_socket_ok(const char *path, size_t n)
{
    static const char tail[] = "/sock";
    size_t i, tlen = sizeof tail - 1, plen = sizeof MPROC__TRACKER_PREFIX - 1;
    size_t dir_end, dir_start;
    if (n > MPROC__TRACKER_PATH_MAX || n < 1 + plen + 1 + tlen ||
        path[0] != '/' || memcmp(path + n - tlen, tail, tlen) != 0)
        return 0;
    for (i = 0; i < n; i++)
        if (path[i] == '\0' || path[i] == '\n')
            return 0;
    /* The directory's own name: after the last '/' before the tail. */
    dir_end = n - tlen;
    for (dir_start = dir_end; dir_start > 0 && path[dir_start - 1] != '/';)
        dir_start--;
    return dir_start > 0 &&
           mproc__tracker_name_ok(path + dir_start, dir_end - dir_start);
}

int mproc__tracker_entry_ok(const char *entry, size_t n)
{
    return n > 0 && entry[0] == '/' ? mproc__tracker_socket_ok(entry, n)
                                    : mproc__tracker_name_ok(entry, n);
}

/* ---- the tracker -------------------------------------------------------- */

typedef struct tracked {
    char name[MPROC__TRACKER_PATH_MAX + 1]; /* a name, or a socket's path */
    long count; /* may dip below 0: packets of different clients reorder */
} tracked;

static tracked *names;
static size_t nnames, capnames;

/*
 * The journal, and its lines written since it was last rewritten: once
 * they outnumber the names well, it is rewritten with one line per
 * registration.
 */
static mproc__os_fd_t journal = MPROC__OS_FD_INVALID;
static size_t journal_lines;

/* The listener's path, removed with its directory at the end. */
static char listener_path[MPROC__OS_LOCAL_PATH_MAX];

/* Counts @delta for @name, and writes it down in the journal. */
static void note(const char *name, size_t n, long delta)
{
    size_t i;
    if (journal != MPROC__OS_FD_INVALID) {
        char line[2 + MPROC__TRACKER_PATH_MAX + 1];
        line[0] = delta > 0 ? 'R' : 'U';
        line[1] = ' ';
        memcpy(line + 2, name, n);
        line[2 + n] = '\n';
        /* A failed write only puts the name at risk if we are killed. */
        mproc__os_write_all(journal, line, n + 3);
        journal_lines++;
    }
    for (i = 0; i < nnames; i++) {
        if (strlen(names[i].name) == n && memcmp(names[i].name, name, n) == 0)
            break;
    }
    if (i == nnames) {
        if (nnames == capnames) {
            size_t cap = capnames ? capnames * 2 : 32;
            tracked *t = realloc(names, cap * sizeof *t);
            /* Out of memory: the name may leak, nothing worse. */
            if (t == NULL)
                return;
            names = t;
            capnames = cap;
        }
        memcpy(names[i].name, name, n);
        names[i].name[n] = '\0';
        names[i].count = 0;
        nnames++;
    }
    names[i].count += delta;
    if (names[i].count == 0)
        names[i] = names[--nnames];
}

static void journal_compact(void)
{
    mproc__buf_t text = {0};
    size_t i, lines = 0;
    long k;
    for (i = 0; i < nnames; i++) {
        long c = names[i].count;
        for (k = 0; k < (c > 0 ? c : -c); k++) {
            mproc__buf_append(&text, c > 0 ? "R " : "U ", 2);
            mproc__buf_append(&text, names[i].name, strlen(names[i].name));
            mproc__buf_append(&text, "\n", 1);
            lines++;
        }
    }
    if (mproc__os_journal_replace(listener_path, text.data, text.len,
                                  &journal) == 0)
        journal_lines = lines;
    mproc__buf_free(&text);
}

/*
 * Takes over the journal of the dead tracker at @path: its names become
 * ours (and go into our journal), its files go.
 */
static void adopt(const char *path)
{
    char *text, *line;
    if (strcmp(path, listener_path) == 0)
        return;
    text = mproc__os_journal_take(path);
    for (line = text; line != NULL && *line != '\0';) {
        char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t) (end - line) : strlen(line);
        if (n > 2 && line[1] == ' ' && (line[0] == 'R' || line[0] == 'U') &&
            mproc__tracker_entry_ok(line + 2, n - 2))
            note(line + 2, n - 2, line[0] == 'R' ? 1 : -1);
        line += n + (end != NULL);
    }
    free(text);
}

/* Removes every name still registered, and the tracker's own files. */
MPROC_NORETURN static void finish(void)
{
    mproc__buf_t report = {0}, sockets = {0};
    size_t i, removed = 0, nsockets = 0;

    for (i = 0; i < nnames; i++) {
        if (names[i].count <= 0)
            continue;
        if (names[i].name[0] == '/') {
            /* A listener of a killed process (a manager's), not removed. */
            if (mproc__os_local_leftover_remove(names[i].name) != 0)
                continue;
            if (nsockets++ > 0)
                mproc__buf_append(&sockets, ", ", 2);
            mproc__buf_append(&sockets, names[i].name, strlen(names[i].name));
            continue;
        }
        /* Not found: its owner removed it after all; nothing leaked. */
        if (mproc__os_shm_unlink(names[i].name) != 0)
            continue;
        if (removed++ > 0)
            mproc__buf_append(&report, ", ", 2);
        mproc__buf_append(&report, names[i].name, strlen(names[i].name));
    }
    if (removed > 0) {
        mproc__buf_append(&report, "", 1);
        fprintf(stderr,
                "mproc resource tracker: removed %lu leaked shared memory "
                "object%s: %s\n",
                (unsigned long) removed, removed == 1 ? "" : "s",
                report.data != NULL ? (const char *) report.data : "");
        fflush(stderr);
    }
    mproc__buf_free(&report);
    if (nsockets > 0) {
        mproc__buf_append(&sockets, "", 1);
        fprintf(stderr,
                "mproc resource tracker: removed %lu socket%s of killed "
                "processes, with %s directory: %s\n",
                (unsigned long) nsockets, nsockets == 1 ? "" : "s",
                nsockets == 1 ? "its" : "their",
                sockets.data != NULL ? (const char *) sockets.data : "");
        fflush(stderr);
    }
    mproc__buf_free(&sockets);
    mproc__os_journal_remove(listener_path);
    mproc__os_local_remove(listener_path);
    exit(0);
}

/*
 * Handles what waits on client @fd: 1 the connection stays, 0 it ended
 * (or failed, which ends it too).
 */
static int serve_packet(mproc__os_fd_t fd)
{
    char buf[2 + MPROC__OS_LOCAL_PATH_MAX];
    size_t n = 0;
    int rc = mproc__os_recv_packet(fd, buf, sizeof buf, &n);
    if (rc == MPROC_ETIMEDOUT)
        return 1;
    /* Anything malformed is ignored: the client's bug, not ours to act on. */
    if (rc == MPROC_ECORRUPT)
        return 1;
    if (rc != 0)
        return 0;
    if (n < 3 || buf[1] != ' ')
        return 1;
    if (buf[0] == 'A') {
        char path[MPROC__OS_LOCAL_PATH_MAX];
        if (n - 2 < sizeof path && buf[2] == '/') {
            memcpy(path, buf + 2, n - 2);
            path[n - 2] = '\0';
            adopt(path);
        }
        return 1;
    }
    if (!mproc__tracker_entry_ok(buf + 2, n - 2))
        return 1;
    if (buf[0] == 'R')
        note(buf + 2, n - 2, 1);
    else if (buf[0] == 'U')
        note(buf + 2, n - 2, -1);
    if (journal_lines > 2 * nnames + 1024)
        journal_compact();
    return 1;
}

void mproc__tracker_main(int argc, char **argv)
{
    mproc__os_wait_item_t *items;
    size_t np = 1, capp = 16, i;
    double start = mproc__os_monotonic();
    mproc__os_fd_t listener;
    int ever = 0;

    /*
     * The tracker outlives the program by design: a Ctrl-C, a terminal
     * hang-up or a kill aimed at the program must not stop it.
     */
    mproc__os_detach_signals();
    if (argc != 3 || mproc__os_fd_parse(argv[2], &listener) != 0) {
        fprintf(stderr, "mproc resource tracker: malformed command line\n");
        exit(1);
    }
    /* Where the OS has no local listeners (Windows), this says so. */
    if (mproc__os_local_path(listener, listener_path, sizeof listener_path) !=
            0 ||
        mproc__os_fd_private(listener) != 0) {
        fprintf(stderr, "mproc resource tracker: %s\n", mproc_last_error());
        exit(1);
    }
    /* Without a journal the tracker still works, as Python's does. */
    if (mproc__os_journal_open(listener_path, &journal) != 0)
        fprintf(stderr, "mproc resource tracker: %s\n", mproc_last_error());
    items = malloc(capp * sizeof *items);
    if (items == NULL) {
        fprintf(stderr, "mproc resource tracker: out of memory\n");
        exit(1);
    }
    items[0].conn = NULL;
    items[0].handle = listener;

    for (;;) {
        double wait = -1;
        int r;
        if (!ever) {
            wait = TRACKER_FIRST_CLIENT_SEC - (mproc__os_monotonic() - start);
            if (wait <= 0)
                finish();
        }
        r = mproc__os_wait_many(items, np, wait);
        if (r == MPROC_ETIMEDOUT)
            r = 0;
        if (r < 0) {
            fprintf(stderr, "mproc resource tracker: %s\n", mproc_last_error());
            /* Not finish(): the names may still be in use. */
            exit(1);
        }
        if (r == 0)
            continue;
        /* One packet per ready client per round; closed ones are dropped. */
        for (i = 1; i < np;) {
            if (items[i].ready && !serve_packet(items[i].handle)) {
                mproc__os_close(items[i].handle);
                items[i] = items[--np];
                continue;
            }
            i++;
        }
        if (items[0].ready) {
            mproc__os_fd_t conn;
            if (mproc__os_local_accept(listener, &conn) == 0) {
                if (np == capp) {
                    mproc__os_wait_item_t *more =
                        realloc(items, capp * 2 * sizeof *items);
                    if (more == NULL) {
                        /*
                         * Refusing the client is all we can do: its
                         * message fails and it reports the error.
                         */
                        mproc__os_close(conn);
                        continue;
                    }
                    items = more;
                    capp *= 2;
                }
                items[np].conn = NULL;
                items[np].handle = conn;
                np++;
                ever = 1;
            } else {
                /* Do not spin on a connection we cannot take yet (EMFILE). */
                mproc__os_sleep(0.01);
            }
        }
        if (ever && np == 1) {
            /*
             * A client may have connected since the wait returned (a
             * spawned child whose parent just ended): serve it rather than
             * finish.
             */
            if (mproc__os_wait_many(items, 1, 0) != 1)
                finish();
        }
    }
}
