#include "credit.h"

#include <stdlib.h>

#include "cb_err.h"
#include "log.h"
#include "msg.h"

int
credit_init(struct credit *c)
{
	c->sent = c->granted = c->bytes = 0;
	c->len = calloc(MSG_CREDIT_ENTRIES, sizeof(*c->len));
	return c->len == NULL ? CB_ERR_NOMEM : 0;
}

void
credit_release(struct credit *c)
{
	free(c->len);
	c->len = NULL;
}

int
credit_may_send(const struct credit *c)
{
	return c->sent - c->granted < MSG_CREDIT_ENTRIES &&
	    c->bytes <= MSG_CREDIT_BYTES - MSG_ENTRY_MAX;
}

int
credit_take(struct credit *c, size_t len)
{
	if (!credit_may_send(c) || len > MSG_ENTRY_MAX)
		return CB_ERR_PROTO;
	c->sent++;
	c->len[c->sent % MSG_CREDIT_ENTRIES] = (uint32_t)len;
	c->bytes += len;
	return 0;
}

void
credit_receive(struct credit *c, size_t len, const char *peer)
{
	if (credit_take(c, len) != 0)
		fatal("protocol: the %s sent entry %llu beyond the credit "
		      "window (%u entries or %u bytes of entries after "
		      "PROGRESS %llu)",
		    peer, (unsigned long long)c->sent + 1, MSG_CREDIT_ENTRIES,
		    MSG_CREDIT_BYTES, (unsigned long long)c->granted);
}

int
credit_grant(struct credit *c, uint64_t upto)
{
	if (upto < c->granted || upto > c->sent)
		return CB_ERR_PROTO;
	while (c->granted < upto)
		c->bytes -= c->len[++c->granted % MSG_CREDIT_ENTRIES];
	return 0;
}
