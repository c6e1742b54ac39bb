/* SPDX-License-Identifier: MIT */
/*
 * A test backend's side of zero-copy receive (netbe_ops.rx_direct,
 * include/vqnet/netbe.h): place a frame in the window the device lent,
 * as the contract says, for the test fixture's backend and the datapath
 * fuzzer's. Header only: the two are built apart.
 */
#ifndef VQNET_TESTS_RXWIN_PLACE_H
#define VQNET_TESTS_RXWIN_PLACE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <vqnet/netbe.h>

/* Write @len bytes into @w from chain @c on, hdr_room bytes into it. */
static inline void rxwin_write(const struct netbe_rxwin *w, unsigned c, const uint8_t *data,
			       uint32_t len)
{
	uint32_t skip = w->hdr_room;

	while (len) {
		const struct netbe_rxchain *ch = &w->chains[c++];

		for (unsigned i = 0; i < ch->iovcnt && len; i++) {
			size_t l = ch->iov[i].iov_len, k;

			if (skip >= l) {
				skip -= (uint32_t)l;
				continue;
			}
			k = l - skip < len ? l - skip : len;
			memcpy((uint8_t *)ch->iov[i].iov_base + skip, data, k);
			data += k;
			len -= (uint32_t)k;
			skip = 0;
		}
		skip = 0;
	}
}

/* Place a frame in the next unused chains of @w: false when it does not
 * fit (no chain left, a first buffer without room for the Ethernet header
 * and a VLAN tag, too few bytes). With @extra_chain the frame claims one
 * chain more than it fills (a backend breaking the contract). */
static inline bool rxwin_place(struct netbe_rxwin *w, const uint8_t *data, uint32_t len,
			       const struct netbe_meta *meta, bool extra_chain)
{
	unsigned c = w->chains_used, k = 0;
	uint64_t room = 0, need = w->hdr_room + (uint64_t)len;

	if (w->nframes >= w->max_frames || c >= w->nchains ||
	    w->chains[c].iov[0].iov_len < w->hdr_room + 18u)
		return false;
	while (room < need && c + k < w->nchains)
		room += w->chains[c + k++].len;
	if (room < need)
		return false;
	rxwin_write(w, c, data, len);
	if (extra_chain && c + k < w->nchains)
		k++;
	w->frames[w->nframes++] =
		(struct netbe_rxwin_frame){.len = len, .nchains = k, .meta = *meta};
	w->chains_used = c + k;
	return true;
}

#endif
