/* SPDX-License-Identifier: MIT */
/*
 * vqnet-ring-bench: bare virtqueue throughput, driver thread against device
 * thread over shared memory, both polling (no notifications), each pinned to
 * its own CPU.
 *
 * The driver keeps the ring full with chains of 1 or 2 device-readable
 * descriptors (64-byte buffers; 2-descriptor chains are a 12-byte header plus
 * a 64-byte frame, like a virtio-net transmit), publishing every `burst`
 * chains; the device pops up to `burst` chains, completes them with one
 * vq_push_burst (or vq_push_in_order with --in-order) and the driver reaps.
 * By default no payload byte is touched: this measures the ring alone, the
 * ceiling for everything built on it. --touch makes the device read every
 * payload byte and the driver write each frame's first line, as a packet
 * path would.
 *
 * Each row is the median of --runs runs of --seconds each. With --verify the
 * driver checks every reaped id and token (the self-check run.sh uses).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vqnet/virtq.h>

#include "base/compiler.h"
#include "guestmem.h"

#define MAX_BURST  256
#define BUF_STRIDE 128

struct opts {
	double seconds;
	int runs;
	unsigned size;
	bool touch, verify, in_order, push_each, json;
	int cpu_driver, cpu_device;
	const char *only_format;
};

struct run {
	const struct opts *o;
	struct tgm g;
	struct tring r;
	struct vq *q;
	struct vq_drv *d;
	unsigned chain_len, burst;
	/* Each thread's hot fields on their own cache line: the benchmark must
	 * not add false sharing of its own to what it measures. */
	_Alignas(64) atomic_bool stop; /* written once, read by both */
	atomic_int ready;
	_Alignas(64) uint64_t chains_done; /* driver thread */
	uint32_t slot;			   /* driver thread: next buffer */
	uint64_t driver_errors;
	_Alignas(64) uint64_t device_errors;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void pin(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void start_together(struct run *r)
{
	atomic_fetch_add(&r->ready, 1);
	while (atomic_load(&r->ready) < 2)
		;
}

static void *device_thread(void *arg)
{
	struct run *r = arg;
	struct iovec iov[MAX_BURST][4];
	struct vq_elem e[MAX_BURST];
	struct vq_used u[MAX_BURST];
	for (unsigned i = 0; i < MAX_BURST; i++)
		e[i] = (struct vq_elem){.iov = iov[i], .iov_cap = 4};
	pin(r->o->cpu_device);
	start_together(r);
	volatile uint8_t sink = 0;
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		int err;
		unsigned n = vq_pop_burst(r->q, e, r->burst, &err);
		if (err)
			r->device_errors++;
		if (n == 0) {
			/* Back off a little: a consumer spinning on the index steals
			 * the cache line the producer is filling (PERFORMANCE.md 7). */
			for (int k = 0; k < 8; k++)
				cpu_relax();
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			if (r->o->touch)
				for (unsigned k = 0; k < e[i].nout; k++)
					for (size_t b = 0; b < e[i].iov[k].iov_len; b += 8)
						sink ^= ((uint8_t *)e[i].iov[k].iov_base)[b];
			u[i] = (struct vq_used){.id = e[i].id, .len = 0};
		}
		if (r->o->in_order && !r->o->push_each)
			vq_push_in_order(r->q, n, 0);
		else
			vq_push_burst(r->q, u, n);
	}
	(void)sink;
	return NULL;
}

static bool fill(struct run *r, uint64_t *seq)
{
	unsigned added = 0;
	uint64_t base = tgm_buf_gpa(&r->g);
	while (added < r->burst && vq_drv_free_descs(r->d) >= r->chain_len) {
		/* Buffers cycle through the area (no division per chain: the
		 * benchmark must not add work of its own to what it measures). */
		uint64_t gpa = base + (uint64_t)r->slot * BUF_STRIDE;
		if (++r->slot == r->r.size)
			r->slot = 0;
		if (r->o->touch)
			*(uint64_t *)tgm_drv_ptr(&r->g, gpa) = *seq;
		struct vq_drv_buf bufs[2] = {{gpa, 12}, {gpa + 16, 64}};
		if (r->chain_len == 1)
			bufs[0].len = 64;
		if (vq_drv_add_chain(r->d, bufs, r->chain_len, 0, false,
				     (void *)(uintptr_t)(*seq + 1)) < 0)
			return false;
		(*seq)++;
		added++;
	}
	if (added)
		vq_drv_publish(r->d);
	return true;
}

static void *driver_thread(void *arg)
{
	struct run *r = arg;
	struct vq_drv_used used[MAX_BURST];
	uint64_t seq = 0, expect = 1;
	pin(r->o->cpu_driver);
	start_together(r);
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		/* Reap only when a full burst no longer fits, as DPDK's virtio
		 * PMD frees transmit buffers below a threshold: each look at
		 * the device's used index (a cache miss whenever it moved) then
		 * covers many completions. */
		int n = 0;
		if (vq_drv_free_descs(r->d) < r->burst * r->chain_len)
			n = vq_drv_reap(r->d, used, MAX_BURST);
		if (n < 0) {
			r->driver_errors++;
			break;
		}
		if (r->o->verify)
			for (int i = 0; i < n; i++)
				if ((uintptr_t)used[i].token != expect++)
					r->driver_errors++; /* completions come back in order here
							     */
		__atomic_store_n(&r->chains_done, r->chains_done + (unsigned)n, __ATOMIC_RELAXED);
		if (!fill(r, &seq))
			r->driver_errors++;
	}
	return NULL;
}

static int setup(struct run *r, enum vq_format fmt)
{
	uint64_t feat = 1ull << VIRTIO_F_VERSION_1;
	if (r->o->in_order)
		feat |= 1ull << VIRTIO_F_IN_ORDER;
	if (fmt == VQ_FORMAT_PACKED)
		feat |= 1ull << VIRTIO_F_RING_PACKED;
	int rc = tgm_init(&r->g, 1 << 20, (size_t)r->o->size * BUF_STRIDE, 0);
	if (rc == 0)
		rc = tring_alloc(&r->g, &r->r, fmt, r->o->size, 0);
	if (rc == 0)
		rc = tring_device(&r->g, &r->r, feat, VQ_DIR_DEVICE_READS, 0, &r->q);
	if (rc == 0)
		rc = tring_driver(&r->g, &r->r, feat, &r->d);
	return rc;
}

static void teardown(struct run *r)
{
	vq_free(r->q);
	vq_drv_free(r->d);
	tgm_fini(&r->g);
}

/* One timed run; returns million descriptors per second, or -1. */
static double one_run(const struct opts *o, enum vq_format fmt, unsigned chain_len, unsigned burst)
{
	struct run *r = aligned_alloc(64, (sizeof(struct run) + 63) / 64 * 64);
	if (!r)
		return -1;
	memset(r, 0, sizeof(*r));
	r->o = o;
	r->chain_len = chain_len;
	r->burst = burst;
	double rate = -1;
	if (setup(r, fmt) == 0) {
		pthread_t td, tv;
		pthread_create(&tv, NULL, device_thread, r);
		pthread_create(&td, NULL, driver_thread, r);
		while (atomic_load(&r->ready) < 2)
			;
		double t0 = now_s();
		uint64_t c0 = __atomic_load_n(&r->chains_done, __ATOMIC_RELAXED);
		struct timespec ts = {(time_t)o->seconds,
				      (long)((o->seconds - (time_t)o->seconds) * 1e9)};
		nanosleep(&ts, NULL);
		uint64_t c1 = __atomic_load_n(&r->chains_done, __ATOMIC_RELAXED);
		double t1 = now_s();
		atomic_store(&r->stop, true);
		pthread_join(td, NULL);
		pthread_join(tv, NULL);
		uint64_t errors = r->driver_errors + r->device_errors;
		if (errors == 0 && !vq_is_broken(r->q) && !vq_drv_is_broken(r->d))
			rate = (double)(c1 - c0) * chain_len / (t1 - t0) / 1e6;
		else
			fprintf(stderr, "run failed: %llu errors, device %s, driver %s\n",
				(unsigned long long)errors, vq_strerror(vq_broken_reason(r->q)),
				vq_strerror(vq_drv_broken_reason(r->d)));
	}
	teardown(r);
	free(r);
	return rate;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vqnet-ring-bench [--seconds S] [--runs N] [--size Q] [--touch]\n"
		"                        [--verify] [--in-order [--push-each]] [--split|--packed]\n"
		"                        [--json]\n"
		"                        [--cpus DRIVER,DEVICE]\n"
		"Bare virtqueue throughput: million descriptors per second, median of runs.\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"seconds", 1, 0, 's'}, {"runs", 1, 0, 'r'},   {"size", 1, 0, 'q'},
		{"touch", 0, 0, 't'},	{"verify", 0, 0, 'v'}, {"in-order", 0, 0, 'i'},
		{"split", 0, 0, 'S'},	{"packed", 0, 0, 'P'}, {"json", 0, 0, 'j'},
		{"cpus", 1, 0, 'c'},	{"help", 0, 0, 'h'},   {"push-each", 0, 0, 'e'},
		{0, 0, 0, 0},
	};
	*o = (struct opts){
		.seconds = 1.0, .runs = 5, .size = 256, .cpu_driver = 1, .cpu_device = 0};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			o->seconds = atof(optarg);
			break;
		case 'r':
			o->runs = atoi(optarg);
			break;
		case 'q':
			o->size = (unsigned)atoi(optarg);
			break;
		case 't':
			o->touch = true;
			break;
		case 'v':
			o->verify = true;
			break;
		case 'i':
			o->in_order = true;
			break;
		case 'e':
			o->push_each = true;
			break;
		case 'S':
			o->only_format = "split";
			break;
		case 'P':
			o->only_format = "packed";
			break;
		case 'j':
			o->json = true;
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &o->cpu_driver, &o->cpu_device) != 2)
				return 2;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return 2;
		}
	}
	struct vq_layout l;
	if (optind != argc || o->seconds <= 0 || o->runs < 1 || o->runs > 99 ||
	    vq_layout(VQ_FORMAT_SPLIT, o->size, &l))
		return 2;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse(argc, argv, &o)) {
		fprintf(stderr,
			"vqnet-ring-bench: bad arguments (queue size must be a power of two)\n");
		usage(stderr);
		return 2;
	}
	static const char *const names[] = {"split", "packed"};
	static const unsigned chains[] = {1, 2}, bursts[] = {1, 32};
	int failed = 0;
	if (!o.json)
		printf("%-7s %5s %5s %12s   (median of %d x %.1fs, queue %u%s%s)\n", "format",
		       "descs", "burst", "Mdesc/s", o.runs, o.seconds, o.size,
		       o.touch ? ", payload touched" : ", ring only",
		       o.in_order ? (o.push_each ? ", in-order, one used entry per chain"
						 : ", in-order, one used entry per batch")
				  : "");
	for (int f = 0; f < 2; f++) {
		if (o.only_format && strcmp(o.only_format, names[f]))
			continue;
		for (int ci = 0; ci < 2; ci++)
			for (int bi = 0; bi < 2; bi++) {
				double v[99];
				int ok = 0;
				for (int k = 0; k < o.runs; k++) {
					double x = one_run(&o, (enum vq_format)f, chains[ci],
							   bursts[bi]);
					if (x >= 0)
						v[ok++] = x;
				}
				if (ok < o.runs) {
					failed = 1;
					continue;
				}
				qsort(v, (size_t)ok, sizeof(v[0]), cmp_double);
				double med = v[ok / 2];
				if (o.json)
					printf("{\"format\":\"%s\",\"descs_per_chain\":%u,"
					       "\"burst\":%u,"
					       "\"mdesc_per_s\":%.2f,\"min\":%.2f,\"max\":%.2f}\n",
					       names[f], chains[ci], bursts[bi], med, v[0],
					       v[ok - 1]);
				else
					printf("%-7s %5u %5u %12.1f   [%.1f .. %.1f]\n", names[f],
					       chains[ci], bursts[bi], med, v[0], v[ok - 1]);
				fflush(stdout);
			}
	}
	return failed;
}
