/* SPDX-License-Identifier: MIT */
/* The ring-pair property test's shared helpers: see ring_pair.h. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ring_pair.h"

const char *const notify_names[] = {"poll", "suppress", "always"};
const char *const mem_names[] = {"contig", "pages4k", "tiny64"};

const struct cfg *g_fail_cfg;

void cfg_describe(const struct cfg *c, char *buf, size_t n)
{
	snprintf(buf, n, "%s size=%u%s%s%s notify=%s mem=%s seed=%" PRIu64,
		 c->format == VQ_FORMAT_SPLIT ? "split" : "packed", c->size,
		 c->event_idx ? " EVENT_IDX" : "", c->indirect ? " INDIRECT" : "",
		 c->in_order ? " IN_ORDER" : "", notify_names[c->notify], mem_names[c->mem],
		 c->seed);
}

/* ------------------------------------------------------------ waiting */

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void stall_check(struct run *r, struct stall *st, const char *who)
{
	if (++st->iter % 256)
		return;
	uint64_t p = atomic_load(&r->progress);
	double t = now_s();
	if (p != st->seen || st->since == 0) {
		st->seen = p;
		st->since = t;
	} else if (t - st->since > STALL_S) {
		dump_state(r);
		FAIL("%s: no progress on either side for %.0f s", who, STALL_S);
	}
}

void signal_fd(int fd)
{
	uint64_t one = 1;
	if (write(fd, &one, sizeof(one)) != sizeof(one))
		FAIL("eventfd write: %s", strerror(errno));
}

static bool fd_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

void dump_state(struct run *r)
{
	struct vq_state s;
	vq_get_state(r->q, &s);
	fprintf(stderr,
		"state: device in_flight=%u avail_pending=%d avail_idx=%u used_idx=%u "
		"(wraps %d/%d) broken=%d; driver in_flight=%u free_descs=%u broken=%d\n",
		vq_in_flight(r->q), vq_avail_pending(r->q), s.avail_idx, s.used_idx, s.avail_wrap,
		s.used_wrap, vq_broken_reason(r->q), vq_drv_in_flight(r->d),
		vq_drv_free_descs(r->d), vq_drv_broken_reason(r->d));
}

/*
 * Sleep on @fd until signalled. Every WAIT_MS, if the peer sleeps too (the
 * same sleep as at the previous check) and neither eventfd is readable,
 * nobody can ever wake either side: a lost notification.
 */
void wait_fd(struct run *r, int fd, int peer_fd, struct side_wait *me, struct side_wait *peer,
	     const char *who)
{
	unsigned seen_epoch = 0;
	int strikes = 0;
	atomic_fetch_add(&me->epoch, 1);
	atomic_store(&me->waiting, 1);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, 1, WAIT_MS);
		if (n > 0) {
			uint64_t v;
			if (read(fd, &v, sizeof(v)) != sizeof(v))
				FAIL("eventfd read: %s", strerror(errno));
			break;
		}
		if (n < 0 && errno != EINTR)
			FAIL("poll: %s", strerror(errno));
		unsigned ep = atomic_load(&peer->epoch);
		if (atomic_load(&peer->waiting) && !fd_readable(peer_fd) && !fd_readable(fd) &&
		    (strikes == 0 || ep == seen_epoch)) {
			seen_epoch = ep;
			if (++strikes >= 3) {
				dump_state(r);
				FAIL("deadlock: %s and its peer both sleep, no notification "
				     "pending",
				     who);
			}
		} else {
			strikes = 0;
		}
	}
	atomic_store(&me->waiting, 0);
}

void pin_self(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* A restricted cpuset or a CPU gone offline refuses: run unpinned. */
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}
