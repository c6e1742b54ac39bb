/* SPDX-License-Identifier: MIT */
/*
 * drv_echo: send N frames with sequence numbers through the driver library
 * and expect each back, in order and byte for byte, from a peer that
 * returns what it receives (DPDK testpmd in io or macswap forwarding,
 * vqnetd --backend loop). MAC addresses are not compared (macswap swaps
 * them); everything after them is.
 *
 *   drv_echo --socket PATH [--ring split|packed|any] [--mrg on|off]
 *            [--frames N] [--min-len B] [--max-len B] [--window N]
 *            [--no-ctrl] [--timeout S]
 *
 * Prints one line: drv_echo: ring=R mrg=M sent=N received=N bad=N
 * Exit 0 when every frame came back intact, 1 otherwise, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vqnet/vnet_drv.h>
#include "../harness/test_util.h"

struct opts {
	const char *socket;
	enum vnet_drv_ring_format ring;
	bool mrg, ctrl;
	unsigned frames, window, timeout_s;
	uint32_t min_len, max_len;
};

static uint32_t len_of(const struct opts *o, uint32_t seq)
{
	return o->min_len + (seq * 2654435761u) % (o->max_len - o->min_len + 1);
}

static void make_frame(uint8_t *f, uint32_t len, uint32_t seq)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	memcpy(f + 14, &seq, 4);
	for (uint32_t i = 18; i < len; i++)
		f[i] = (uint8_t)(seq * 131u + i * 7u);
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"socket", 1, 0, 's'}, {"ring", 1, 0, 'r'},    {"mrg", 1, 0, 'm'},
		{"frames", 1, 0, 'n'}, {"min-len", 1, 0, 'a'}, {"max-len", 1, 0, 'b'},
		{"window", 1, 0, 'w'}, {"no-ctrl", 0, 0, 'c'}, {"timeout", 1, 0, 't'},
		{0, 0, 0, 0},
	};
	int c;

	*o = (struct opts){.ring = VNET_DRV_RING_ANY,
			   .mrg = true,
			   .ctrl = true,
			   .frames = 10000,
			   .window = 32,
			   .timeout_s = 20,
			   .min_len = 60,
			   .max_len = 1514};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'r':
			o->ring = !strcmp(optarg, "split")    ? VNET_DRV_RING_SPLIT
				  : !strcmp(optarg, "packed") ? VNET_DRV_RING_PACKED
							      : VNET_DRV_RING_ANY;
			break;
		case 'm':
			o->mrg = strcmp(optarg, "off") != 0;
			break;
		case 'n':
			o->frames = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'a':
			o->min_len = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'b':
			o->max_len = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'w':
			o->window = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'c':
			o->ctrl = false;
			break;
		case 't':
			o->timeout_s = (unsigned)strtoul(optarg, NULL, 0);
			break;
		default:
			return -1;
		}
	}
	if (!o->socket || o->min_len < 18 || o->max_len < o->min_len || o->max_len > 9000 ||
	    !o->window)
		return -1;
	return 0;
}

/* Check a frame that came back; Return: true when it is frame @seq. */
static bool check(const struct opts *o, const struct vnet_drv_pkt *p, uint32_t seq, uint8_t *want,
		  uint8_t *got)
{
	uint32_t len = len_of(o, seq);
	size_t l = vnet_drv_pkt_to_frame(p, got, 9100);

	make_frame(want, len, seq);
	return l == len && memcmp(want + 12, got + 12, len - 12) == 0;
}

int main(int argc, char **argv)
{
	static uint8_t want[9100], got[9100];
	struct opts o;
	struct vnet_drv_config cfg = {0};
	struct vnet_drv *drv;
	unsigned sent = 0, received = 0, bad = 0;
	uint64_t deadline;
	int rc;

	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: drv_echo --socket PATH [--ring split|packed|any] "
				"[--mrg on|off] [--frames N] [--min-len B] [--max-len B] "
				"[--window N] [--no-ctrl] [--timeout S]\n");
		return 2;
	}
	cfg.socket_path = o.socket;
	cfg.ring_format = o.ring;
	cfg.features = VNET_DRV_FEATURES_DEFAULT;
	if (!o.mrg)
		cfg.features &= ~VNET_DRV_FEATURE(VNET_DRV_F_MRG_RXBUF);
	if (!o.ctrl)
		cfg.features &= ~VNET_DRV_FEATURE(VNET_DRV_F_CTRL_VQ);
	cfg.rx_frame_max = o.max_len;
	rc = vnet_drv_open(&cfg, &drv);
	if (rc < 0) {
		fprintf(stderr, "drv_echo: open %s: %s\n", o.socket, strerror(-rc));
		return 1;
	}
	deadline = now_ms() + o.timeout_s * 1000ull;
	while (received < o.frames && now_ms() < deadline) {
		struct vnet_drv_pkt *pkts[32];
		unsigned n;

		while (sent < o.frames && sent - received < o.window) {
			struct vnet_drv_pkt *p;
			uint32_t len = len_of(&o, sent);

			make_frame(want, len, sent);
			if (vnet_drv_pkt_from_frame(drv, 0, want, len, &p) < 0)
				break;
			if (vnet_drv_tx_burst(drv, 0, &p, 1) != 1) {
				vnet_drv_pkt_free(p);
				break;
			}
			sent++;
		}
		n = vnet_drv_rx_burst(drv, 0, pkts, 32);
		for (unsigned i = 0; i < n; i++) {
			if (!check(&o, pkts[i], received, want, got) && bad++ < 5)
				fprintf(stderr, "drv_echo: frame %u: bad (%u bytes back)\n",
					received, pkts[i]->pkt_len);
			received++;
			vnet_drv_pkt_free(pkts[i]);
		}
		if (n == 0)
			vnet_drv_rx_wait(drv, 0, 2);
	}
	printf("drv_echo: ring=%s mrg=%d sent=%u received=%u bad=%u\n",
	       vnet_drv_ring_format(drv) == VNET_DRV_RING_PACKED ? "packed" : "split",
	       vnet_drv_has_feature(drv, VNET_DRV_F_MRG_RXBUF), sent, received, bad);
	vnet_drv_close(drv);
	return received == o.frames && bad == 0 ? 0 : 1;
}
