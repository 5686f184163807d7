/*
 * Fan-out (fanout.c): the netmap as desired state for netd (PeerUpdate
 * transactions) and privd (NetState), sent only when it changed; and
 * netd's direct endpoints, which MapRequest.Endpoints carries.
 */
#ifndef PM_CTRLD_FANOUT_H
#define PM_CTRLD_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "netmap.h"
#include "ctrld_to_netd.pb-c.h"
#include "prefs.h"

#define FANOUT_EP_MAX	16
#define FANOUT_EP_TEXT	64

struct ctrld;

/* After every applied netmap change (and prefs change). */
void	fanout_apply(struct ctrld *, const struct netmap *, const struct prefs *);
/* netd (re)connected: the next transaction replaces its whole set. */
void	fanout_netd_restarted(void);
/* A new channel to netd or dnsd (Pm__Proc): everything is sent again. */
void	fanout_sibling_restarted(int proc);

/* The peer's prefixes this node takes (tailscale's nmcfg): its own
 * addresses; other AllowedIPs with accept_routes; /0 only from the chosen
 * exit node.  Pointers into the node; at most `max`. */
size_t	fanout_accepted(const struct prefs *, const struct nm_node *,
	    char **out, size_t max);

/* fanout_derp.c: the DERPMap and home region to netd, when changed. */
void	fanout_derp(struct ctrld *, const struct netmap *);
void	fanout_derp_restarted(void);
/* The DerpMapUpdate (generation 0, one whole part) the map gives; -1 when
 * out of memory.  Its strings point into nm->derpmap. */
struct derp_build {
	Pm__DerpMapUpdate u;
	Pm__DerpRegion	*reg, **rp;
	Pm__DerpNode	*nodes, **np;
};
int	fanout_derp_build(const struct netmap *, struct derp_build *);
void	fanout_derp_build_free(struct derp_build *);
/* A message's BLAKE2b-256 digest (all ones when out of memory). */
struct ProtobufCMessage;
void	fanout_digest(const struct ProtobufCMessage *, uint8_t out[32]);

/* types: tailcfg.EndpointType per endpoint, NULL: all local. */
void	fanout_set_endpoints(char **eps, const uint32_t *types, size_t n);
bool	fanout_same_endpoints(char **eps, const uint32_t *types, size_t n);
json_t *fanout_endpoints_json(void);
json_t *fanout_endpoint_types_json(void);

#endif
