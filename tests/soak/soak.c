/* SPDX-License-Identifier: MIT */
/*
 * The soak (tests/soak/README.md): vqnetd under traffic for SECONDS while
 * its frontend keeps changing. Not part of the suite; run by run.sh.
 *
 *   vqnet-soak VQNETD SECONDS CSV
 *
 * vqnetd (loop backend, two queue pairs) is driven by the test frontend
 * (tests/net_dev/net_dev_test_frontend.h): both pairs' transmit rings kept
 * full and their receive buffers posted, one frame echoed each step to
 * prove the data path still works. Every step (STEP_MS) the frontend does
 * one of, in turn:
 *   - leave and come back as a new frontend (new memory; split and packed
 *     rings, with and without MRG_RXBUF, in turn),
 *   - disconnect and reconnect with the same memory (split rings restart
 *     at used->idx),
 *   - change the memory table under the running rings: SET_MEM_TABLE with
 *     an extra region, or ADD_MEM_REG, then back to the guest region alone
 *     (SET_MEM_TABLE or REM_MEM_REG).
 * Every second it samples vqnetd's VmRSS, open fds and mappings into CSV.
 *
 * After a warm-up (a fifth of the run) the samples of the first WINDOW_S
 * are the baseline; the largest RSS, fd and mapping counts of the last
 * WINDOW_S must not exceed the baseline's largest by more than
 * RSS_SLACK_KIB, 0 fds and MAPS_SLACK mappings, and no sample may show
 * more than GUEST_MAPS mappings of guest memory. vqnetd must then exit
 * with status 0 on SIGTERM (under ASan, LeakSanitizer runs at that exit).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <vqnet/vhost_user.h>

#include "vqnetd_fixture.h"

#define STEP_MS	      300u
#define WINDOW_S      60u
#define RSS_SLACK_KIB 2048u
#define MAPS_SLACK    8u /* ASan's allocator maps and unmaps as it goes */
#define GUEST_MAPS    2u /* the guest region and the extra one */
#define EXTRA_GPA     0x80000000ull
#define EXTRA_BYTES   (1u << 20)

static unsigned soak_seconds;
static const char *csv_path;

struct sample {
	uint64_t t_ms, rss_kib;
	unsigned fds, maps, guest_maps;
};

struct soak {
	struct fx *x;
	struct vu_shm extra; /* the region added and removed */
	bool extra_in;	     /* the extra region is in the table now */
	unsigned step, opens, reconnects, mem_changes;
	uint32_t seq, echo_seq;
	uint64_t frames;
	struct sample *s;
	unsigned ns, cap;
	FILE *csv;
};

/* The frontend of step @k: split and packed, MRG_RXBUF on and off. */
static struct ntf_opts opts_of(unsigned k)
{
	return (struct ntf_opts){
		.fmt = k & 1 ? VQ_FORMAT_PACKED : VQ_FORMAT_SPLIT,
		.want = WANT_BASE | F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_CTRL_VQ) |
			(k & 2 ? F(VIRTIO_NET_F_MRG_RXBUF) : 0),
		.pairs = 2,
		.ctrl = true,
	};
}

/* A new frontend (new memory), of the current cycle's kind: a cycle is
 * four steps, so every other cycle's reconnect finds split rings. */
static void new_frontend(struct soak *k)
{
	struct ntf_opts o = opts_of(k->step / 4);

	k->opens++;

	if (k->x->n_open)
		fe_close(k->x);
	k->extra_in = false;
	fe_open(k->x, &o);
}

/* Split rings only: ntf_reconnect() restarts them at used->idx. */
static void reconnect(struct soak *k)
{
	if (k->x->n.o.fmt != VQ_FORMAT_SPLIT) {
		new_frontend(k);
		return;
	}
	ntf_disconnect(&k->x->n);
	ntf_reconnect(&k->x->n);
	k->extra_in = false;
	k->reconnects++;
}

/* The extra region in or out, by the whole table or one region. */
static void change_memory(struct soak *k)
{
	struct ntf *n = &k->x->n;
	struct vu_shm both[2] = {n->shm, k->extra};
	bool whole = (k->mem_changes / 2) % 2;

	if (!k->extra_in)
		assert_int_equal(whole ? vu_frontend_set_mem_table(n->f, both, 2)
				       : vu_frontend_add_mem_reg(n->f, &k->extra),
				 0);
	else
		assert_int_equal(whole ? vu_frontend_set_mem_table(n->f, &n->shm, 1)
				       : vu_frontend_rem_mem_reg(n->f, &k->extra),
				 0);
	k->extra_in = !k->extra_in;
	k->mem_changes++;
}

static void sample(struct soak *k, uint64_t t0)
{
	struct sample s = {.t_ms = ntf_now_ms() - t0,
			   .rss_kib = rss_kib(k->x->d.pid),
			   .fds = fd_count(k->x->d.pid),
			   .maps = maps_count(k->x->d.pid, "-"),
			   .guest_maps = maps_count(k->x->d.pid, "vqnet-shm")};

	if (k->ns == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 1024;
		k->s = realloc(k->s, k->cap * sizeof(*k->s));
		assert_non_null(k->s);
	}
	k->s[k->ns++] = s;
	fprintf(k->csv, "%.1f,%" PRIu64 ",%u,%u,%u,%" PRIu64 ",%u,%u,%u\n", s.t_ms / 1000.0,
		s.rss_kib, s.fds, s.maps, s.guest_maps, k->frames, k->opens, k->reconnects,
		k->mem_changes);
	/* Each new table's mappings replace the old ones (the frontend's
	 * requests are acked, the previous frontend was dropped first). */
	if (s.guest_maps > GUEST_MAPS)
		fail_msg("vqnetd maps guest memory %u times", s.guest_maps);
	fflush(k->csv);
}

/* One step: the frontend changes, then traffic for STEP_MS. */
static void step(struct soak *k)
{
	struct ntf *n = &k->x->n;

	switch (k->step++ % 4) {
	case 0:
		new_frontend(k);
		break;
	case 1:
		reconnect(k);
		break;
	default:
		change_memory(k);
		break;
	}
	for (uint64_t dl = ntf_now_ms() + STEP_MS; ntf_now_ms() < dl;)
		for (unsigned p = 0; p < 2; p++)
			k->frames += pump(n, p, 5, &k->seq);
	echo_skip(n, k->step % 2, 100, 0x80000000u + k->echo_seq++);
}

/* Largest values among the samples taken in [@from_ms, @to_ms). */
static struct sample peak(const struct soak *k, uint64_t from_ms, uint64_t to_ms)
{
	struct sample p = {0};

	for (unsigned i = 0; i < k->ns; i++) {
		const struct sample *s = &k->s[i];

		if (s->t_ms < from_ms || s->t_ms >= to_ms)
			continue;
		p.rss_kib = s->rss_kib > p.rss_kib ? s->rss_kib : p.rss_kib;
		p.fds = s->fds > p.fds ? s->fds : p.fds;
		p.maps = s->maps > p.maps ? s->maps : p.maps;
		p.t_ms++; /* samples counted */
	}
	return p;
}

static void report(const struct soak *k, uint64_t warmup_ms, uint64_t end_ms)
{
	struct sample lo = k->s[0], hi = k->s[0];

	for (unsigned i = 0; i < k->ns; i++) {
		const struct sample *s = &k->s[i];

		lo.rss_kib = s->rss_kib < lo.rss_kib ? s->rss_kib : lo.rss_kib;
		hi.rss_kib = s->rss_kib > hi.rss_kib ? s->rss_kib : hi.rss_kib;
		lo.fds = s->fds < lo.fds ? s->fds : lo.fds;
		hi.fds = s->fds > hi.fds ? s->fds : hi.fds;
		lo.maps = s->maps < lo.maps ? s->maps : lo.maps;
		hi.maps = s->maps > hi.maps ? s->maps : hi.maps;
	}
	print_message("soak: %.1f s, %u samples, %" PRIu64 " frames sent, %u new frontends, %u "
		      "reconnects, %u memory table changes\n",
		      end_ms / 1000.0, k->ns, (uint64_t)k->seq, k->opens, k->reconnects,
		      k->mem_changes);
	print_message("soak: RSS %" PRIu64 "-%" PRIu64 " KiB, fds %u-%u, mappings %u-%u "
		      "(warm-up %.0f s)\n",
		      lo.rss_kib, hi.rss_kib, lo.fds, hi.fds, lo.maps, hi.maps, warmup_ms / 1000.0);
}

static void test_soak(void **state)
{
	struct soak k = {.x = *state};
	uint64_t t0, next_sample, total_ms = (uint64_t)soak_seconds * 1000;
	uint64_t warmup_ms = total_ms / 5, win_ms = WINDOW_S * 1000;
	struct sample base, last;

	assert_true(total_ms >= warmup_ms + 2 * win_ms);
	k.csv = fopen(csv_path, "we");
	assert_non_null(k.csv);
	fprintf(k.csv, "t_s,rss_kib,fds,maps,guest_maps,frames,frontends,reconnects,mem_changes\n");
	assert_int_equal(vu_shm_alloc(EXTRA_BYTES, EXTRA_GPA, false, &k.extra), 0);
	static const char *const q2[] = {"--queues", "2", NULL};
	vqd_start(k.x, q2);
	t0 = next_sample = ntf_now_ms();
	while (ntf_now_ms() - t0 < total_ms) {
		step(&k);
		if (ntf_now_ms() >= next_sample) {
			sample(&k, t0);
			next_sample += 1000;
		}
	}
	report(&k, warmup_ms, ntf_now_ms() - t0);
	base = peak(&k, warmup_ms, warmup_ms + win_ms);
	last = peak(&k, total_ms - win_ms, UINT64_MAX);
	print_message("soak: after warm-up, first %u s: RSS <= %" PRIu64 " KiB, fds <= %u, maps <= "
		      "%u; last %u s: RSS <= %" PRIu64 " KiB, fds <= %u, maps <= %u\n",
		      WINDOW_S, base.rss_kib, base.fds, base.maps, WINDOW_S, last.rss_kib, last.fds,
		      last.maps);
	fe_close(k.x);
	vqd_term_ok(&k.x->d);
	fclose(k.csv);
	vu_shm_free(&k.extra);
	free(k.s);
	assert_true(base.t_ms > 0 && last.t_ms > 0);
	if (last.rss_kib > base.rss_kib + RSS_SLACK_KIB || last.fds > base.fds ||
	    last.maps > base.maps + MAPS_SLACK)
		fail_msg("vqnetd grew after warm-up");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_soak, setup, teardown),
	};
	int rc;

	if (argc != 4 || atoi(argv[2]) <= 0) {
		fprintf(stderr, "usage: %s VQNETD SECONDS CSV\n", argv[0]);
		return 2;
	}
	soak_seconds = (unsigned)atoi(argv[2]);
	csv_path = argv[3];
	rc = vqnetd_fixture_init(2, argv);
	if (rc)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
