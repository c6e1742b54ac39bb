/* SPDX-License-Identifier: MIT */
/*
 * hello: the smallest vqnet driver program. Opens a virtio-net device on a
 * vhost-user socket, sends one broadcast frame, waits for one frame to
 * come back and prints it.
 *
 *   hello SOCKET        e.g. against `vqnetd --socket SOCKET --backend loop`
 */
#include <stdio.h>
#include <string.h>

#include <vqnet/vnet_drv.h>

int main(int argc, char **argv)
{
	struct vnet_drv_config cfg = {.socket_path = argc > 1 ? argv[1] : NULL};
	struct vnet_drv *drv;
	struct vnet_drv_pkt *pkt;
	uint8_t mac[6];
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
		return 2;
	}
	rc = vnet_drv_open(&cfg, &drv);
	if (rc < 0) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	vnet_drv_mac(drv, mac);

	/* one frame: broadcast destination, our source, a made-up EtherType */
	pkt = vnet_drv_pkt_alloc(drv, 0);
	if (!pkt) {
		vnet_drv_close(drv);
		return 1;
	}
	memset(pkt->data, 0xff, 6);
	memcpy(pkt->data + 6, mac, 6);
	pkt->data[12] = 0x88;
	pkt->data[13] = 0xb5; /* local experimental EtherType */
	strcpy((char *)pkt->data + 14, "hello from vqnet");
	pkt->len = 60;
	if (vnet_drv_tx_burst(drv, 0, &pkt, 1) != 1) {
		vnet_drv_pkt_free(pkt);
		fprintf(stderr, "tx ring full\n");
	}

	/* wait up to 2 s for a frame */
	pkt = NULL;
	for (int tries = 0; tries < 20 && !pkt; tries++)
		if (vnet_drv_rx_burst(drv, 0, &pkt, 1) == 0) {
			pkt = NULL;
			vnet_drv_rx_wait(drv, 0, 100);
		}
	if (!pkt) {
		fprintf(stderr, "nothing received\n");
		vnet_drv_close(drv);
		return 1;
	}
	printf("received %u bytes in %u segment(s):", pkt->pkt_len, pkt->nb_segs);
	for (uint32_t i = 0; i < pkt->len; i++)
		printf("%s%02x", i % 16 ? " " : "\n  ", pkt->data[i]);
	printf("\n");
	vnet_drv_pkt_free(pkt);
	vnet_drv_close(drv);
	return 0;
}
