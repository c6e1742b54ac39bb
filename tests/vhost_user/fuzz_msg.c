/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the vhost-user codec and connection reader.
 *
 * Input: byte 0 picks how many fds ride on the stream (low nibble, 0..15:
 * up to 15 so MSG_CTRUNC is reached) and, in bit 4, whether they go with
 * the first byte or half-way; the rest is the raw byte stream a front-end
 * writes. The stream is written into a socketpair and closed; then
 * vu_msg_recv() is called until it fails, and every message it returns
 * goes through vu_msg_check(). The same bytes are also decoded directly
 * into a struct vu_msg (with a fuzzed nfds, up to 11, beyond what recv can
 * produce) for vu_msg_check() alone.
 *
 * Invariants (abort() on violation, so libFuzzer keeps the input):
 *  - an accepted message satisfies its table row (size, fd bounds);
 *  - a message turned into a reply never passes vu_msg_check();
 *  - no fd leaks: after each input the lowest free fd number is the same
 *    as before the first input (a leaked fd would occupy it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost_user/msg.h"
#include "../harness/test_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STREAM   4096
#define MAX_SEND_FDS 15

static int devnull = -1;
static int lowest_free = -1;

static void check_accepted(const struct vu_msg *m)
{
	const char *why = NULL;
	const struct vu_request_info *info;
	struct vu_msg reply;

	if (vu_msg_check(m, &why) != 0) {
		if (!why)
			abort();
		return;
	}
	info = vu_request_info(m->hdr.request);
	if (!info || m->hdr.size < info->size_min || m->hdr.size > info->size_max ||
	    m->hdr.size > VHOST_USER_MAX_PAYLOAD || m->nfds < info->fds_min ||
	    m->nfds > info->fds_max)
		abort();
	if (!vu_request_name(m->hdr.request)[0])
		abort();
	memcpy(&reply, m, sizeof(reply));
	vu_msg_make_reply(&reply, m->hdr.size);
	if (vu_msg_check(&reply, NULL) == 0)
		abort();
}

/* The bytes as an already-received message, fds set to -1. */
static void decode_direct(const uint8_t *data, size_t size)
{
	struct vu_msg m;

	memset(&m, 0, sizeof(m));
	memcpy(&m.hdr, data, size < sizeof(m.hdr) ? size : sizeof(m.hdr));
	if (size > sizeof(m.hdr)) {
		size_t n = size - sizeof(m.hdr);
		memcpy(m.payload.raw, data + sizeof(m.hdr),
		       n < sizeof(m.payload.raw) ? n : sizeof(m.payload.raw));
	}
	m.nfds = size ? data[size - 1] % (VHOST_USER_MAX_FDS + 4) : 0;
	for (unsigned i = 0; i < VHOST_USER_MAX_FDS; i++)
		m.fds[i] = -1;
	check_accepted(&m);
	(void)vu_backend_request_info(m.hdr.request);
}

/* Write @len bytes, @nfds copies of /dev/null attached to the first. */
static void send_chunk(int sock, const uint8_t *buf, size_t len, unsigned nfds)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	int fds[MAX_SEND_FDS];

	if (!len)
		return;
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = devnull;
	if (sendmsg_fds(sock, &iov, 1, fds, nfds) != (ssize_t)len)
		abort();
}

static void through_socket(const uint8_t *data, size_t size)
{
	int sv[2];
	struct vu_msg m;
	unsigned nfds = data[0] & 0xf;
	size_t split = (data[0] & 0x10) ? (size - 1) / 2 : 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	send_chunk(sv[0], data + 1, split, 0);
	send_chunk(sv[0], data + 1 + split, size - 1 - split, nfds);
	shutdown(sv[0], SHUT_WR);
	while (vu_msg_recv(sv[1], &m) == 0) {
		check_accepted(&m);
		vu_msg_close_fds(&m);
	}
	close(sv[0]);
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (devnull < 0) {
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		lowest_free = dup(devnull);
		if (devnull < 0 || lowest_free < 0)
			abort();
		close(lowest_free);
	}
	decode_direct(data, size);
	if (size == 0 || size > MAX_STREAM)
		return 0;
	through_socket(data, size);

	int probe = dup(devnull);
	if (probe != lowest_free)
		abort();
	close(probe);
	return 0;
}
