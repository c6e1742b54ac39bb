/* SPDX-License-Identifier: MIT */
/*
 * vhost-user message codec — theory of operation
 *
 * Everything the control plane knows about a request lives in one X-macro
 * table, VU_REQUESTS (request_table.h): per request its backend handler,
 * fd count, payload size bounds, whether a reply always follows, and the
 * protocol feature it needs (QEMU docs/interop/vhost-user.rst, "Front-end
 * message types"). The lookup array, the log names and the checks here are
 * generated from it, ignoring the handler column; backend.c generates its
 * handlers[] from the same rows. Adding a request is one row and its
 * handler.
 *
 * vu_msg_check() validates a message that conn.c has already read in full:
 * the header flags ("Message Specification", "Header"), the size against
 * the row, the fds against the row. It is pure (no I/O, no allocation), so
 * a fuzzer can drive it directly. What a request's payload *means*
 * (nregions against the fds, ring indices, feature bits) is checked by the
 * backend handler that owns the state it refers to.
 *
 * Requests vqnet does not implement (IOTLB, endianness, crypto, postcopy,
 * GPU, in-band kick) have a name for the logs (VU_UNSUPPORTED) but no row:
 * vu_request_info() returns NULL for them exactly as for a number the spec
 * does not define, so no handler can be reached for them and vu_msg_check()
 * rejects them as "unsupported request". vqnet never offers the features
 * (VIRTIO_F_IOMMU_PLATFORM, CROSS_ENDIAN, CRYPTO_SESSION, PAGEFAULT,
 * INBAND_NOTIFICATIONS) that would let a well-behaved front-end send them.
 *
 * Size policy: exact where the payload is a fixed struct. Liberal in two
 * places where front-ends are known to differ: the queries whose request
 * payload is "N/A" but whose reply is a u64 (GET_FEATURES and the like)
 * accept 0 (QEMU) or 8 bytes (front-ends that reuse the u64 message for the
 * request), and SET_LOG_FD / SET_BACKEND_REQ_FD accept 0 or 8. REM_MEM_REG
 * accepts one fd, which the spec says a back-end MAY accept and MUST close
 * (the backend's dispatcher closes it).
 */
#include <errno.h>
#include <stdio.h>

#include "base/compiler.h"
#include "msg.h"
#include "request_table.h"

/* Defined by the spec, named in logs, never handled by vqnet. */
#define VU_UNSUPPORTED(X)                                                                          \
	X(IOTLB_MSG)                                                                               \
	X(SET_VRING_ENDIAN)                                                                        \
	X(CREATE_CRYPTO_SESSION)                                                                   \
	X(CLOSE_CRYPTO_SESSION)                                                                    \
	X(POSTCOPY_ADVISE)                                                                         \
	X(POSTCOPY_LISTEN)                                                                         \
	X(POSTCOPY_END)                                                                            \
	X(GPU_SET_SOCKET)                                                                          \
	X(VRING_KICK)

/* struct vhost_iotlb_msg: iova, size, uaddr (u64), perm, type (u8), padded. */
#define IOTLB_MSG_SIZE 32u
/* Vring area description: u64 index, size, offset. */
#define VRING_AREA_SIZE 24u

/* Back-end channel requests ("Back-end message types"): the same columns
 * without the handler (the backend sends these; frontend.c answers them). */
#define VU_BACKEND_REQUESTS(X)                                                                     \
	X(IOTLB_MSG, 0, 0, IOTLB_MSG_SIZE, IOTLB_MSG_SIZE, false, NONE)                            \
	X(CONFIG_CHANGE_MSG, 0, 0, 0, U64, false, PF(CONFIG))                                      \
	X(VRING_HOST_NOTIFIER_MSG, 0, 1, VRING_AREA_SIZE, VRING_AREA_SIZE, false, PF(HOST_NOTIFIER))

/* One table row at index @id; front-end and back-end rows differ only in
 * the id's prefix and the logged name. */
#define ROW_AT(id, nm, fmin, fmax, smin, smax, reply, pf)                                          \
	[id] = {                                                                                   \
		.request = (id),                                                                   \
		.name = (nm),                                                                      \
		.fds_min = (fmin),                                                                 \
		.fds_max = (fmax),                                                                 \
		.size_min = (smin),                                                                \
		.size_max = (smax),                                                                \
		.always_replies = (reply),                                                         \
		.protocol_feature = (pf),                                                          \
	},
/* The handler column is backend.c's business: the codec ignores it. */
#define ROW(req, handler, ...) ROW_AT(VHOST_USER_##req, #req, __VA_ARGS__)
#define BACKEND_ROW(req, ...)  ROW_AT(VHOST_USER_BACKEND_##req, "BACKEND_" #req, __VA_ARGS__)
#define NAME(req)	       [VHOST_USER_##req] = #req,

static const struct vu_request_info requests[] = {VU_REQUESTS(ROW)};
static const struct vu_request_info backend_requests[] = {VU_BACKEND_REQUESTS(BACKEND_ROW)};
static const char *const unsupported_names[] = {VU_UNSUPPORTED(NAME)};

/* backend.c's handlers[] has as many entries (request_table.h). */
static_assert(ARRAY_SIZE(requests) == VU_REQUEST_TABLE_LEN, "requests[] length");

/* Every row fits the largest payload conn.c will read. */
#define SIZE_FITS(req, fmin, fmax, smin, smax, reply, pf)                                          \
	static_assert((smin) <= (smax) && (smax) <= VHOST_USER_MAX_PAYLOAD && (fmin) <= (fmax) &&  \
			      (fmax) <= VHOST_USER_MAX_FDS,                                        \
		      #req " row");
#define SIZE_FITS_ROW(req, handler, ...) SIZE_FITS(req, __VA_ARGS__)
VU_REQUESTS(SIZE_FITS_ROW)
VU_BACKEND_REQUESTS(SIZE_FITS)

/**
 * vu_request_info() - the table row of a front-end request.
 * @request: request number from the header
 *
 * Return: the row, or NULL for a request vqnet does not handle (undefined
 * by the spec, or defined but unsupported, see the top of this file).
 */
const struct vu_request_info *vu_request_info(uint32_t request)
{
	if (request >= ARRAY_SIZE(requests) || !requests[request].name)
		return NULL;
	return &requests[request];
}

/**
 * vu_backend_request_info() - the table row of a back-end channel request.
 * @request: request number from the header
 *
 * Return: the row, or NULL for an unknown request.
 */
const struct vu_request_info *vu_backend_request_info(uint32_t request)
{
	if (request >= ARRAY_SIZE(backend_requests) || !backend_requests[request].name)
		return NULL;
	return &backend_requests[request];
}

/* Defined by the spec but not handled by vqnet (VU_UNSUPPORTED). */
static bool is_unsupported(uint32_t request)
{
	return request < ARRAY_SIZE(unsupported_names) && unsupported_names[request];
}

/**
 * vu_request_name() - printable name of a front-end request, for logs.
 * @request: request number from the header
 *
 * Return: "SET_MEM_TABLE" style for known and unsupported requests,
 * "UNKNOWN(<n>)" otherwise (in a per-thread buffer, valid until the next
 * call on the same thread).
 */
const char *vu_request_name(uint32_t request)
{
	static _Thread_local char unknown[sizeof("UNKNOWN(4294967295)")];
	const struct vu_request_info *info = vu_request_info(request);

	if (info)
		return info->name;
	if (is_unsupported(request))
		return unsupported_names[request];
	snprintf(unknown, sizeof(unknown), "UNKNOWN(%u)", request);
	return unknown;
}

/* Header flags: version 1, no REPLY, nothing but NEED_REPLY besides
 * ("Message Specification": flags bits 0-1 version, 2 reply, 3 need_reply). */
static const char *check_flags(uint32_t flags)
{
	if ((flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION)
		return "bad protocol version";
	if (flags & VHOST_USER_REPLY_MASK)
		return "REPLY flag on a request";
	if (flags & ~(VHOST_USER_VERSION_MASK | VHOST_USER_NEED_REPLY_MASK))
		return "unknown flag bits";
	return NULL;
}

/* SET_VRING_KICK/CALL/ERR: bits 0-7 index, bit 8 NOFD, nothing above; one
 * fd without NOFD, none with it ("SET_VRING_KICK"). */
static const char *check_vring_fd(const struct vu_msg *m)
{
	uint64_t v = m->payload.u64;

	if (v & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK))
		return "unknown bits in vring fd payload";
	if ((v & VHOST_USER_VRING_NOFD_MASK) ? m->nfds != 0 : m->nfds != 1)
		return "fd count does not match the NOFD bit";
	return NULL;
}

/* Request-specific size and fd rules that a [min, max] range cannot say. */
static const char *check_special(const struct vu_msg *m)
{
	switch (m->hdr.request) {
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		return check_vring_fd(m);
	case VHOST_USER_SET_MEM_TABLE:
		/* A whole number of regions after nregions + padding. */
		if ((m->hdr.size - 8) % sizeof(struct vhost_user_mem_region))
			return "memory table size is not 8 + 32 * n";
		return NULL;
	default:
		return NULL;
	}
}

/**
 * vu_msg_check() - validate a received front-end request against its row.
 * @m:   the message as vu_msg_recv() returned it
 * @why: set to a static description when the message is rejected
 *
 * Return: 0, or -EPROTO (the caller closes m's fds and rejects).
 */
int vu_msg_check(const struct vu_msg *m, const char **why)
{
	const struct vu_request_info *info;
	const char *err = check_flags(m->hdr.flags);

	if (!err) {
		info = vu_request_info(m->hdr.request);
		if (!info)
			err = is_unsupported(m->hdr.request) ? "unsupported request"
							     : "unknown request";
		else if (m->hdr.size < info->size_min || m->hdr.size > info->size_max)
			err = "payload size out of range";
		else if (m->nfds > VHOST_USER_MAX_FDS)
			err = "too many fds";
		else if (m->nfds && !info->fds_max)
			err = "fds on a request that takes none";
		else if (m->nfds < info->fds_min || m->nfds > info->fds_max)
			err = "fd count out of range";
		else
			err = check_special(m);
	}
	if (!err)
		return 0;
	if (why)
		*why = err;
	return -EPROTO;
}

/**
 * vu_msg_make_reply() - turn a request into its reply in place.
 * @m:    the request; request number kept
 * @size: reply payload bytes (the caller filled m->payload)
 *
 * Sets version 1 and the REPLY flag, clears NEED_REPLY. The fds are left
 * as they are: the caller closes the request's fds (vu_msg_close_fds())
 * before putting any reply fd (GET_INFLIGHT_FD) in m->fds.
 */
void vu_msg_make_reply(struct vu_msg *m, uint32_t size)
{
	m->hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	m->hdr.size = size <= VHOST_USER_MAX_PAYLOAD ? size : (uint32_t)VHOST_USER_MAX_PAYLOAD;
}
