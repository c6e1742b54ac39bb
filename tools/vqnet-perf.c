/* SPDX-License-Identifier: MIT */
/*
 * vqnet-perf: packet rate and latency through the userspace virtio-net
 * driver library (include/vqnet/vnet_drv.h) against any vhost-user backend:
 * vqnetd (sink, gen, loop), DPDK's vhost PMD (testpmd net_vhost), ...
 *
 *   vqnet-perf --socket PATH --mode tx|rx|pingpong|bidir [--size BYTES]
 *              [--seconds S] [--queues N] [--split|--packed] [--burst N]
 *              [--ring-size N] [--mrg|--no-mrg] [--in-order] [--json] [--cpu N]
 *
 * Theory of operation. The main thread opens the device, starts one worker
 * thread per queue pair (pinned to CPU N+k with --cpu N), then wakes once a
 * second to print what the workers counted, and at the end tells them to
 * stop, joins them and prints a summary. Workers poll; nothing sleeps on
 * the data path and nothing is allocated on it (the latency histogram and
 * the packet arrays are set up before the clock starts).
 *
 * Frames (laid out as vqnetd's gen backend makes them): destination the
 * device's MAC, source 02:00:00:00:00:01, EtherType 0x88b5, then a le64
 * sequence number per queue pair, then zero padding. Like DPDK's txonly,
 * which rewrites only the headers of recycled mbufs, transmit writes only
 * those 22 bytes per frame; the padding is the shared memory's zeroes
 * (memfd and hugetlbfs pages start zeroed, and no frame this tool sends or
 * expects back has anything else there), so the payload is never
 * rewritten.
 *
 * Modes:
 *   tx        send bursts as fast as the ring takes them. `packets` in the
 *             summary counts frames the device completed (used entries
 *             reaped): when the time is up the worker stops sending and
 *             waits for the ring to drain, then counts the buffers back in
 *             its pool. Per-second lines count frames queued, which differ
 *             from completions by at most one ring's worth.
 *   rx        receive and count. Frames with EtherType 0x88b5 have their
 *             sequence number checked per queue: a jump forward adds to
 *             `lost`, a step back or a repeat to `seq_errors`. Other
 *             frames (DPDK txonly's UDP) are counted as `foreign`.
 *   pingpong  one frame in flight per queue pair against a peer that
 *             returns it (vqnetd --backend loop, testpmd io/macswap): the
 *             round-trip time of each goes into a log-linear histogram
 *             (64 sub-buckets per power of two of nanoseconds, ~1.6 %
 *             resolution); p50/p99/p99.9. No reply within 100 ms: the
 *             ping is `lost` (and its reply, if it comes, `late`); any
 *             other reply that is not the frame in flight (a repeat, a
 *             number never sent) is a seq error. `packets` counts round
 *             trips; `bytes` one direction's frame bytes.
 *   bidir     transmit and receive at once, interleaved in the pair's one
 *             thread (a burst out, then a burst in), so each side of the
 *             link needs one core. Summary `packets` is tx completions
 *             plus rx frames (tx_packets, rx_packets apart). Returned
 *             frames are checked as in rx; against a loop peer, `lost`
 *             counts frames the peer dropped (no receive buffer).
 *
 * Output: a line per second and a summary (packets, bytes, Mpps, Gbps; for
 * pingpong the latency percentiles); with --json one JSON object per line,
 * the last one the summary ("summary": true). Bytes are frame bytes (no
 * virtio-net header). The summary also gives seq_errors, lost, foreign,
 * the library's drops and errors, and the mean frames per tx/rx burst
 * call that moved any (tx_per_burst, rx_per_burst: how full bursts were).
 * --help prints the usage to stdout and exits 0. Exit: 0 done, 1 run-time failure (cannot connect,
 * a queue broke, no packet moved), 2 bad arguments (one line on stderr).
 */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vqnet/version.h>
#include <vqnet/vnet_drv.h>
#include "base/cli.h"
#include "base/clock.h"
#include "base/counter.h"
#include "spec/ethernet.h"

#define likely(x) __builtin_expect(!!(x), 1)

#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

#define SEQ_OFF		ETH_HDR_LEN
#define FRAME_HDR_LEN	(ETH_HDR_LEN + 8u) /* what tx rewrites per frame */
#define ETHERTYPE_HI	0x88
#define ETHERTYPE_LO	0xb5
#define MAX_BURST	256u
#define PING_TIMEOUT_NS 100000000ull
#define DRAIN_NS	200000000ull

/* Latency histogram: value v (ns) lands in bucket (e, m): e = position of
 * the highest bit above HIST_SUB_BITS, m = the next HIST_SUB_BITS bits. */
#define HIST_SUB_BITS 6u
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_EXP      40u /* up to 2^46 ns: far beyond any run */
#define HIST_BUCKETS  (HIST_EXP * HIST_SUB)

enum mode { MODE_TX, MODE_RX, MODE_PINGPONG, MODE_BIDIR };
static const char *const mode_names[] = {"tx", "rx", "pingpong", "bidir"};

struct opts {
	const char *socket;
	enum mode mode;
	uint32_t size;
	unsigned seconds;
	unsigned queues;
	enum vnet_drv_ring_format ring;
	unsigned burst;
	uint32_t ring_size;
	bool mrg;
	bool in_order;
	bool json;
	int cpu; /* -1: no pinning */
};

/*
 * Counters of one worker: written by it only (relaxed load + store, no
 * read-modify-write), read by the main thread once a second. On their own
 * cache lines, so the two threads share nothing else.
 */
struct counters {
	uint64_t tx_sent;  /* frames queued */
	uint64_t tx_bytes; /* their frame bytes */
	uint64_t rx_pkts;  /* frames received */
	uint64_t rx_bytes; /* their frame bytes */
	uint64_t rtt_sum;  /* ns, pingpong */
	uint64_t rtt_n;	   /* round trips, pingpong */
	uint64_t lost;	   /* sequence gaps / ping timeouts */
	uint64_t seq_errors;
	uint64_t foreign;  /* frames without our EtherType */
	uint64_t late;	   /* pingpong: replies after their timeout */
	uint64_t tx_calls; /* vnet_drv_tx_burst calls that queued frames */
	uint64_t rx_calls; /* vnet_drv_rx_burst calls that returned frames */
};

struct worker {
	struct counters c __attribute__((aligned(64)));
	/* the worker's own state below */
	struct vnet_drv *drv __attribute__((aligned(64)));
	const struct opts *o;
	unsigned qp;
	pthread_t thread;
	uint8_t dst[6];
	uint64_t tx_seq;       /* next sequence number sent */
	uint64_t rx_expect;    /* next sequence number expected */
	bool rx_started;       /* rx_expect is set */
	uint64_t tx_completed; /* summary: frames the device completed */
	uint64_t tx_done_bytes;
	int error;		   /* a run-time failure, as -errno */
	uint64_t *hist;		   /* [HIST_BUCKETS], pingpong */
	struct vnet_drv_pkt **all; /* [pool_size]: for counting buffers home */
	unsigned pool_size;	   /* the pool's buffers, [all]'s entries */
	unsigned pool_home;	   /* buffers in the pool before the run */
	unsigned tx_held;	   /* frames at the front of pkts[] not sent yet */
	struct vnet_drv_pkt *pkts[MAX_BURST];
	struct vnet_drv_pkt *rx_pkts[MAX_BURST];
};

static atomic_bool stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store_explicit(&stop_flag, true, memory_order_relaxed);
}

static inline bool stopping(void)
{
	return atomic_load_explicit(&stop_flag, memory_order_relaxed);
}

/* ---- latency histogram ---- */

static inline unsigned hist_index(uint64_t v)
{
	unsigned e;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v) - HIST_SUB_BITS + 1u; /* >= 1 */
	if (e >= HIST_EXP)
		return HIST_BUCKETS - 1;
	return e * HIST_SUB + (unsigned)((v >> (e - 1)) & (HIST_SUB - 1));
}

/* The middle of bucket @i, in ns. */
static double hist_value(unsigned i)
{
	unsigned e = i / HIST_SUB, m = i % HIST_SUB;

	if (e == 0)
		return m;
	/* bucket covers [(HIST_SUB + m) << (e - 1), (HIST_SUB + m + 1) << (e - 1)) */
	return ((double)(HIST_SUB + m) + 0.5) * (double)(1ull << (e - 1));
}

/* The @q quantile (0..1) of @n samples, in ns; 0 without samples. */
static double hist_quantile(const uint64_t *h, uint64_t n, double q)
{
	uint64_t rank = (uint64_t)(q * (double)n), seen = 0;

	if (n == 0)
		return 0;
	if (rank >= n)
		rank = n - 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h[i];
		if (seen > rank)
			return hist_value(i);
	}
	return hist_value(HIST_BUCKETS - 1);
}

/* ---- frames ---- */

/* Header and sequence number of a frame of o->size bytes into @p. */
static inline void frame_fill(const struct worker *w, struct vnet_drv_pkt *p, uint64_t seq)
{
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x01};
	uint64_t le = htole64(seq);
	uint8_t *d = p->data;

	memcpy(d, w->dst, ETH_ADDR_LEN);
	memcpy(d + ETH_ADDR_LEN, src, ETH_ADDR_LEN);
	d[ETH_TYPE_OFF] = ETHERTYPE_HI;
	d[ETH_TYPE_OFF + 1] = ETHERTYPE_LO;
	memcpy(d + SEQ_OFF, &le, sizeof(le));
	p->len = w->o->size;
}

/* Our frame's sequence number into *seq. Return: false for a foreign frame. */
static inline bool frame_seq(const struct vnet_drv_pkt *p, uint64_t *seq)
{
	uint64_t le;

	if (p->len < FRAME_HDR_LEN || p->data[ETH_TYPE_OFF] != ETHERTYPE_HI ||
	    p->data[ETH_TYPE_OFF + 1] != ETHERTYPE_LO)
		return false;
	memcpy(&le, p->data + SEQ_OFF, sizeof(le));
	*seq = le64toh(le);
	return true;
}

/* Check a received frame's place in its queue's sequence. */
static inline void rx_check(struct worker *w, const struct vnet_drv_pkt *p)
{
	uint64_t seq;

	if (!frame_seq(p, &seq)) {
		counter_add(&w->c.foreign, 1);
		return;
	}
	if (likely(w->rx_started && seq == w->rx_expect)) {
		w->rx_expect++;
	} else if (!w->rx_started) {
		w->rx_started = true; /* the first frame sets the baseline */
		w->rx_expect = seq + 1;
	} else if (seq > w->rx_expect) {
		counter_add(&w->c.lost, seq - w->rx_expect);
		w->rx_expect = seq + 1;
	} else {
		counter_add(&w->c.seq_errors, 1); /* back in time or repeated */
	}
}

/* ---- the modes (one worker thread per queue pair) ---- */

/* Top up the burst with fresh frames and send it. Frames the ring did not
 * take stay for the next call (numbered already), as an application keeps
 * what it could not send; nothing is freed and allocated again while the
 * ring is full. Return: frames queued. */
static unsigned tx_one_burst(struct worker *w)
{
	unsigned have = w->tx_held, n, sent;

	if (have < w->o->burst) {
		n = vnet_drv_pkt_alloc_bulk(w->drv, w->qp, w->pkts + have, w->o->burst - have);
		for (unsigned i = 0; i < n; i++)
			frame_fill(w, w->pkts[have + i], w->tx_seq + have + i);
		have += n;
	}
	if (have == 0) {
		vnet_drv_tx_reap(w->drv, w->qp);
		return 0;
	}
	sent = vnet_drv_tx_burst(w->drv, w->qp, w->pkts, have);
	if (sent && sent < have)
		memmove(w->pkts, w->pkts + sent, (have - sent) * sizeof(w->pkts[0]));
	w->tx_held = have - sent;
	w->tx_seq += sent;
	counter_add(&w->c.tx_sent, sent);
	counter_add(&w->c.tx_calls, sent != 0);
	return sent;
}

/* Give back the frames tx_one_burst still holds (the run is over). */
static void tx_release(struct worker *w)
{
	vnet_drv_pkt_free_bulk(w->pkts, w->tx_held);
	w->tx_held = 0;
}

/* Receive one burst, check, free. Return: frames received. */
static unsigned rx_one_burst(struct worker *w)
{
	unsigned n = vnet_drv_rx_burst(w->drv, w->qp, w->rx_pkts, w->o->burst);
	uint64_t bytes = 0;

	if (n == 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		rx_check(w, w->rx_pkts[i]);
		bytes += w->rx_pkts[i]->pkt_len;
	}
	vnet_drv_pkt_free_bulk(w->rx_pkts, n);
	counter_add(&w->c.rx_pkts, n);
	counter_add(&w->c.rx_bytes, bytes);
	counter_add(&w->c.rx_calls, 1);
	return n;
}

/* Buffers in the pool now (takes them all and gives them back). */
static unsigned pool_count(struct worker *w)
{
	unsigned n = vnet_drv_pkt_alloc_bulk(w->drv, w->qp, w->all, w->pool_size);

	vnet_drv_pkt_free_bulk(w->all, n);
	return n;
}

/* After the clock stops: let the device finish what is in the tx ring
 * (and, bidir, deliver what it still returns), then count completions as
 * the frames queued minus the buffers still out and minus the frames the
 * library refused (drops). */
static void tx_drain(struct worker *w)
{
	uint64_t end = clock_mono_ns() + DRAIN_NS, out;
	struct vnet_drv_queue_stats tx;
	unsigned home;

	tx_release(w);
	for (;;) {
		vnet_drv_tx_reap(w->drv, w->qp);
		if (w->o->mode == MODE_BIDIR)
			while (rx_one_burst(w))
				;
		home = pool_count(w);
		if (home >= w->pool_home || clock_mono_ns() > end)
			break;
	}
	vnet_drv_queue_stats(w->drv, w->qp, NULL, &tx);
	out = (home < w->pool_home ? w->pool_home - home : 0) + tx.drops; /* never completed */
	w->tx_completed = counter_get(&w->c.tx_sent) > out ? counter_get(&w->c.tx_sent) - out : 0;
	w->tx_done_bytes = w->tx_completed * w->o->size;
}

static void run_tx(struct worker *w)
{
	while (!stopping())
		tx_one_burst(w);
	tx_drain(w);
}

static void run_rx(struct worker *w)
{
	while (!stopping())
		rx_one_burst(w);
}

static void run_bidir(struct worker *w)
{
	while (!stopping()) {
		tx_one_burst(w);
		rx_one_burst(w);
	}
	tx_drain(w);
}

static void run_pingpong(struct worker *w)
{
	while (!stopping()) {
		struct vnet_drv_pkt *p = vnet_drv_pkt_alloc(w->drv, w->qp);
		uint64_t seq = w->tx_seq, t0, t1;
		bool back = false;

		if (!p) {
			vnet_drv_tx_reap(w->drv, w->qp);
			continue;
		}
		frame_fill(w, p, seq);
		t0 = clock_mono_ns();
		if (vnet_drv_tx_burst(w->drv, w->qp, &p, 1) != 1) {
			vnet_drv_pkt_free(p);
			continue;
		}
		w->tx_seq++;
		counter_add(&w->c.tx_sent, 1);
		do {
			unsigned n = vnet_drv_rx_burst(w->drv, w->qp, w->rx_pkts, w->o->burst);

			t1 = clock_mono_ns();
			for (unsigned i = 0; i < n; i++) {
				uint64_t s;

				if (!frame_seq(w->rx_pkts[i], &s))
					counter_add(&w->c.foreign, 1);
				else if (s == seq && !back)
					back = true;
				else if (s < seq && s >= w->rx_expect)
					counter_add(&w->c.late, 1); /* a timed-out ping's reply */
				else
					counter_add(&w->c.seq_errors,
						    1); /* repeated or never sent */
			}
			if (n)
				vnet_drv_pkt_free_bulk(w->rx_pkts, n);
		} while (!back && t1 - t0 < PING_TIMEOUT_NS && !stopping());
		if (!back) {
			if (t1 - t0 >= PING_TIMEOUT_NS)
				counter_add(&w->c.lost, 1);
			continue;
		}
		w->rx_expect = seq + 1; /* replies before this one are duplicates now */
		w->hist[hist_index(t1 - t0)]++;
		counter_add(&w->c.rtt_sum, t1 - t0);
		counter_add(&w->c.rtt_n, 1);
		counter_add(&w->c.rx_pkts, 1);
		counter_add(&w->c.rx_bytes, w->o->size);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	if (w->o->cpu >= 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET((unsigned)(w->o->cpu + (int)w->qp) % (unsigned)(ncpu > 0 ? ncpu : 1), &set);
		w->error = -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (w->error)
			return NULL;
	}
	switch (w->o->mode) {
	case MODE_TX:
		run_tx(w);
		break;
	case MODE_RX:
		run_rx(w);
		break;
	case MODE_PINGPONG:
		run_pingpong(w);
		break;
	case MODE_BIDIR:
		run_bidir(w);
		break;
	}
	return NULL;
}

/* ---- reporting ---- */

struct totals {
	uint64_t tx, tx_bytes, rx, rx_bytes, rtt_sum, rtt_n, lost, seq_errors, foreign;
	uint64_t tx_calls, rx_calls, late;
};

static void totals_read(struct worker *ws, unsigned n, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < n; i++) {
		struct counters *c = &ws[i].c;

		t->tx += counter_get(&c->tx_sent);
		t->tx_bytes += counter_get(&c->tx_sent) * ws[i].o->size;
		t->rx += counter_get(&c->rx_pkts);
		t->rx_bytes += counter_get(&c->rx_bytes);
		t->rtt_sum += counter_get(&c->rtt_sum);
		t->rtt_n += counter_get(&c->rtt_n);
		t->lost += counter_get(&c->lost);
		t->seq_errors += counter_get(&c->seq_errors);
		t->foreign += counter_get(&c->foreign);
		t->late += counter_get(&c->late);
		t->tx_calls += counter_get(&c->tx_calls);
		t->rx_calls += counter_get(&c->rx_calls);
	}
}

/* Packets and bytes a mode counts, from a pair of snapshots. */
static void mode_count(enum mode m, const struct totals *now, const struct totals *then,
		       uint64_t *pkts, uint64_t *bytes)
{
	switch (m) {
	case MODE_TX:
		*pkts = now->tx - then->tx;
		*bytes = now->tx_bytes - then->tx_bytes;
		break;
	case MODE_RX:
	case MODE_PINGPONG:
		*pkts = now->rx - then->rx;
		*bytes = now->rx_bytes - then->rx_bytes;
		break;
	case MODE_BIDIR:
		*pkts = now->tx - then->tx + now->rx - then->rx;
		*bytes = now->tx_bytes - then->tx_bytes + now->rx_bytes - then->rx_bytes;
		break;
	}
}

static void print_second(const struct opts *o, unsigned sec, double dt, const struct totals *now,
			 const struct totals *then)
{
	uint64_t pkts, bytes, rtt_n = now->rtt_n - then->rtt_n;
	double mpps, gbps, rtt_avg_us;

	mode_count(o->mode, now, then, &pkts, &bytes);
	mpps = (double)pkts / dt / 1e6;
	gbps = (double)bytes * 8 / dt / 1e9;
	rtt_avg_us = rtt_n ? (double)(now->rtt_sum - then->rtt_sum) / (double)rtt_n / 1e3 : 0;
	if (o->json) {
		printf("{\"second\":%u,\"mode\":\"%s\",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"mpps\":%.4f,\"gbps\":%.4f,\"lost\":%" PRIu64 ",\"seq_errors\":%" PRIu64,
		       sec, mode_names[o->mode], pkts, bytes, mpps, gbps, now->lost - then->lost,
		       now->seq_errors - then->seq_errors);
		if (o->mode == MODE_PINGPONG)
			printf(",\"rtt_avg_us\":%.3f", rtt_avg_us);
		printf("}\n");
	} else {
		printf("%3us %-8s %12" PRIu64 " pkts %9.3f Mpps %8.3f Gbit/s", sec,
		       mode_names[o->mode], pkts, mpps, gbps);
		if (o->mode == MODE_PINGPONG)
			printf("  rtt avg %.2f us", rtt_avg_us);
		if (now->lost - then->lost || now->seq_errors - then->seq_errors)
			printf("  lost %" PRIu64 " seq_errors %" PRIu64, now->lost - then->lost,
			       now->seq_errors - then->seq_errors);
		printf("\n");
	}
	fflush(stdout);
}

/* Frames queued by every worker (the per-burst averages divide these). */
static uint64_t cnt_tx_sent(struct worker *ws, unsigned n)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < n; i++)
		sum += counter_get(&ws[i].c.tx_sent);
	return sum;
}

static void print_summary(const struct opts *o, struct vnet_drv *drv, struct worker *ws,
			  double secs)
{
	struct totals t, zero = {0};
	uint64_t pkts, bytes, tx_done = 0, tx_done_bytes = 0, drops = 0, errors = 0;
	double p50 = 0, p99 = 0, p999 = 0;
	const char *ring = vnet_drv_ring_format(drv) == VNET_DRV_RING_PACKED ? "packed" : "split";
	bool mrg = vnet_drv_has_feature(drv, VNET_DRV_F_MRG_RXBUF);
	bool in_order = vnet_drv_has_feature(drv, VNET_DRV_F_IN_ORDER);

	totals_read(ws, o->queues, &t);
	for (unsigned i = 0; i < o->queues; i++) {
		struct vnet_drv_queue_stats rx, tx;

		tx_done += ws[i].tx_completed;
		tx_done_bytes += ws[i].tx_done_bytes;
		vnet_drv_queue_stats(drv, i, &rx, &tx);
		drops += rx.drops + tx.drops;
		errors += rx.errors + tx.errors;
	}
	/* tx counts completions, not frames queued */
	t.tx = tx_done;
	t.tx_bytes = tx_done_bytes;
	mode_count(o->mode, &t, &zero, &pkts, &bytes);
	if (o->mode == MODE_PINGPONG) {
		/* merge the pairs' histograms into the first */
		for (unsigned i = 1; i < o->queues; i++)
			for (unsigned b = 0; b < HIST_BUCKETS; b++)
				ws[0].hist[b] += ws[i].hist[b];
		p50 = hist_quantile(ws[0].hist, t.rtt_n, 0.50) / 1e3;
		p99 = hist_quantile(ws[0].hist, t.rtt_n, 0.99) / 1e3;
		p999 = hist_quantile(ws[0].hist, t.rtt_n, 0.999) / 1e3;
	}
	if (o->json) {
		printf("{\"summary\":true,\"mode\":\"%s\",\"ring\":\"%s\",\"mrg\":%s,\"in_order\":%"
		       "s,\"size\":%" PRIu32 ",\"queues\":%u,\"burst\":%u,\"ring_size\":%" PRIu32
		       ",\"seconds\":%.3f"
		       ",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"mpps\":%.4f,\"gbps\":%.4f"
		       ",\"tx_packets\":%" PRIu64 ",\"rx_packets\":%" PRIu64 ",\"lost\":%" PRIu64
		       ",\"seq_errors\":%" PRIu64 ",\"foreign\":%" PRIu64 ",\"drops\":%" PRIu64
		       ",\"errors\":%" PRIu64 ",\"tx_per_burst\":%.2f,\"rx_per_burst\":%.2f",
		       mode_names[o->mode], ring, mrg ? "true" : "false",
		       in_order ? "true" : "false", o->size, o->queues, o->burst, o->ring_size,
		       secs, pkts, bytes, (double)pkts / secs / 1e6, (double)bytes * 8 / secs / 1e9,
		       o->mode == MODE_PINGPONG ? t.rtt_n : tx_done, t.rx, t.lost, t.seq_errors,
		       t.foreign, drops, errors,
		       t.tx_calls ? (double)cnt_tx_sent(ws, o->queues) / (double)t.tx_calls : 0.0,
		       t.rx_calls ? (double)t.rx / (double)t.rx_calls : 0.0);
		if (o->mode == MODE_PINGPONG)
			printf(",\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,\"avg_us\":%.3f"
			       ",\"late\":%" PRIu64,
			       p50, p99, p999,
			       t.rtt_n ? (double)t.rtt_sum / (double)t.rtt_n / 1e3 : 0.0, t.late);
		printf("}\n");
	} else {
		printf("summary: %s %s%s%s %" PRIu32 " B, %u queue(s), burst %u, %.2f s: %" PRIu64
		       " packets, %" PRIu64 " bytes, %.3f Mpps, %.3f Gbit/s\n",
		       mode_names[o->mode], ring, mrg ? "+mrg" : "", in_order ? "+in-order" : "",
		       o->size, o->queues, o->burst, secs, pkts, bytes, (double)pkts / secs / 1e6,
		       (double)bytes * 8 / secs / 1e9);
		if (o->mode == MODE_BIDIR)
			printf("  tx completed %" PRIu64 ", rx %" PRIu64 "\n", tx_done, t.rx);
		if (o->mode == MODE_PINGPONG)
			printf("  round trips %" PRIu64 ": p50 %.2f us, p99 %.2f us, p99.9 %.2f us;"
			       " late replies %" PRIu64 "\n",
			       t.rtt_n, p50, p99, p999, t.late);
		printf("  lost %" PRIu64 ", seq_errors %" PRIu64 ", foreign %" PRIu64
		       ", drops %" PRIu64 ", errors %" PRIu64
		       "; frames per burst: tx %.2f rx %.2f\n",
		       t.lost, t.seq_errors, t.foreign, drops, errors,
		       t.tx_calls ? (double)cnt_tx_sent(ws, o->queues) / (double)t.tx_calls : 0.0,
		       t.rx_calls ? (double)t.rx / (double)t.rx_calls : 0.0);
	}
	fflush(stdout);
}

/* ---- command line ---- */

static const char usage_text[] =
	"usage: vqnet-perf --socket PATH --mode tx|rx|pingpong|bidir [options]\n"
	"\n"
	"Packet rate and latency through the vqnet driver library against a\n"
	"vhost-user backend (vqnetd --backend sink|gen|loop, DPDK net_vhost).\n"
	"\n"
	"  -s, --socket PATH     the backend's vhost-user socket\n"
	"  -m, --mode MODE       tx: send as fast as possible (peer: sink)\n"
	"                        rx: receive and count (peer: gen, testpmd txonly)\n"
	"                        pingpong: one frame in flight, latency (peer: loop)\n"
	"                        bidir: tx and rx interleaved in one thread (peer: loop)\n"
	"      --size BYTES      frame bytes, 60..65000 (default 64)\n"
	"      --seconds S       run time, 1..86400 (default 5)\n"
	"  -q, --queues N        queue pairs, one thread each, 1..64 (default 1)\n"
	"      --split           split ring (default)\n"
	"      --packed          packed ring\n"
	"      --burst N         frames per burst, 1..256 (default 32)\n"
	"      --ring-size N     ring entries, a power of two 2..32768 (default 256)\n"
	"      --mrg             ask for mergeable receive buffers (default)\n"
	"      --no-mrg          do not\n"
	"      --in-order        ask for VIRTIO_F_IN_ORDER (as DPDK's virtio-user does)\n"
	"      --json            one JSON object per line; the last is the summary\n"
	"      --cpu N           pin queue pair k's thread to CPU N+k\n"
	"  -h, --help            this text\n"
	"  -V, --version         the version\n"
	"\n"
	"Exit: 0 done, 1 run-time failure or nothing moved, 2 bad arguments.\n";

#define usage_error(...) cli_usage_error("vqnet-perf", __VA_ARGS__)

static unsigned long parse_number(const char *opt, const char *s, unsigned long min,
				  unsigned long max)
{
	return cli_number("vqnet-perf", opt, s, min, max);
}

enum {
	OPT_SIZE = 256,
	OPT_SECONDS,
	OPT_SPLIT,
	OPT_PACKED,
	OPT_BURST,
	OPT_RING_SIZE,
	OPT_MRG,
	OPT_NO_MRG,
	OPT_IN_ORDER,
	OPT_JSON,
	OPT_CPU,
};

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"socket", required_argument, NULL, 's'},
		{"mode", required_argument, NULL, 'm'},
		{"size", required_argument, NULL, OPT_SIZE},
		{"seconds", required_argument, NULL, OPT_SECONDS},
		{"queues", required_argument, NULL, 'q'},
		{"split", no_argument, NULL, OPT_SPLIT},
		{"packed", no_argument, NULL, OPT_PACKED},
		{"burst", required_argument, NULL, OPT_BURST},
		{"ring-size", required_argument, NULL, OPT_RING_SIZE},
		{"mrg", no_argument, NULL, OPT_MRG},
		{"no-mrg", no_argument, NULL, OPT_NO_MRG},
		{"in-order", no_argument, NULL, OPT_IN_ORDER},
		{"json", no_argument, NULL, OPT_JSON},
		{"cpu", required_argument, NULL, OPT_CPU},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	bool have_mode = false;
	int c;

	*o = (struct opts){
		.size = 64,
		.seconds = 5,
		.queues = 1,
		.ring = VNET_DRV_RING_SPLIT,
		.burst = 32,
		.ring_size = 256,
		.mrg = true,
		.cpu = -1,
	};
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:m:q:hV", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'm':
			for (unsigned i = 0; i < 4; i++)
				if (!strcmp(optarg, mode_names[i])) {
					o->mode = (enum mode)i;
					have_mode = true;
				}
			if (!have_mode)
				usage_error("--mode: '%s' is not tx, rx, pingpong or bidir",
					    optarg);
			break;
		case OPT_SIZE:
			o->size = (uint32_t)parse_number("--size", optarg, 60, 65000);
			break;
		case OPT_SECONDS:
			o->seconds = (unsigned)parse_number("--seconds", optarg, 1, 86400);
			break;
		case 'q':
			o->queues = (unsigned)parse_number("--queues", optarg, 1,
							   VNET_DRV_MAX_QUEUE_PAIRS);
			break;
		case OPT_SPLIT:
			o->ring = VNET_DRV_RING_SPLIT;
			break;
		case OPT_PACKED:
			o->ring = VNET_DRV_RING_PACKED;
			break;
		case OPT_BURST:
			o->burst = (unsigned)parse_number("--burst", optarg, 1, MAX_BURST);
			break;
		case OPT_RING_SIZE:
			o->ring_size =
				(uint32_t)parse_number("--ring-size", optarg, 2, VQ_MAX_QUEUE_SIZE);
			if (o->ring_size & (o->ring_size - 1))
				usage_error("--ring-size: %" PRIu32 " is not a power of two",
					    o->ring_size);
			break;
		case OPT_MRG:
			o->mrg = true;
			break;
		case OPT_NO_MRG:
			o->mrg = false;
			break;
		case OPT_IN_ORDER:
			o->in_order = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_CPU:
			o->cpu = (int)parse_number("--cpu", optarg, 0, CPU_SETSIZE - 1);
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'V':
			printf("vqnet-perf %s\n", VQNET_VERSION);
			exit(0);
		case ':':
			usage_error("%s needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->socket)
		usage_error("--socket is required");
	if (!have_mode)
		usage_error("--mode is required");
}

/* ---- main ---- */

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = {.tv_sec = (time_t)(t_ns / 1000000000u),
			      .tv_nsec = (long)(t_ns % 1000000000u)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stopping())
		;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct vnet_drv_config cfg;
	struct vnet_drv *drv;
	struct worker *ws;
	struct totals prev, cur;
	struct sigaction sa = {.sa_handler = on_signal};
	uint64_t t_start, t_prev, t_end;
	uint64_t features = VNET_DRV_FEATURES_DEFAULT;
	unsigned started = 0, sec = 0;
	int rc, status = 0;

	parse_args(argc, argv, &o);
	if (!o.mrg)
		features &= ~VNET_DRV_FEATURE(VNET_DRV_F_MRG_RXBUF);
	if (o.in_order)
		features |= VNET_DRV_FEATURE(VNET_DRV_F_IN_ORDER);
	if (o.queues == 1) /* the data path needs no control queue (DPDK vhost serves none) */
		features &= ~(VNET_DRV_FEATURE(VNET_DRV_F_CTRL_VQ) |
			      VNET_DRV_FEATURE(VNET_DRV_F_CTRL_RX) |
			      VNET_DRV_FEATURE(VNET_DRV_F_CTRL_MAC_ADDR) |
			      VNET_DRV_FEATURE(VNET_DRV_F_MQ));
	cfg = (struct vnet_drv_config){
		.socket_path = o.socket,
		.queue_pairs = o.queues,
		.ring_format = o.ring,
		.ring_size = o.ring_size,
		.features = features,
		.pool_size = 4 * o.ring_size,
		.buf_data_room = o.size > 2048 ? o.size : 0,
		.rx_frame_max = o.size > 1518 ? o.size : 0,
	};
	rc = vnet_drv_open(&cfg, &drv);
	if (rc < 0) {
		fprintf(stderr, "vqnet-perf: open %s: %s\n", o.socket, strerror(-rc));
		return EXIT_RUNTIME;
	}
	ws = aligned_alloc(64, sizeof(*ws) * o.queues);
	if (!ws) {
		vnet_drv_close(drv);
		return EXIT_RUNTIME;
	}
	memset(ws, 0, sizeof(*ws) * o.queues);
	for (unsigned i = 0; i < o.queues; i++) {
		struct worker *w = &ws[i];

		w->drv = drv;
		w->o = &o;
		w->qp = i;
		vnet_drv_mac(drv, w->dst);
		w->pool_size = cfg.pool_size;
		w->all = calloc(cfg.pool_size, sizeof(*w->all));
		w->hist = calloc(HIST_BUCKETS, sizeof(*w->hist));
		if (!w->all || !w->hist) {
			status = EXIT_RUNTIME;
			goto out;
		}
		/* touch the histogram now, not on the timed path */
		memset(w->hist, 0, HIST_BUCKETS * sizeof(*w->hist));
		w->pool_home = pool_count(w);
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	t_start = t_prev = clock_mono_ns();
	for (; started < o.queues; started++) {
		rc = pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]);
		if (rc) {
			fprintf(stderr, "vqnet-perf: thread: %s\n", strerror(rc));
			atomic_store(&stop_flag, true);
			status = EXIT_RUNTIME;
			break;
		}
	}
	memset(&prev, 0, sizeof(prev));
	while (!stopping() && sec < o.seconds) {
		uint64_t t;

		sleep_until(t_start + (uint64_t)(sec + 1) * 1000000000u);
		t = clock_mono_ns();
		sec++;
		totals_read(ws, o.queues, &cur);
		print_second(&o, sec, (double)(t - t_prev) / 1e9, &cur, &prev);
		prev = cur;
		t_prev = t;
	}
	atomic_store(&stop_flag, true);
	t_end = clock_mono_ns();
	for (unsigned i = 0; i < started; i++)
		pthread_join(ws[i].thread, NULL);
	for (unsigned i = 0; i < started; i++)
		if (ws[i].error) {
			fprintf(stderr, "vqnet-perf: queue %u: %s\n", i, strerror(-ws[i].error));
			status = EXIT_RUNTIME;
		}
	if (status == 0) {
		struct totals t;
		uint64_t errors = 0;

		print_summary(&o, drv, ws, (double)(t_end - t_start) / 1e9);
		for (unsigned i = 0; i < o.queues; i++) {
			struct vnet_drv_queue_stats rx, tx;

			vnet_drv_queue_stats(drv, i, &rx, &tx);
			errors += rx.errors + tx.errors;
		}
		totals_read(ws, o.queues, &t);
		if (errors) {
			fprintf(stderr, "vqnet-perf: the device broke a queue\n");
			status = EXIT_RUNTIME;
		} else if (t.tx == 0 && t.rx == 0) {
			fprintf(stderr, "vqnet-perf: no packet moved\n");
			status = EXIT_RUNTIME;
		}
	}
out:
	for (unsigned i = 0; i < o.queues; i++) {
		free(ws[i].all);
		free(ws[i].hist);
	}
	free(ws);
	vnet_drv_close(drv);
	return status;
}
