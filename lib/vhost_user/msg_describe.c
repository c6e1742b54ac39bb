/* SPDX-License-Identifier: MIT */
/*
 * One line describing a checked vhost-user message, for --log-level debug
 * (msg.h): what the frontend set up, step by step — features, the memory
 * table region by region, each ring's size, addresses, base and fds.
 * Only called when debug lines are wanted; the payload has passed
 * vu_msg_check(), so its size matches the request.
 */
#include <inttypes.h>
#include <stdio.h>

#include "msg.h"

/* Append to @buf (size @len) at *@at; a full buffer cuts the line. */
#define APPEND(buf, len, at, ...)                                                                  \
	do {                                                                                       \
		if (*(at) < (len))                                                                 \
			*(at) += (size_t)snprintf((buf) + *(at), (len) - *(at), __VA_ARGS__);      \
	} while (0)

static void describe_region(char *buf, size_t len, size_t *at,
			    const struct vhost_user_mem_region *r)
{
	APPEND(buf, len, at,
	       " [gpa 0x%" PRIx64 " size 0x%" PRIx64 " uva 0x%" PRIx64 " off 0x%" PRIx64 "]",
	       r->guest_phys_addr, r->memory_size, r->userspace_addr, r->mmap_offset);
}

/* A ring's kick, call or err fd message: the index, and the fd or none. */
static void describe_vring_fd(char *buf, size_t len, size_t *at, const struct vu_msg *m)
{
	uint64_t v = m->payload.u64;

	APPEND(buf, len, at, " queue %u %s", (unsigned)(v & VHOST_USER_VRING_IDX_MASK),
	       (v & VHOST_USER_VRING_NOFD_MASK) ? "no fd (polling)" : "fd");
}

static void describe_payload(char *buf, size_t len, size_t *at, const struct vu_msg *m)
{
	const struct vhost_vring_addr *a = &m->payload.addr;

	/* A reply of one u64 (a value or a REPLY_ACK status) keeps the
	 * request's number but not its payload layout. */
	if ((m->hdr.flags & VHOST_USER_REPLY_MASK) && m->hdr.size == sizeof(uint64_t)) {
		APPEND(buf, len, at, " 0x%" PRIx64, m->payload.u64);
		return;
	}
	switch (m->hdr.request) {
	case VHOST_USER_SET_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		APPEND(buf, len, at, " 0x%016" PRIx64, m->payload.u64);
		break;
	case VHOST_USER_SET_MEM_TABLE:
		APPEND(buf, len, at, " %u region(s):", m->payload.memory.nregions);
		for (unsigned i = 0;
		     i < m->payload.memory.nregions && i < VHOST_MEMORY_BASELINE_NREGIONS; i++)
			describe_region(buf, len, at, &m->payload.memory.regions[i]);
		break;
	case VHOST_USER_ADD_MEM_REG:
	case VHOST_USER_REM_MEM_REG:
		describe_region(buf, len, at, &m->payload.mem_reg.region);
		break;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		APPEND(buf, len, at, " queue %u value %u (0x%x)", m->payload.state.index,
		       m->payload.state.num, m->payload.state.num);
		break;
	case VHOST_USER_SET_VRING_ADDR:
		APPEND(buf, len, at,
		       " queue %u flags 0x%x desc 0x%" PRIx64 " avail 0x%" PRIx64 " used 0x%" PRIx64
		       " log 0x%" PRIx64,
		       a->index, a->flags, a->desc_user_addr, a->avail_user_addr, a->used_user_addr,
		       a->log_guest_addr);
		break;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		describe_vring_fd(buf, len, at, m);
		break;
	case VHOST_USER_SET_LOG_BASE:
		APPEND(buf, len, at, " size 0x%" PRIx64 " offset 0x%" PRIx64,
		       m->payload.log.mmap_size, m->payload.log.mmap_offset);
		break;
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		APPEND(buf, len, at, " offset %u size %u", m->payload.config.offset,
		       m->payload.config.size);
		break;
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_SET_INFLIGHT_FD:
		APPEND(buf, len, at, " %u queues of %u, size 0x%" PRIx64,
		       m->payload.inflight.num_queues, m->payload.inflight.queue_size,
		       m->payload.inflight.mmap_size);
		break;
	default:
		if (m->hdr.size == sizeof(uint64_t))
			APPEND(buf, len, at, " 0x%" PRIx64, m->payload.u64);
		break;
	}
}

void vu_msg_describe(const struct vu_msg *m, char *buf, size_t len)
{
	size_t at = 0;

	if (!len)
		return;
	buf[0] = '\0';
	APPEND(buf, len, &at, "%s", vu_request_name(m->hdr.request));
	describe_payload(buf, len, &at, m);
	if (m->nfds)
		APPEND(buf, len, &at, " (%u fd%s)", m->nfds, m->nfds == 1 ? "" : "s");
}
