/* Storage for the static keywords of kw.h. */
#include "db/kw.h"

#define CAIRN_KW_DEFINE(c, ns, text) cairn_ident cairn_kw_##c = CAIRN_IDENT_STATIC(CAIRN_KEYWORD, ns, text);
CAIRN_KW_LIST(CAIRN_KW_DEFINE)
#undef CAIRN_KW_DEFINE
