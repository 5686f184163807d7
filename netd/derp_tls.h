/*
 * TLS for a DERP connection with OpenSSL, on memory BIOs so the caller
 * moves the bytes on its own loop (tailscale's derphttp tlsClient and
 * net/tlsdial):
 *   - the server name (SNI) is the node's HostName (none for an IP);
 *   - CertName "sha256-raw:<hex>" (even with InsecureForTests, as in
 *     derphttp): exactly one certificate besides
 *     derper's meta cert (CN "derpkey..."), whose DER SHA-256 is <hex>,
 *     valid now and for HostName (unless HostName is empty);
 *   - otherwise InsecureForTests: no certificate checks at all;
 *   - otherwise the chain is verified against the CA store loaded into the
 *     context (before any sandbox: the file is read whole), for CertName
 *     when set, else HostName.
 */
#ifndef PM_NETD_DERP_TLS_H
#define PM_NETD_DERP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct derp_tls {
	SSL		*ssl;
	BIO		*net;		/* our end of the BIO pair */
	bool		 pinned;
	uint8_t		 pin[32];
	char		 host[254];
	bool		 done;		/* handshake finished and checked */
	bool		 failed;
	char		 err[128];
};

/* A client context; `cafile` (PEM bundle, or NULL for none) is read now. */
SSL_CTX *derp_tls_ctx_new(const char *cafile);

int	derp_tls_init(struct derp_tls *, SSL_CTX *, const char *host,
	    const char *cert_name, bool insecure);
void	derp_tls_free(struct derp_tls *);
/* Ciphertext read from the socket; -1 when the BIO is full. */
ssize_t	derp_tls_feed(struct derp_tls *, const uint8_t *, size_t);
/* Plaintext out (drives the handshake): >0 bytes, 0 nothing yet, -1
 * failed (err set) or closed. */
ssize_t	derp_tls_read(struct derp_tls *, uint8_t *, size_t);
/* Plaintext in: bytes taken (0 until the handshake is done), -1 failed. */
ssize_t	derp_tls_write(struct derp_tls *, const uint8_t *, size_t);
/* Ciphertext to send to the socket: bytes copied, 0 none. */
size_t	derp_tls_out(struct derp_tls *, uint8_t *, size_t);

#endif
