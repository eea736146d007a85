#include "errstr.h"

#include <stdarg.h>
#include <stdio.h>

int errstr_fmt(int rc, char *errstr, size_t errstr_size, const char *fmt, ...) {
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return rc;
}
