/* SPDX-License-Identifier: MIT */
/*
 * Property test: vqnet's driver ring against its device ring, two threads,
 * both formats — theory of operation
 *
 * Each configuration (format, queue size, EVENT_IDX / INDIRECT / IN_ORDER,
 * notification mode, buffer memory layout) sets up the harness guest memory
 * (mapped twice: the driver writes through one mapping, the device reads
 * through its gmem table of the other), a driver queue and a device queue on
 * the same ring, and runs a driver thread against a device thread until a
 * fixed number of chains went round.
 *
 * Driver: takes a buffer slot, cuts it into 1..N readable and 0..M writable
 * descriptors of random lengths (sometimes an indirect chain, sometimes a
 * long one, sometimes a chain it starts and rewinds), writes into the
 * readable bytes a pattern derived from (sequence number, byte offset),
 * builds the chain with start/add/end or with vq_drv_add_chain(), backs
 * off on NO_SPACE, publishes chains in bursts and kicks when told to. It records each
 * chain's shape in a per-id record (plain test memory, made visible to the
 * device by the library's own release/acquire pair: publish before pop).
 *
 * Device: pops (single or burst) and checks against the record: the
 * sequence number is the next one in ring order, lengths and counts agree,
 * the iovecs are exactly what gmem_translate() gives for each descriptor,
 * and every readable byte carries the pattern. It writes a pattern into a
 * random prefix of the writable bytes and completes chains one at a time,
 * in bursts, out of order (holding some back, then completing a shuffled
 * subset) or, with IN_ORDER, in order and with vq_push_in_order() batches.
 *
 * Driver again: reaps, checks token, id, order (IN_ORDER), length (the
 * device's record, or the full writable length for chains an in-order
 * batch skipped), every written byte, its free-descriptor and in-flight
 * counts, and that each chain completes exactly once.
 *
 * Notifications: polling (both sides disable and never sleep), suppressed
 * while busy (disable; re-enable with the re-check before sleeping) or
 * always on. Sleeping is on eventfds, as a real VMM/backend pair does. A
 * sleeper that times out while the peer also sleeps and neither eventfd is
 * readable has found a lost wakeup: the test fails with the ring state.
 *
 * CPUs: with two or more CPUs allowed, the driver thread and the device
 * thread are pinned to two different ones (see pick_cpus()).
 *
 * Volume: VQNET_TEST_SCALE (a factor, default 1, 0.3 under ASan, 0.01 under
 * TSan) scales the chain count; --long multiplies it by 20 (tens of
 * millions of descriptors).
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ring_pair.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define DEFAULT_SCALE 0.3
#elif defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define DEFAULT_SCALE 0.01 /* every access checked: tens of times slower */
#else
#define DEFAULT_SCALE 1.0
#endif

/* ------------------------------------------------------------ set-up */

static void run_setup(struct run *r, const struct cfg *cfg)
{
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	size_t region = 0, buf_bytes;
	switch (cfg->mem) {
	case MM_CONTIG:
		r->slot_bytes = 1000;
		r->nslots = cfg->size;
		buf_bytes = (size_t)r->nslots * r->slot_bytes;
		r->iov_cap = MAXD;
		break;
	case MM_PAGES:
		region = 4096;
		r->slot_bytes = 1800;
		buf_bytes = (GMEM_MAX_REGIONS - 1) * region;
		r->nslots = (uint32_t)(buf_bytes / r->slot_bytes);
		r->iov_cap = 2 * MAXD + r->slot_bytes / region + 2;
		break;
	case MM_TINY:
	default:
		region = 64;
		r->slot_bytes = 240;
		buf_bytes = (GMEM_MAX_REGIONS - 1) * region;
		r->nslots = (uint32_t)(buf_bytes / r->slot_bytes);
		r->iov_cap = 2 * MAXD + r->slot_bytes / region + 2;
		break;
	}
	if (r->nslots > cfg->size)
		r->nslots = cfg->size;
	/* §2.7.5.2 / §2.8.18: no chain longer than the queue size, indirect
	 * tables included. */
	r->max_k = MAXD < r->slot_bytes ? MAXD : r->slot_bytes;
	if (r->max_k > cfg->size)
		r->max_k = cfg->size;
	size_t ring_bytes = (size_t)cfg->size * 16 * (MAXD + 2) + 65536;
	int rc = tgm_init(&r->g, ring_bytes, buf_bytes, region);
	CHECK(rc == 0, "tgm_init: %s", strerror(-rc));
	rc = tring_alloc(&r->g, &r->ring, cfg->format, cfg->size, cfg->indirect ? MAXD : 0);
	CHECK(rc == 0, "tring_alloc: %d", rc);
	uint64_t f = 1ull << VIRTIO_F_VERSION_1;
	if (cfg->event_idx)
		f |= 1ull << VIRTIO_F_EVENT_IDX;
	if (cfg->indirect)
		f |= 1ull << VIRTIO_F_INDIRECT_DESC;
	if (cfg->in_order)
		f |= 1ull << VIRTIO_F_IN_ORDER;
	if (cfg->format == VQ_FORMAT_PACKED)
		f |= 1ull << VIRTIO_F_RING_PACKED;
	/* The driver initialises the ring memory: it goes first. */
	rc = tring_driver(&r->g, &r->ring, f, &r->d);
	CHECK(rc == 0, "tring_driver: %s", vq_strerror(rc));
	rc = tring_device(&r->g, &r->ring, f, VQ_DIR_BOTH, 0, &r->q);
	CHECK(rc == 0, "tring_device: %s", vq_strerror(rc));
	r->rec = calloc(cfg->size, sizeof(*r->rec));
	r->kick_fd = eventfd(0, EFD_CLOEXEC);
	r->call_fd = eventfd(0, EFD_CLOEXEC);
	CHECK(r->rec && r->kick_fd >= 0 && r->call_fd >= 0, "set-up failed");
	/* Initial notification state, before the threads start (each queue
	 * belongs to one thread at a time). */
	if (cfg->notify == NM_ALWAYS) {
		vq_enable_kicks(r->q);
		vq_drv_enable_used_notify(r->d);
	} else {
		vq_disable_kicks(r->q);
		vq_drv_disable_used_notify(r->d);
	}
}

static void run_teardown(struct run *r)
{
	vq_free(r->q);
	vq_drv_free(r->d);
	tgm_fini(&r->g);
	free(r->rec);
	close(r->kick_fd);
	close(r->call_fd);
}

struct totals {
	uint64_t chains, descs, bytes;
};

/*
 * The CPUs the driver and the device thread pin themselves to: the first
 * two this process may run on, or -1 (unpinned) with fewer than two.
 *
 * Why pin: the ring protocol is two threads talking through shared memory
 * with release/acquire pairs (publish before pop, push before reap, the
 * re-check after enabling notifications). Its ordering bugs only show when
 * the two sides really run at the same time on different cores, each with
 * its own store buffer and cache. Left to the scheduler, the two threads
 * often share one CPU and take turns, where every store is seen in program
 * order and a missing barrier goes unnoticed. Two different CPUs make every
 * run a cross-core run (the interleaving itself still varies from run to
 * run). The price: pinned threads cannot move off a busy CPU, so on a
 * loaded machine a run takes longer (each side progresses only while both
 * are scheduled). If the system refuses (a cpuset narrower than the
 * process's mask, a CPU gone offline), the thread quietly runs unpinned.
 */
static void pick_cpus(int *drv_cpu, int *dev_cpu)
{
	cpu_set_t set;
	*drv_cpu = *dev_cpu = -1;
	if (sched_getaffinity(0, sizeof(set), &set) != 0 || CPU_COUNT(&set) < 2)
		return;
	for (int cpu = 0; cpu < CPU_SETSIZE && *dev_cpu < 0; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (*drv_cpu < 0)
			*drv_cpu = cpu;
		else
			*dev_cpu = cpu;
	}
}

static int g_drv_cpu = -1, g_dev_cpu = -1;

static void run_one(const struct cfg *cfg, struct totals *t)
{
	struct run r;
	g_fail_cfg = cfg;
	run_setup(&r, cfg);
	r.drv_cpu = g_drv_cpu;
	r.dev_cpu = g_dev_cpu;
	double t0 = now_s();
	pthread_t drv_th, dev_th;
	CHECK(pthread_create(&dev_th, NULL, device_main, &r) == 0, "pthread_create");
	CHECK(pthread_create(&drv_th, NULL, driver_main, &r) == 0, "pthread_create");
	pthread_join(drv_th, NULL);
	pthread_join(dev_th, NULL);
	double dt = now_s() - t0;
	/* Polling: notifications are off (packed, split without EVENT_IDX);
	 * a stale split event index lets one through per 2^16 entries. */
	if (cfg->notify == NM_POLL) {
		uint64_t allowed = cfg->format == VQ_FORMAT_SPLIT && cfg->event_idx
					   ? cfg->chains / 65536 + 1
					   : 0;
		CHECK(r.kicks <= allowed && r.notifies <= allowed,
		      "polling, yet %" PRIu64 " kicks and %" PRIu64 " notifications", r.kicks,
		      r.notifies);
	}
	char buf[200];
	cfg_describe(cfg, buf, sizeof(buf));
	printf("%-72s chains=%" PRIu64 " descs=%" PRIu64 " bytes=%" PRIu64 " kicks=%" PRIu64
	       " notifies=%" PRIu64 " sleeps=%" PRIu64 "/%" PRIu64 " ooo=%" PRIu64
	       " io-batches=%" PRIu64 " rewinds=%" PRIu64 " %.2fs\n",
	       buf, cfg->chains, r.descs, r.dev_bytes + r.drv_bytes, r.kicks, r.notifies,
	       r.drv_sleeps, r.dev_sleeps, r.out_of_order, r.in_order_batches, r.rewinds, dt);
	fflush(stdout);
	t->chains += cfg->chains;
	t->descs += r.descs;
	t->bytes += r.dev_bytes + r.drv_bytes;
	run_teardown(&r);
	g_fail_cfg = NULL;
}

static const uint32_t split_sizes[] = {64, 256, 1024, 8, 256, 64};
static const uint32_t packed_sizes[] = {64, 100, 255, 1024, 7, 256};

/* Every format x feature combination x notification mode; sizes and
 * memory layouts rotate so each combination meets several. */
static unsigned make_cfgs(struct cfg *out, uint64_t chains, uint64_t seed)
{
	unsigned n = 0;
	for (unsigned fmt = 0; fmt < 2; fmt++)
		for (unsigned feat = 0; feat < 8; feat++)
			for (unsigned nm = 0; nm < 3; nm++) {
				unsigned i = feat * 3 + nm;
				const uint32_t *sizes = fmt ? packed_sizes : split_sizes;
				out[n] = (struct cfg){
					.format = fmt ? VQ_FORMAT_PACKED : VQ_FORMAT_SPLIT,
					.size = sizes[(i + fmt) % 6],
					.event_idx = feat & 1,
					.indirect = feat & 2,
					.in_order = feat & 4,
					.notify = (enum notify_mode)nm,
					.mem = (enum mem_mode)((i / 3 + nm + fmt) % 3),
					.chains = chains,
					.seed = seed + n,
				};
				n++;
			}
	return n;
}

int main(int argc, char **argv)
{
	double scale = DEFAULT_SCALE;
	const char *env = getenv("VQNET_TEST_SCALE");
	uint64_t seed = 1;
	long only = -1;
	if (env && *env)
		scale = strtod(env, NULL);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--long"))
			scale *= 20;
		else if (!strncmp(argv[i], "--seed=", 7))
			seed = strtoull(argv[i] + 7, NULL, 0);
		else if (!strncmp(argv[i], "--only=", 7))
			only = strtol(argv[i] + 7, NULL, 0);
		else {
			fprintf(stderr,
				"usage: %s [--long] [--seed=N] [--only=I]\n"
				"  VQNET_TEST_SCALE=f scales the chain count\n",
				argv[0]);
			return 2;
		}
	}
	uint64_t chains = (uint64_t)(BASE_CHAINS * scale);
	if (chains < 100)
		chains = 100;
	pick_cpus(&g_drv_cpu, &g_dev_cpu);
	if (g_drv_cpu >= 0)
		printf("prop-ring-pair: pinning the driver thread to CPU %d, the device thread to "
		       "CPU %d\n",
		       g_drv_cpu, g_dev_cpu);
	else
		printf("prop-ring-pair: fewer than two CPUs, threads unpinned\n");
	struct cfg cfgs[48];
	unsigned n = make_cfgs(cfgs, chains, seed);
	struct totals t = {0};
	double t0 = now_s();
	for (unsigned i = 0; i < n; i++) {
		if (only >= 0 && (unsigned long)only != i)
			continue;
		printf("[%2u] ", i);
		run_one(&cfgs[i], &t);
	}
	printf("prop-ring-pair: %" PRIu64 " chains, %" PRIu64 " descriptors, %" PRIu64
	       " bytes verified, %.1fs, all OK\n",
	       t.chains, t.descs, t.bytes, now_s() - t0);
	return 0;
}
