/* TLS for a DERP connection (see derp_tls.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "derp_tls.h"

#define PIN_PREFIX	"sha256-raw:"
#define META_CN_PREFIX	"derpkey"
#define BIO_BUF		(64u << 10)

SSL_CTX *
derp_tls_ctx_new(const char *cafile)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (cafile != NULL &&
	    SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static bool
is_ip(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET, s, &a) == 1 || inet_pton(AF_INET6, s, &a) == 1;
}

static bool
parse_pin(const char *hex, uint8_t out[32])
{
	return strlen(hex) == 64 &&
	    sodium_hex2bin(out, 32, hex, 64, NULL, NULL, NULL) == 0;
}

static int
fail(struct derp_tls *t, const char *why)
{
	unsigned long e = ERR_peek_last_error();

	if (e != 0 && !t->done)
		snprintf(t->err, sizeof(t->err), "%s: %s", why,
		    ERR_reason_error_string(e) ? ERR_reason_error_string(e) :
		    "?");
	else
		snprintf(t->err, sizeof(t->err), "%s", why);
	ERR_clear_error();
	t->failed = true;
	return -1;
}

int
derp_tls_init(struct derp_tls *t, SSL_CTX *ctx, const char *host,
    const char *cert_name, bool insecure)
{
	BIO *inner = NULL;
	const char *name;

	memset(t, 0, sizeof(*t));
	snprintf(t->host, sizeof(t->host), "%s", host);
	if ((t->ssl = SSL_new(ctx)) == NULL ||
	    BIO_new_bio_pair(&inner, BIO_BUF, &t->net, BIO_BUF) != 1)
		return fail(t, "out of memory");
	SSL_set_bio(t->ssl, inner, inner);
	SSL_set_connect_state(t->ssl);
	if (host[0] != '\0' && !is_ip(host) &&
	    SSL_set_tlsext_host_name(t->ssl, host) != 1)
		return fail(t, "bad host name");
	/* As derphttp's tlsClient: a pin applies even with InsecureForTests
	 * (SetConfigExpectedCertHash comes after it). */
	if (cert_name != NULL &&
	    strncmp(cert_name, PIN_PREFIX, strlen(PIN_PREFIX)) == 0) {
		if (!parse_pin(cert_name + strlen(PIN_PREFIX), t->pin))
			return fail(t, "bad sha256-raw CertName");
		t->pinned = true;
		SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	if (insecure) {
		SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	name = cert_name != NULL && cert_name[0] != '\0' ? cert_name : host;
	SSL_set_verify(t->ssl, SSL_VERIFY_PEER, NULL);
	if (is_ip(name)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl),
		    name) != 1)
			return fail(t, "bad address");
	} else if (SSL_set1_host(t->ssl, name) != 1)
		return fail(t, "bad certificate name");
	return 0;
}

static bool
is_meta_cert(X509 *x)
{
	char cn[256];

	return X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, cn, sizeof(cn)) > 0 &&
	    strncmp(cn, META_CN_PREFIX, strlen(META_CN_PREFIX)) == 0;
}

static bool
host_ok(X509 *x, const char *host)
{
	if (host[0] == '\0')
		return true;
	if (is_ip(host))
		return X509_check_ip_asc(x, host, 0) == 1;
	return X509_check_host(x, host, 0, 0, NULL) == 1;
}

/* tlsdial.SetConfigExpectedCertHash: one certificate besides the meta
 * cert, with that hash, valid now and for the host. */
static int
check_pin(struct derp_tls *t)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(t->ssl);
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int mdlen = 0;
	bool good = false;
	int len;

	for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		if (is_meta_cert(x))
			continue;
		if (good)
			return fail(t, "unexpected multiple certs presented");
		if ((len = i2d_X509(x, &der)) <= 0)
			return fail(t, "bad certificate");
		(void)EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(),
		    NULL);
		OPENSSL_free(der);
		der = NULL;
		if (mdlen != 32 || memcmp(md, t->pin, 32) != 0)
			return fail(t, "cert hash does not match expected "
			    "cert hash");
		if (!host_ok(x, t->host))
			return fail(t, "cert does not match server name");
		if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
			return fail(t, "cert expired");
		if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
			return fail(t, "cert not yet valid");
		good = true;
	}
	return good ? 0 : fail(t, "expected cert not presented");
}

static int
handshake(struct derp_tls *t)
{
	int r = SSL_do_handshake(t->ssl), e;

	if (r == 1) {
		if (t->pinned && check_pin(t) < 0)
			return -1;
		t->done = true;
		return 1;
	}
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (SSL_get_verify_result(t->ssl) != X509_V_OK) {
		snprintf(t->err, sizeof(t->err), "certificate: %s",
		    X509_verify_cert_error_string(
		    SSL_get_verify_result(t->ssl)));
		ERR_clear_error();
		t->failed = true;
		return -1;
	}
	return fail(t, "TLS handshake");
}

void
derp_tls_free(struct derp_tls *t)
{
	SSL_free(t->ssl);	/* frees the inner BIO */
	BIO_free(t->net);
	t->ssl = NULL;
	t->net = NULL;
}

ssize_t
derp_tls_feed(struct derp_tls *t, const uint8_t *p, size_t len)
{
	int n;

	if (len == 0)
		return 0;
	n = BIO_write(t->net, p, len > INT32_MAX ? INT32_MAX : (int)len);
	return n > 0 ? n : (BIO_should_retry(t->net) ? 0 : -1);
}

ssize_t
derp_tls_read(struct derp_tls *t, uint8_t *buf, size_t cap)
{
	int r, e;

	if (t->failed)
		return -1;
	if (!t->done && (r = handshake(t)) <= 0)
		return r;
	r = SSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
	if (r > 0)
		return r;
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	return fail(t, e == SSL_ERROR_ZERO_RETURN ? "closed" : "TLS read");
}

ssize_t
derp_tls_write(struct derp_tls *t, const uint8_t *p, size_t len)
{
	int r, e;

	if (t->failed)
		return -1;
	if (!t->done && (r = handshake(t)) <= 0)
		return r;
	if (len == 0)
		return 0;
	r = SSL_write(t->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
	if (r > 0)
		return r;
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	return fail(t, "TLS write");
}

size_t
derp_tls_out(struct derp_tls *t, uint8_t *buf, size_t cap)
{
	int n = BIO_read(t->net, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);

	return n > 0 ? (size_t)n : 0;
}
