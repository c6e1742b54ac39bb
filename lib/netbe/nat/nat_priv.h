/* SPDX-License-Identifier: MIT */
/*
 * Inside the core of the user backend (nat/: nat.c, flow.c): the directory
 * and the table set-up, which the protocol handlers never call.
 */
#ifndef VQNET_NETBE_NAT_PRIV_H
#define VQNET_NETBE_NAT_PRIV_H

#include "nat.h"

enum { NAT_DIR_EMPTY = 0, NAT_DIR_USED, NAT_DIR_GONE };

struct nat_dir_entry {
	struct nat_key key;
	uint32_t idx; /* the flow's slot in its pair's table */
	uint8_t pair;
	uint8_t state;
};

int nat_flows_init(struct nat_pair *p, uint32_t cap);
void nat_flows_fini(struct nat_pair *p);

int nat_dir_init(struct nat *nat, uint32_t total_flows);
void nat_dir_fini(struct nat *nat);
/* -EEXIST when another flow (of any pair) has @k, -ENOSPC when full. */
int nat_dir_add(struct nat *nat, const struct nat_key *k, unsigned pair, uint32_t idx);
void nat_dir_del(struct nat *nat, const struct nat_key *k);
/* The pair that owns @k, or -1. */
int nat_dir_owner(struct nat *nat, const struct nat_key *k);

#endif
