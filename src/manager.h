/*
 * This file is private to mproc.
 *
 * The manager: its protocol (manager_proto.c), its object store and the
 * dispatcher that serves one request on it (manager_store.c), the server
 * process (manager_server.c) and the proxies (manager.c).
 *
 * A request is one message, the msgpack list [op, id, args...]: an
 * operation, the object it is for (0 for the manager's own operations)
 * and the operation's arguments. The reply is one message, the list
 * [status, payload]: the operation's status (0 or a positive count or
 * answer, or a negative MPROC_E* code) and its result, or for a negative
 * status the server's sentence.
 */
#ifndef MPROC_SRC_MANAGER_H
#define MPROC_SRC_MANAGER_H

#include <stddef.h>
#include <stdint.h>

#include "mproc.h"
#include "mproc_services.h"

/* The operations; each has a row in mproc__mgr_ops (manager_proto.c). */
typedef enum mproc__mgr_op_e {
    /* The manager's own: id 0. */
    MPROC__MGR_HELLO = 1, /* -> [manager id, pid, name, client token] */
    MPROC__MGR_CREATE,    /* kind, init -> the new object's id */
    MPROC__MGR_RELEASE,   /* lets go of one of this client's references */
    MPROC__MGR_INCREF,    /* takes one more (a fork child's inherited proxy) */
    MPROC__MGR_EXPORT,    /* -> a hold that keeps the object in transit */
    MPROC__MGR_CLAIM,     /* hold -> the kind: a reference opened here */
    MPROC__MGR_REGISTER,  /* name, value */
    MPROC__MGR_LOOKUP,    /* name -> value */
    MPROC__MGR_COUNT,     /* -> how many objects the store holds */
    MPROC__MGR_SHUTDOWN,  /* stop serving, after the reply */
    MPROC__MGR_JOIN,      /* client token -> [manager id, pid, name] */
    /* A dict's, a list's or a Namespace's, as each row says. */
    MPROC__MGR_LEN,
    MPROC__MGR_COPY,
    MPROC__MGR_CLEAR,
    MPROC__MGR_CONTAINS, /* key, item or name */
    MPROC__MGR_GET,      /* key or name */
    MPROC__MGR_GET_DEFAULT,
    MPROC__MGR_SET,
    MPROC__MGR_DELETE,
    MPROC__MGR_KEYS,
    MPROC__MGR_VALUES,
    MPROC__MGR_ITEMS,
    MPROC__MGR_POP,
    MPROC__MGR_POP_DEFAULT,
    MPROC__MGR_POPITEM,
    MPROC__MGR_SETDEFAULT,
    MPROC__MGR_UPDATE,
    MPROC__MGR_ADD,
    MPROC__MGR_CAS, /* key, expected, desired -> [swapped, found] */
    MPROC__MGR_APPEND,
    MPROC__MGR_EXTEND,
    MPROC__MGR_INSERT,
    MPROC__MGR_LGET, /* by index */
    MPROC__MGR_LSET,
    MPROC__MGR_LDELETE,
    MPROC__MGR_INDEX,
    MPROC__MGR_COUNT_OF,
    MPROC__MGR_REMOVE,
    MPROC__MGR_LPOP,
    MPROC__MGR_SLICE,
    MPROC__MGR_SET_SLICE,
    MPROC__MGR_DELETE_SLICE,
    MPROC__MGR_REVERSE,
    MPROC__MGR_SORT,
    MPROC__MGR_OP_END
} mproc__mgr_op_e;

/* Which objects an operation is for: the manager itself, or some kinds. */
#define MPROC__MGR_FOR_MANAGER 1u
#define MPROC__MGR_FOR_DICT 2u
#define MPROC__MGR_FOR_LIST 4u
#define MPROC__MGR_FOR_NAMESPACE 8u

typedef struct mproc__mgr_op_info_t {
    const char *name; /* the method's name, for sentences */
    /*
     * Its arguments, one letter each: i an integer, s a non-empty string,
     * b a bool, v any value.
     */
    const char *shape;
    unsigned kinds; /* MPROC__MGR_FOR_* */
} mproc__mgr_op_info_t;

/* The rows, indexed by operation (row 0 is unused). */
extern const mproc__mgr_op_info_t mproc__mgr_ops[MPROC__MGR_OP_END];

/* The most arguments an operation has. */
#define MPROC__MGR_MAX_ARGS 3

/* A request, decoded and checked against its operation's row. */
typedef struct mproc__mgr_request_t {
    mproc_value_t *msg; /* the whole list; owns everything below */
    mproc__mgr_op_e op;
    int64_t id;
    size_t nargs;
    mproc_value_t *args[MPROC__MGR_MAX_ARGS]; /* items of msg */
} mproc__mgr_request_t;

/*
 * Decodes the @len bytes of a request and checks its shape: a list of a
 * known operation, an id (0 exactly for the manager's own operations) and
 * the arguments of the operation's row. 0 with *@req (free it with
 * mproc__mgr_request_free()); MPROC_ECORRUPT with a sentence for anything
 * else, or MPROC_ENOMEM.
 */
int mproc__mgr_request_decode(const void *data, size_t len,
                              mproc__mgr_request_t *req);
/*
 * Takes argument @i out of @req: the caller owns it from here on (the
 * request's list holds nil in its place).
 */
mproc_value_t *mproc__mgr_request_take(mproc__mgr_request_t *req, size_t i);
void mproc__mgr_request_free(mproc__mgr_request_t *req);
/*
 * Encodes the request [@op, @id, args...] of the @nargs values of @args
 * (borrowed) onto @out.
 */
int mproc__mgr_request_encode(mproc__mgr_op_e op, int64_t id,
                              mproc_value_t *const *args, size_t nargs,
                              mproc__buf_t *out);
/* Encodes the reply [@status, @payload] (@payload borrowed; NULL: nil). */
int mproc__mgr_reply_encode(int status, const mproc_value_t *payload,
                            mproc__buf_t *out);
/* The same, with the payload given encoded already (@payload's bytes). */
int mproc__mgr_reply_encode_raw(int status, const mproc__buf_t *payload,
                                mproc__buf_t *out);
/*
 * Decodes a reply: its status in *@status and its payload (the caller
 * owns it; nil when none) in *@payload. MPROC_ECORRUPT if it is no
 * reply, or a negative status without a sentence.
 */
int mproc__mgr_reply_decode(const void *data, size_t len, int *status,
                            mproc_value_t **payload);

/* ---- references to managed objects ---------------------------------- */

/*
 * A proxy's reference: kind MPROC_REF_DICT, _LIST or _NAMESPACE, with the
 * fields [address, manager id, object id, hold, key]: the address a
 * client reaches the manager at, the server's random identity (a new
 * server at an old address is not the same manager), the object, the hold
 * that keeps it alive until the reference is opened (0: none), and the
 * manager's key in hex when it is not the receiving process tree's own
 * authkey ("" otherwise).
 */
#define MPROC__MGR_REF_ADDRESS 0
#define MPROC__MGR_REF_MANAGER 1
#define MPROC__MGR_REF_OBJECT 2
#define MPROC__MGR_REF_HOLD 3
#define MPROC__MGR_REF_KEY 4
/* A server's identity: 16 hex digits. */
#define MPROC__MGR_ID_LEN 16
/* A client's token (see mproc__mgr_serve): 32 hex digits. */
#define MPROC__MGR_TOKEN_LEN 32

/* Whether @kind is a managed object's (1) or not (0). */
int mproc__mgr_kind_ok(int kind);
/* "dict", "list" or "Namespace": Python's name of a managed kind. */
const char *mproc__mgr_kind_name(int kind);

/* ---- the store ------------------------------------------------------- */

typedef struct mproc__mgr_store_t mproc__mgr_store_t;
typedef struct mproc__mgr_session_t mproc__mgr_session_t;

/*
 * A store for the server whose identity is @id (MPROC__MGR_ID_LEN hex
 * digits), named @name, with pid @pid (what HELLO tells).
 */
int mproc__mgr_store_create(mproc__mgr_store_t **s, const char *id,
                            const char *name, long pid);
/* Frees every object, session and name. No session may be serving. */
void mproc__mgr_store_destroy(mproc__mgr_store_t *s);
/*
 * How many objects the store holds, once the cycles that nothing reaches
 * are collected; and how many it holds now, collected or not.
 */
size_t mproc__mgr_store_count(mproc__mgr_store_t *s);
size_t mproc__mgr_store_held(mproc__mgr_store_t *s);

/*
 * A client: the references it holds, counted, for one connection or more.
 * A connection opens a session of its own; its first request may instead
 * JOIN the session of another connection of the same client process (by
 * the token the other's HELLO told, a secret of that process), so that
 * the threads of one process, each with its connection, share one set of
 * counts. What a session holds goes when its last connection closes.
 */
int mproc__mgr_session_open(mproc__mgr_store_t *s, mproc__mgr_session_t **out);
/* One connection of @sess closes; the last one lets go of what it held. */
void mproc__mgr_session_close(mproc__mgr_session_t *sess);
/* How many sessions the store has (clients), and connections to them. */
void mproc__mgr_store_clients(mproc__mgr_store_t *s, size_t *sessions,
                              size_t *connections);

/*
 * Serves the request of @len bytes at @data for the connection whose
 * session is *@sess, and appends its reply to @reply: a request that does
 * not decode gets a reply too (an MPROC_EREMOTE status and the sentence).
 * A JOIN replaces *@sess with the session joined (the fresh one closes).
 * 0; 1 after a SHUTDOWN request (the caller sends the reply, then stops);
 * MPROC_ENOMEM if no reply could be made.
 */
int mproc__mgr_serve(mproc__mgr_session_t **sess, const void *data, size_t len,
                     mproc__buf_t *reply);

/*
 * How long a side that waits for the other's next message polls for it
 * before it sleeps in the OS (seconds). The answer to a request, and a
 * busy client's next request, usually come within a few microseconds;
 * going to sleep and being woken costs more than that on each side,
 * since a wake-up is a trip through the scheduler (and, between CPUs, an
 * interrupt). Each poll yields the processor, so a peer that waits for
 * this CPU gets it.
 */
#define MPROC__MGR_SPIN_SEC 20e-6

/*
 * Polls @c for a message (or its end) for MPROC__MGR_SPIN_SEC at most,
 * yielding between polls; it returns when one is there or the time is
 * up. The caller then receives, which waits if nothing came.
 */
void mproc__mgr_spin_for(mproc_conn_t *c);

/* ---- the processes ---------------------------------------------------- */

/* The target a manager's server process runs (manager_server.c). */
#define MPROC__MGR_SERVER_TARGET "mproc.manager"
/* Registers that target; mproc_main() does, in every program. */
void mproc__manager_register_server(void);
/*
 * In a fork child: the parent's connections to managers are the parent's;
 * the child's first call to each makes its own (manager.c).
 */
void mproc__manager_after_fork(void);

#endif
