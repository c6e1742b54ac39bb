/* SPDX-License-Identifier: MIT */
/*
 * Where the guest's flows really go. The guest sees a gateway (gw4, gw6,
 * gw6_ll), which is the host's loopback, and a DNS address (dns4, dns6),
 * which is the host's first resolver from resolv.conf. We do not proxy
 * DNS: a query to dns4:53 simply becomes a datagram from our socket to
 * the resolver, so any family serves either (an IPv4 guest's query may
 * go to an IPv6 resolver), and a loopback resolver (systemd-resolved's
 * 127.0.0.53) is fine: the socket is the host's.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nat.h"

/* "ADDR" or "ADDR%SCOPE" (IPv6 link-local: the interface name or index,
 * kept as the scope id, RFC 4007 §11). Return: the address length, 0 for
 * garbage. */
static socklen_t parse_addr(const char *s, struct sockaddr_storage *out)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	char *pct;

	memset(out, 0, sizeof(*out));
	if (strlen(s) >= sizeof(buf))
		return 0;
	strcpy(buf, s);
	if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(53);
		return sizeof(*s4);
	}
	pct = strchr(buf, '%');
	if (pct)
		*pct++ = '\0';
	if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1)
		return 0;
	if (pct) {
		char *end;
		unsigned long idx = strtoul(pct, &end, 10);

		if (!*pct || *end)
			idx = if_nametoindex(pct);
		if (!idx || idx > UINT32_MAX)
			return 0;
		s6->sin6_scope_id = (uint32_t)idx;
	}
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(53);
	return sizeof(*s6);
}

/* One line of resolv.conf (resolv.conf(5)): "nameserver ADDR", anything
 * after the address ignored, as the C library does. */
static bool parse_line(char *line, struct sockaddr_storage *out)
{
	static const char kw[] = "nameserver";
	char *addr, *end;

	while (*line == ' ' || *line == '\t')
		line++;
	if (strncmp(line, kw, sizeof(kw) - 1) || !isblank((unsigned char)line[sizeof(kw) - 1]))
		return false;
	addr = line + sizeof(kw) - 1;
	while (isblank((unsigned char)*addr))
		addr++;
	end = addr;
	while (*end && !isspace((unsigned char)*end) && *end != '#' && *end != ';')
		end++;
	*end = '\0';
	return *addr && parse_addr(addr, out);
}

/*
 * Replace net's resolvers with the first NAT_MAX_DNS nameserver lines of
 * @resolv_conf that parse; other lines are ignored. Return: how many, or
 * -errno when the file cannot be read.
 */
int nat_dns_load(struct nat_net *net, const char *resolv_conf)
{
	FILE *fp = fopen(resolv_conf, "re");
	char line[512];
	unsigned n = 0;

	if (!fp)
		return -errno;
	memset(net->dns_host, 0, sizeof(net->dns_host));
	while (n < NAT_MAX_DNS && fgets(line, sizeof(line), fp)) {
		bool whole = strchr(line, '\n') || feof(fp);

		if (whole && parse_line(line, &net->dns_host[n]))
			n++;
		/* The rest of an overlong line is not a line of its own. */
		while (!whole && fgets(line, sizeof(line), fp))
			whole = strchr(line, '\n') != NULL;
	}
	memset(&net->dns_host[n], 0, sizeof(net->dns_host) - n * sizeof(net->dns_host[0]));
	net->n_dns_host = n;
	fclose(fp);
	return (int)n;
}

/* ---- the remote end of a flow --------------------------------------------- */

static socklen_t sa_in(struct sockaddr_storage *out, struct in_addr a, uint16_t port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)out;

	memset(out, 0, sizeof(*out));
	s->sin_family = AF_INET;
	s->sin_addr = a;
	s->sin_port = htons(port);
	return sizeof(*s);
}

static socklen_t sa_in6(struct sockaddr_storage *out, const struct in6_addr *a, uint16_t port)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	s->sin6_family = AF_INET6;
	s->sin6_addr = *a;
	s->sin6_port = htons(port);
	return sizeof(*s);
}

/*
 * The first resolver of @family, else the first of the other family. A
 * query to port 53 goes to the resolver's port (53 unless --dns gave
 * one); any other port of the DNS address is kept as the guest asked.
 */
static socklen_t resolver(const struct nat_net *net, int family, uint16_t port,
			  struct sockaddr_storage *out)
{
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < net->n_dns_host && i < NAT_MAX_DNS; i++) {
			const struct sockaddr_storage *s = &net->dns_host[i];
			bool v4 = s->ss_family == AF_INET;

			if ((!v4 && s->ss_family != AF_INET6) || (s->ss_family == family) != !pass)
				continue;
			*out = *s;
			if (port != 53 && v4)
				((struct sockaddr_in *)out)->sin_port = htons(port);
			else if (port != 53)
				((struct sockaddr_in6 *)out)->sin6_port = htons(port);
			return v4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		}
	}
	return 0;
}

/* No host to connect to: "this network", this host, everyone (RFC 1122
 * §3.2.1.3, RFC 4291 §2.5.2-2.5.3, §2.7). A guest's packet to these is
 * forged or a mistake, never a flow. */
static bool v4_unmappable(const struct nat_net *net, struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr), mask = ntohl(net->mask4.s_addr);
	uint32_t subnet_bcast = (ntohl(net->gw4.s_addr) & mask) | ~mask;

	return (h >> 24) == 0 || (h >> 24) == 127 || (h >> 28) == 0xe || h == 0xffffffffu ||
	       (mask && h == subnet_bcast);
}

static bool v6_unmappable(const struct in6_addr *a)
{
	return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_MULTICAST(a) ||
	       IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_V4MAPPED(a);
}

socklen_t nat_remote_sockaddr(const struct nat_net *net, const struct nat_key *k,
			      struct sockaddr_storage *out)
{
	struct in_addr a4;

	if (nat_key_is_v4(k)) {
		a4 = nat_mapped_to_v4(&k->raddr);
		if (a4.s_addr == net->gw4.s_addr)
			return sa_in(out, (struct in_addr){.s_addr = htonl(INADDR_LOOPBACK)},
				     k->rport);
		if (a4.s_addr == net->dns4.s_addr)
			return resolver(net, AF_INET, k->rport, out);
		return v4_unmappable(net, a4) ? 0 : sa_in(out, a4, k->rport);
	}
	if (IN6_ARE_ADDR_EQUAL(&k->raddr, &net->gw6) || IN6_ARE_ADDR_EQUAL(&k->raddr, &net->gw6_ll))
		return sa_in6(out, &in6addr_loopback, k->rport);
	if (IN6_ARE_ADDR_EQUAL(&k->raddr, &net->dns6))
		return resolver(net, AF_INET6, k->rport, out);
	/* Link-local: nobody but us on the guest's link (gw6_ll above). */
	return v6_unmappable(&k->raddr) ? 0 : sa_in6(out, &k->raddr, k->rport);
}
