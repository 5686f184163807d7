#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *procname = "privmesh";
static bool verbose;

void
log_init(const char *name, bool debug)
{
	procname = name;
	verbose = debug;
}

const char *
log_procname(void)
{
	return procname;
}

void
log_set_debug(bool on)
{
	verbose = on;
}

/*
 * One write(2) per line so lines from the four processes sharing stderr do
 * not interleave, and no stdio locking inside a seccomp sandbox.
 */
static void
vlog(const char *level, int errnum, const char *fmt, va_list ap)
{
	char buf[1024];
	int n, m;

	n = snprintf(buf, sizeof(buf), "%s[%d]: %s", procname, (int)getpid(),
	    level);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n >= sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2;
	if (errnum != 0) {
		m = snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s",
		    strerror(errnum));
		if (m > 0)
			n += m;
		if ((size_t)n >= sizeof(buf) - 1)
			n = (int)sizeof(buf) - 2;
	}
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, (size_t)n);
}

#define LOGFN(fn, level, use_errno)				\
void								\
fn(const char *fmt, ...)					\
{								\
	int saved = errno;					\
	va_list ap;						\
	va_start(ap, fmt);					\
	vlog(level, use_errno ? saved : 0, fmt, ap);		\
	va_end(ap);						\
	errno = saved;						\
}

LOGFN(log_warn, "", 1)
LOGFN(log_warnx, "", 0)
LOGFN(log_info, "", 0)

void
log_debug(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (!verbose)
		return;
	va_start(ap, fmt);
	vlog("debug: ", 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog("fatal: ", saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal: ", 0, fmt, ap);
	va_end(ap);
	exit(1);
}

bool
ratelimit_ok(struct ratelimit *rl, uint64_t now, unsigned *missed)
{
	*missed = 0;
	if (now - rl->begin_ms >= rl->interval_ms || rl->begin_ms == 0) {
		*missed = rl->missed;
		rl->begin_ms = now ? now : 1;
		rl->printed = 0;
		rl->missed = 0;
	}
	if (rl->printed < rl->burst) {
		rl->printed++;
		return true;
	}
	rl->missed++;
	return false;
}

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
