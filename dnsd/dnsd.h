/*
 * dnsd: MagicDNS and the split-DNS forwarder.
 *
 *   netd --queries (batched)--> serve.c: parse (msg.c) -> answer.c (the
 *        tailnet's names) | forward.c (cache, upstreams) -> replies batched
 *        back to netd at the end of the wakeup
 *   privd --dns_config_file / host_resolvers--> config.c
 *   privd --upstream_socket (marked, fd)--> forward.c
 *   ctrld --dns_config (transaction)--> config.c --os_dns--> privd
 *   ctrld --proc_info_request--> from_ctrld.c: dns_status, proc_info_reply
 */
#ifndef PM_DNSD_H
#define PM_DNSD_H

#include "answer.h"
#include "cache.h"
#include "child.h"
#include "forward.h"
#include "zone.h"

#include "netd_to_dnsd.pb-c.h"

#define DNSD_BATCH_MAX		256	/* replies per datagram to netd */
#define DNSD_BATCH_BYTES	60000	/* stay under the 64 KiB channel limit */
#define DNSD_TCP_REPLY_MAX	65000	/* a TCP answer must fit one datagram */
#define DNSD_PKT_OVERHEAD	64	/* protobuf framing per reply */

struct dnsd_counters {
	uint64_t	queries, local, formerr, notimp, dropped, replies,
			reply_send_errors,
			nxdomain, servfail;	/* answers sent, by rcode */
};

struct dnsd_batch {
	Pm__DnsPacket	 pkts[DNSD_BATCH_MAX];
	Pm__DnsPacket	*ptrs[DNSD_BATCH_MAX];
	size_t		 n;
	size_t		 used;			/* bytes of arena */
	uint8_t		 arena[DNSD_BATCH_BYTES + 2 * DNS_TCP_MAX];
	struct dns_client cl[DNSD_BATCH_MAX];
};

struct dnsd {
	struct child_ctx c;
	struct zone	 zone;			/* what is served */
	struct zone	 staged;		/* ctrld transaction in progress */
	uint64_t	 staged_gen;
	bool		 staging;
	struct upstream	 host_up[ZONE_ROUTE_UPS];
	unsigned	 nhost_up;
	struct cache	 cache;
	struct fwd	 fwd;
	struct dnsd_counters ctr;
	struct dnsd_batch batch;
};

int	dnsd_dispatch_privd(struct ipc_chan *, struct ipc_msg *, void *);
int	dnsd_dispatch_ctrld(struct ipc_chan *, struct ipc_msg *, void *);
int	dnsd_dispatch_netd(struct ipc_chan *, struct ipc_msg *, void *);

/* serve.c */
void	dnsd_serve(struct dnsd *, const Pm__DnsPackets *);
void	dnsd_reply(struct dnsd *, const struct dns_client *, const uint8_t *msg,
	    size_t len);
void	dnsd_flush(struct dnsd *);
/* DNSConfig's resolvers, else the host's, else the fallback ones. */
unsigned dnsd_default_upstreams(struct dnsd *, const struct upstream **);

/* config.c */
void	dnsd_config_file(struct dnsd *, int fd, const char *path);
void	dnsd_host_resolvers(struct dnsd *, char **addrs, size_t n);
typedef struct Pm__DnsConfig Pm__DnsConfig;
void	dnsd_config_part(struct dnsd *, const Pm__DnsConfig *);

#endif
