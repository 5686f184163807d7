/*
 * ctrld's network map: the self node, the peers (sorted by NodeID so two
 * maps can be diffed in one merge pass), and the tailnet-wide parts
 * (DERPMap, DNSConfig, packet filters, user profiles, domain), built from
 * MapResponses (tailcfg.MapResponse) by netmap_apply().  A message is
 * parsed and validated completely before anything is changed, so a bad
 * message leaves the last good map in force.
 */
#ifndef PM_CTRLD_NETMAP_H
#define PM_CTRLD_NETMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define NM_MAX_PEERS	 20000
#define NM_MAX_ADDRS	 64	/* Addresses per node */
#define NM_MAX_ALLOWED	 1024	/* AllowedIPs per node */
#define NM_MAX_ENDPOINTS 64
#define NM_NAME_MAX	 256

struct nm_node {
	int64_t		 id;			/* ID */
	char		 name[NM_NAME_MAX];	/* Name (FQDN, trailing dot) */
	char		 hostname[NM_NAME_MAX];	/* Hostinfo.Hostname */
	char		 os[32];		/* Hostinfo.OS */
	int64_t		 user;			/* User */
	uint8_t		 key[32];		/* Key (nodekey:) */
	uint8_t		 disco[32];		/* DiscoKey */
	bool		 has_disco;
	char		**addrs;		/* Addresses, canonical prefixes */
	size_t		 naddrs;
	char		**allowed;		/* AllowedIPs (Addresses if null) */
	size_t		 nallowed;
	char		**endpoints;		/* Endpoints "ip:port" */
	size_t		 nendpoints;
	int		 home_derp;		/* HomeDERP, or legacy DERP */
	int		 online;		/* Online: -1 unknown, 0, 1 */
	int64_t		 last_seen;		/* LastSeen, Unix s; 0 unknown */
	int64_t		 key_expiry;		/* KeyExpiry, Unix s; 0 never */
	bool		 expired;		/* Expired */
	bool		 machine_authorized;	/* MachineAuthorized */
	uint64_t	 mod;	/* stamp of the apply that last changed it */
};

struct netmap {
	bool		 have_self;
	struct nm_node	 self;
	struct nm_node	*peers;
	size_t		 npeers, cap;
	json_t		*derpmap;	/* DERPMap, as received */
	json_t		*dns;		/* DNSConfig */
	json_t		*filters;	/* PacketFilters: name -> rules */
	json_t		*profiles;	/* UserProfiles: "ID" -> profile */
	char		 domain[NM_NAME_MAX];	/* Domain */
	uint64_t	 seq;		/* bumped on every applied change */
	uint64_t	 keepalives;
	/* Stamps of the apply that last set the self node, DNSConfig and
	 * the packet filters.  Stamps (these and nm_node.mod) come from one
	 * process-wide clock, never reused, so fan-out can keep what it
	 * derived from a part while the stamp stays; 0 means unknown. */
	uint64_t	 self_mod, dns_mod, filter_mod;
};

enum nm_result {
	NM_ERROR = -1,
	NM_KEEPALIVE = 0,
	NM_APPLIED = 1,
};

void	netmap_init(struct netmap *);
void	netmap_free(struct netmap *);

/* Applies one MapResponse.  NM_ERROR with `err` set leaves the map as it
 * was.  `need_self`: the first message of a stream must carry Node. */
enum nm_result netmap_apply(struct netmap *, const char *json, size_t len,
	    bool need_self, char *err, size_t errlen);

/* A peer by NodeID, or NULL. */
struct nm_node *netmap_peer(struct netmap *, int64_t id);

/* RFC 3339 as Go writes it; 0 and -1 on error. */
int	nm_parse_time(const char *s, int64_t *out);
bool	nm_valid_prefix(const char *s);

#endif
