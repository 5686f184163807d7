/*
 * Logging for every privmesh process: "<proc>[pid]: message" on stderr,
 * which privd's children share with privd (systemd-style, no syslog).
 *
 * Library code (ipc/, parsers, crypto) never logs: it returns a negative
 * errno and the owner logs once.  Non-fatal warnings end in ", ignoring".
 */
#ifndef PM_LOG_H
#define PM_LOG_H

#include <stdbool.h>
#include <stdint.h>

void	log_init(const char *procname, bool debug);
const char *log_procname(void);
void	log_set_debug(bool on);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Rate limit for log lines caused by peers or the network: at most `burst`
 * lines per `interval_ms`; the suppressed count is reported on the next
 * line that passes.
 */
struct ratelimit {
	uint64_t	interval_ms;
	unsigned	burst;
	uint64_t	begin_ms;
	unsigned	printed;
	unsigned	missed;
};
#define RATELIMIT_INIT(ms, n)	{ .interval_ms = (ms), .burst = (n) }

/* Returns true if a line may be printed now; *missed gets the lines dropped
 * since the last one printed. */
bool	ratelimit_ok(struct ratelimit *, uint64_t now_ms, unsigned *missed);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t now_ms(void);

#endif
