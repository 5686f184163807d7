/*
 * netd's copy of the DERPMap (tailcfg.DERPMap) and this node's home
 * region, from ctrld's DerpMapUpdate transactions: parts of one
 * generation accumulate, the part with more=false replaces the map at
 * once; a part of a new generation discards an unfinished one.  Nodes
 * whose addresses do not parse are skipped and counted.
 */
#ifndef PM_NETD_DERPMAP_H
#define PM_NETD_DERPMAP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Regions in one map (ctrld sends at most 512); a transaction past this
 * is dropped, so a peer cannot grow netd's memory without bound. */
#define DERPMAP_MAX_REGIONS	1024

struct derp_node {
	char		 name[65];
	char		 host[254];	/* SNI; DNS name without IPs */
	char		 cert_name[257];/* "": host; "sha256-raw:<hex>" */
	bool		 has_v4, has_v6;	/* fixed address given */
	bool		 no_v4, no_v6;		/* "none": not over that family */
	struct in_addr	 v4;
	struct in6_addr	 v6;
	uint16_t	 derp_port;	/* 443 when the map says 0 */
	int		 stun_port;	/* 3478 when 0; -1: none */
	bool		 stun_only;
	bool		 insecure;	/* InsecureForTests */
	bool		 can_port80;
};

struct derp_region {
	uint32_t	 id;
	char		 code[65];
	char		 name[129];
	bool		 avoid, no_measure_no_home;
	double		 score;		/* HomeParams.RegionScore; 0: none */
	struct derp_node *nodes;
	size_t		 nnodes;
};

struct derpmap {
	uint32_t	 home;		/* 0: none */
	struct derp_region *regions;	/* ascending id */
	size_t		 nregions;
	uint64_t	 gen;		/* last committed */
	/* The transaction being received. */
	bool		 open;
	uint64_t	 open_gen;
	uint32_t	 open_home;
	struct derp_region *pend;
	size_t		 npend, cap;
	/* Counters. */
	uint64_t	 bad_nodes, dropped_parts, commits;
};

struct Pm__DerpMapUpdate;

/* 1: committed, 0: a part kept, -1: out of memory or too many regions
 * (the map stays). */
int	derpmap_update(struct derpmap *, const struct Pm__DerpMapUpdate *);
const struct derp_region *derpmap_region(const struct derpmap *, uint32_t id);
void	derpmap_free(struct derpmap *);

#endif
