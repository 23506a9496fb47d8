/* The public headers compile alone, in C99, pedantic, and every status code
 * has a description. Built by `make check-headers`. */
#include "cairn.h"

int headertest_main(void);
int headertest_main(void)
{
    cairn_val v = cairn_int(1);
    cairn_error err = CAIRN_ERROR_INIT;
    (void)err;
    return cairn_type_of(v) == CAIRN_INT ? 0 : 1;
}
