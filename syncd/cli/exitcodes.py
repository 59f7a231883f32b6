"""sysexits-style exit codes used by every syncd command."""

OK = 0
FAILURE = 1
USAGE = 64  # EX_USAGE: bad command line
DATAERR = 65  # EX_DATAERR: bad input data
NOINPUT = 66  # EX_NOINPUT: an input file is missing or unreadable
UNAVAILABLE = 69  # EX_UNAVAILABLE: a service is not reachable
SOFTWARE = 70  # EX_SOFTWARE: internal error
CANTCREAT = 73  # EX_CANTCREAT: cannot create an output file
IOERR = 74  # EX_IOERR: input/output error (disk full, ...)
TEMPFAIL = 75  # EX_TEMPFAIL: work deferred, run again later; nothing lost
NOPERM = 77  # EX_NOPERM: authentication refused
CONFIG = 78  # EX_CONFIG: configuration error
INTERRUPTED = 130  # 128 + SIGINT: stopped by Ctrl-C; nothing partial kept, the next run resumes
TERMINATED = 143  # 128 + SIGTERM: stopped by SIGTERM; as for Ctrl-C
