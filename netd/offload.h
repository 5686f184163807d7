/*
 * TUN offloads without the kernel's help: privd opens the TUN with
 * IFF_VNET_HDR and TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, so a read returns
 * a virtio_net_hdr and then either one packet whose checksum may still be
 * partial, or a TCP super-packet of up to 64 KiB.  netd cuts it into
 * MTU-sized packets itself before encryption:
 *
 *   offload_tx_init()     check the header, finish a partial checksum
 *   offload_tx_segment()  packet i: headers copied and fixed (IPv4 total
 *                         length, ID and header checksum; IPv6 payload
 *                         length; TCP sequence, FIN/PSH only on the last,
 *                         CWR only on the first, full TCP checksum)
 *
 * On the way back, offload_gro_*() merges consecutive in-order TCP packets
 * of one flow into a super-packet the TUN takes with a GSO header.
 * Nothing here does I/O; the packets come from the TUN, so they are
 * validated but never trusted to be well formed.
 */
#ifndef PM_NETD_OFFLOAD_H
#define PM_NETD_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OFFLOAD_VNET_HDR_LEN	((unsigned)sizeof(struct virtio_net_hdr))

struct offload_tx {
	const uint8_t	*pkt;
	size_t		 len;
	unsigned	 nseg;		/* packets offload_tx_segment() makes */
	unsigned	 hlen;		/* IP + TCP headers (TSO only) */
	unsigned	 l4off;		/* TCP header offset (TSO only) */
	unsigned	 gso_size;	/* TCP payload per packet (TSO only) */
	bool		 v6;
	bool		 tso;
};

/* Ones' complement sum of len bytes added to sum (not folded). */
uint32_t offload_csum_add(uint32_t sum, const uint8_t *p, size_t len);
/* Folds to 16 bits and complements: the value to store. */
uint16_t offload_csum_fold(uint32_t sum);

/* Parses the header h in front of pkt[0..len); pkt may be modified (a
 * partial checksum is finished in place).  0 or -EPROTO/-EINVAL. */
int	offload_tx_init(struct offload_tx *, const struct virtio_net_hdr *h,
	    uint8_t *pkt, size_t len);
/* Writes packet i (< nseg) to out, which has room for hlen + gso_size
 * bytes (or len when not TSO); returns its length. */
size_t	offload_tx_segment(const struct offload_tx *, unsigned i, uint8_t *out);

/*
 * Receive-side coalescing.  The caller owns a buffer of OFFLOAD_GRO_MAX
 * bytes preceded by OFFLOAD_VNET_HDR_LEN bytes of room; offload_gro_add()
 * either appends pkt (returns true) or refuses it (false: flush, then
 * start again with it).  offload_gro_finish() writes the virtio_net_hdr in
 * front of the data and returns the total length to write to the TUN.
 */
#define OFFLOAD_GRO_MAX		65535

struct offload_gro {
	uint8_t		*buf;		/* data; buf - OFFLOAD_VNET_HDR_LEN is the header */
	size_t		 len;		/* bytes in buf, 0: empty */
	unsigned	 nseg;
	unsigned	 hlen;		/* IP + TCP headers of the first packet */
	unsigned	 gso_size;	/* payload of the first packet */
	unsigned	 last_payload;
	uint32_t	 next_seq;
	bool		 v6;
	bool		 closed;	/* a short or PSH packet ended the run */
};

void	offload_gro_init(struct offload_gro *, uint8_t *buf);
bool	offload_gro_add(struct offload_gro *, const uint8_t *pkt, size_t len);
/* Returns bytes from buf - OFFLOAD_VNET_HDR_LEN; resets g.  0 if empty. */
size_t	offload_gro_finish(struct offload_gro *);

#endif
