/*
 * MagicDNS interception: packets the host sends to 100.100.100.100 or
 * fd7a:115c:a1e0::53 port 53 (privd routes those two addresses into the
 * TUN) never enter WireGuard.  netd lifts the DNS message out and hands it
 * to dnsd, and writes dnsd's answer back into the TUN as a packet from the
 * quad-100 address, so no port 53 is bound on the host:
 *
 *   TUN read -> dns_intercept(): UDP -> batch; TCP -> dns_tcp.c (a minimal
 *               responder: handshake, in-order data, RFC 7766 framing)
 *   end of the TUN wakeup -> dns_intercept_flush(): one NetdToDnsd datagram
 *               per batch of up to DNS_BATCH_MAX queries
 *   dnsd -> replies -> dns_intercept_replies(): IPv4/IPv6 + UDP, written
 *               to the TUN; answers of one size to one client socket go
 *               as one UDP GSO super-packet; TCP answers to dns_tcp.c
 *
 * State lives in these files (not struct netd) so the hooks in tun.c and
 * from_dnsd.c stay one line each.
 */
#ifndef PM_NETD_DNS_INTERCEPT_H
#define PM_NETD_DNS_INTERCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_BATCH_MAX		256	/* queries per datagram to dnsd */
#define DNS_BATCH_BYTES		60000	/* with framing, under the 64 KiB limit */

struct netd;
typedef struct Pm__DnsPackets Pm__DnsPackets;

struct dns_icpt_counters {
	uint64_t	udp_queries, tcp_queries, replies, bad_replies,
			batch_full, send_errors, tun_write_errors,
			uso_writes;
};
extern struct dns_icpt_counters dns_icpt_ctr;

/* buf[0..len) is a TUN read (virtio_net_hdr + packet).  True if it was a
 * DNS packet for quad-100 (consumed, whatever became of it). */
bool	dns_intercept(struct netd *, uint8_t *buf, size_t len);
/* Sends the queries collected in this wakeup to dnsd. */
void	dns_intercept_flush(struct netd *);
void	dns_intercept_replies(struct netd *, const Pm__DnsPackets *);

/* Shared with dns_tcp.c: queue one query for dnsd. */
void	dns_intercept_queue(struct netd *, bool v6, const uint8_t *client,
	    uint16_t client_port, const uint8_t *server, uint32_t tcp_conn,
	    const uint8_t *msg, size_t len);
/* Writes an IP packet to the TUN around l4[0..l4len) (a UDP or TCP header
 * and payload), filling the L4 checksum at l4[csum_off]. */
void	dns_ip_send(struct netd *, bool v6, const uint8_t *src,
	    const uint8_t *dst, uint8_t proto, uint8_t *l4, size_t l4len,
	    size_t csum_off);

/* dns_tcp.c */
void	dns_tcp_input(struct netd *, bool v6, const uint8_t *src,
	    const uint8_t *dst, const uint8_t *seg, size_t len);
/* dnsd's answer on connection `conn`; false if the connection is gone or
 * does not belong to that client. */
bool	dns_tcp_reply(struct netd *, uint32_t conn, bool v6,
	    const uint8_t *client, uint16_t client_port, const uint8_t *msg,
	    size_t len);

#endif
