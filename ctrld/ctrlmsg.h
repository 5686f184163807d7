/*
 * The JSON ctrld sends to control and the register answer it reads
 * (tailcfg.RegisterRequest, RegisterResponse, MapRequest, Hostinfo).
 * docs/PROTOCOL.md lists every field.
 */
#ifndef PM_CTRLD_CTRLMSG_H
#define PM_CTRLD_CTRLMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "prefs.h"

/* Tailscale v1.80's capability version: the lowest current Headscale
 * (v0.29) accepts; see docs/PROTOCOL.md for what it commits us to. */
#define CTRL_CAPVER	113

struct reg_args {
	const uint8_t	*node_pub;
	const uint8_t	*old_node_pub;	/* NULL: zero key */
	const char	*auth_key;	/* NULL: no Auth */
	const char	*followup;	/* NULL: none */
	bool		 logout;	/* Expiry in the past */
};

struct reg_resp {
	char		 auth_url[512];	/* AuthURL */
	char		 error[256];	/* Error */
	char		 login[128];	/* Login.LoginName */
	bool		 machine_authorized;	/* MachineAuthorized */
	bool		 node_key_expired;	/* NodeKeyExpired */
};

json_t *ctrlmsg_hostinfo(const struct prefs *);
/* Hostinfo.NetInfo.PreferredDERP from now on; true if it changed. */
bool	ctrlmsg_set_preferred_derp(int region);
char   *ctrlmsg_register(const struct prefs *, const struct reg_args *);
/* stream: the long poll; else a one-off update (OmitPeers).  `endpoints`
 * (a JSON array of "ip:port", or NULL) and `types` (their
 * tailcfg.EndpointType numbers, or NULL; left out when empty) are
 * stolen. */
char   *ctrlmsg_map(const struct prefs *, const uint8_t node_pub[32],
	    const uint8_t disco_pub[32], json_t *endpoints, json_t *types,
	    bool stream);
/* tailcfg.NetInfo from netd's netcheck (NULL: none yet).  Returns true
 * when it differs from the last one as tailscale's NetInfo.BasicallyEqual
 * sees it (DERPLatency aside): worth a map update.  Only then is the
 * stored copy (latencies included) replaced. */
struct ctrl_derp_latency {
	uint32_t	 region;
	uint64_t	 v4_us, v6_us;	/* 0: none */
};
struct ctrl_net_info {
	uint32_t	 preferred;	/* 0: none measured */
	uint32_t	 varies;	/* opt.Bool: 0 unset, 1 false, 2 true */
	bool		 udp, v6, os_v6;
	const struct ctrl_derp_latency *lat;
	size_t		 nlat;
};
bool	ctrlmsg_set_net_info(const struct ctrl_net_info *);

/* 0, or -1 with `err` set (not JSON, wrong types, over-long strings). */
int	ctrlmsg_parse_register(const char *body, size_t len, struct reg_resp *,
	    char *err, size_t errlen);

#endif
