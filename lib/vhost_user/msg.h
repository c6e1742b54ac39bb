/* SPDX-License-Identifier: MIT */
/*
 * vhost-user message codec and connection I/O (internal to lib/vhost_user).
 *
 * msg.c is a pure codec: the request table (request_table.h, one row per
 * request: name, handler, fd count, payload size rule, reply policy,
 * required protocol feature; the codec ignores the handler) and
 * vu_msg_check(), which validates a received message against its row. No
 * I/O, so it can be fuzzed. conn.c moves messages over a Unix socket with
 * SCM_RIGHTS and nothing else.
 */
#ifndef VQNET_VHOST_USER_MSG_H
#define VQNET_VHOST_USER_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "spec/vhost_user_msg.h"

/* How long a peer may stop half-way through a message, or stop reading
 * one, before its connection is given up (non-blocking sockets). */
#define VU_STALL_MS 5000u

struct vu_msg {
	struct vhost_user_header hdr;
	union {
		uint64_t u64;
		struct vhost_vring_state state;
		struct vhost_vring_addr addr;
		struct vhost_user_memory memory;
		struct vhost_user_mem_reg mem_reg;
		struct vhost_user_log log;
		struct vhost_user_config config;
		struct vhost_user_inflight inflight;
		uint8_t raw[VHOST_USER_MAX_PAYLOAD];
	} payload;
	int fds[VHOST_USER_MAX_FDS]; /* received or to send; owned by the message */
	unsigned nfds;
};

/* One row of the request table. */
struct vu_request_info {
	uint32_t request;
	const char *name;	     /* "SET_MEM_TABLE" */
	uint8_t fds_min, fds_max;    /* fds the request may carry */
	uint32_t size_min, size_max; /* payload bytes allowed */
	bool always_replies;	 /* GET_* and the like: a reply follows regardless of REPLY_ACK */
	int8_t protocol_feature; /* protocol feature bit required, or -1 */
};

/* The row for @request, or NULL for an unknown request (front-end requests
 * 1..40; backend-channel requests have their own table). */
const struct vu_request_info *vu_request_info(uint32_t request);
const struct vu_request_info *vu_backend_request_info(uint32_t request);
/* A printable name, "UNKNOWN(<n>)" style for unknown ones (static buffer
 * per thread). */
const char *vu_request_name(uint32_t request);
/* One line naming @m's request and what it carries (features, memory
 * regions, ring index and values, fds) into @buf (cut at @len), for debug
 * logging; @m must have passed vu_msg_check() (msg_describe.c). */
void vu_msg_describe(const struct vu_msg *m, char *buf, size_t len);

/**
 * vu_msg_check() - validate a received front-end request against its table
 * row: version bits 0x1, no REPLY flag, no unknown flag bits, size within
 * the row's bounds, fd count within the row's bounds (SET_VRING_KICK/CALL/
 * ERR: exactly one fd unless the NOFD bit is set, then none). Request-
 * specific content (nregions vs fds, indices...) is the handler's job.
 * Return: 0, or -EPROTO with *why pointing at a static description.
 */
int vu_msg_check(const struct vu_msg *m, const char **why);

/* Reply helpers: turn @m into its reply (REPLY flag, version, size). */
void vu_msg_make_reply(struct vu_msg *m, uint32_t size);

/**
 * vu_msg_recv() - read one message: the 12-byte header (with ancillary fds),
 * then exactly hdr.size payload bytes, looping over short reads. A size
 * above VHOST_USER_MAX_PAYLOAD, truncated control data (MSG_CTRUNC), EOF in
 * the middle, or more fds than VHOST_USER_MAX_FDS is an error; every fd
 * that arrived is closed on any error. Blocking socket.
 * Return: 0; -ECONNRESET on EOF before the header; -EPROTO on a malformed
 * message; or another -errno.
 */
int vu_msg_recv(int sock, struct vu_msg *m);

/**
 * vu_msg_send() - write header + hdr.size payload bytes, with m->fds as
 * SCM_RIGHTS (the fds stay owned by the caller). Return 0 or -errno.
 */
int vu_msg_send(int sock, const struct vu_msg *m);

/* Close every fd the message holds and set nfds to 0. */
void vu_msg_close_fds(struct vu_msg *m);

/* A message read in pieces, as the socket delivers them (zero it first). */
struct vu_msg_rx {
	struct vu_msg m;
	size_t got; /* header and payload bytes read */
};
/* A message written in pieces, as the socket takes them. m.fds belong to
 * it until they are sent (with the first byte) or it is reset. */
struct vu_msg_tx {
	struct vu_msg m;
	size_t sent;  /* header and payload bytes written */
	bool pending; /* set by the owner while m has bytes to go */
};
int vu_msg_recv_nb(int sock, struct vu_msg_rx *rx);
void vu_msg_rx_reset(struct vu_msg_rx *rx);
int vu_msg_send_nb(int sock, struct vu_msg_tx *tx);
void vu_msg_tx_reset(struct vu_msg_tx *tx);

#endif
