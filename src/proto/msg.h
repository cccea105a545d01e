#ifndef MSG_H
#define MSG_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"

/*
 * The capback stream protocol (docs/protocol.md).  Every frame is
 * u32 length | u8 type | payload; this table lists the types, their
 * maximum payloads and which roles accept them.  Decoders check every
 * field against a named maximum and end with wire_rd_end().
 */

/* 2: deltas (WANT_DELTA, DELTA, DELTA_END); 3: the credit window counts
 * ENTRY bytes too and is enforced, ENTRY at most 512 KiB */
#define MSG_PROTO_VERSION 3
#define MSG_MAGIC	  0x43424b31u /* "CBK1" */

enum msg_type {
	MSG_HELLO = 1,	     /* both: magic, version, role, flags, software */
	MSG_ENTRY = 2,	     /* one path's record (stat, xattrs, ACL) */
	MSG_ENTRIES_END = 3, /* u64 number of entries sent */
	MSG_WANT = 4,	     /* writer -> reader: u64 seq of a regular file */
	MSG_PROGRESS = 5,    /* writer -> reader: u64 seq decided (credit) */
	MSG_FILE = 6,	     /* u64 seq, u64 size: content follows */
	MSG_DATA = 7,	     /* raw content bytes */
	MSG_HOLE = 8,	     /* u64 length of a run of zeros (sparse) */
	MSG_FILE_END = 9,    /* u32 errno (0 ok), u64 flags [, SHA-1] */
	MSG_DONE = 10,	     /* u32 status, u64 errors: session over */
	/*
	 * writer -> reader: u64 seq, u64 length; the mirror's signature of
	 * that file follows at once as DATA frames of exactly that length.
	 */
	MSG_WANT_DELTA = 11,
	MSG_DELTA = 12,	    /* u64 seq, u64 size: delta bytes follow as DATA */
	MSG_DELTA_END = 13, /* u32 errno, u64 flags, SHA-1 of the source */
	/* writer -> reader (HELLO_WANT_DIGEST): u64 seq of a regular file
	 * whose SHA-1 alone is wanted (compare --method hash) */
	MSG_WANT_DIGEST = 14,
	MSG_DIGEST = 15, /* u64 seq, u32 errno, u64 flags, SHA-1 */
	MSG_TYPE_MAX = 15,
};

enum msg_role {
	ROLE_CLI = 0,
	ROLE_READER = 1,
	ROLE_WRITER = 2,
	ROLE_RESTORER = 3,
	ROLE_REPO_SOURCE = 4, /* writer binary serving a restore */
};

/* The restorer's exit status when the repository side sent nothing after
 * hello (it refused, and said why on its own standard error) */
#define RESTORER_GOT_NOTHING 17

#define MSG_DATA_MAX (256u * 1024)
/*
 * Bounds of one ENTRY (docs/protocol.md): its xattrs, names and values,
 * at most MSG_XATTRS_TOTAL_MAX (Linux caps one value at 64 KiB, ext4 all
 * of a file's at about a block: four whole values fit); the qualifiers
 * of its ACL at most MSG_ACL_QUALS_MAX.  The payload (path and symlink
 * target of 4 KiB, 1024 xattrs and 1024 ACL entries with their lengths)
 * then stays under MSG_ENTRY_MAX.
 */
#define MSG_XATTRS_TOTAL_MAX (256u * 1024)
#define MSG_ACL_QUALS_MAX    (64u * 1024)
#define MSG_ENTRY_MAX	     (512u * 1024)
/*
 * The credit window (credit.h): entries and bytes of ENTRY payload a
 * sender may run ahead of the receiver's PROGRESS.  The receiver holds at
 * most this much metadata waiting (plus what each decoded entry costs
 * beyond its payload, struct action and the allocator's overhead).
 */
#define MSG_CREDIT_ENTRIES 16384
#define MSG_CREDIT_BYTES   (8u * 1024 * 1024)

/* Entry flags. */
enum msg_entry_flags {
	ENTRY_ERROR = (1 << 0), /* could not be read: only path/type valid */
};

/*
 * HELLO flags.  HELLO_DIGESTS: from a writer, "send the SHA-1 of each
 * file's content in its FILE_END"; from a reader, "I can".  Digests
 * travel only when both sides set it (docs/protocol.md).
 */
enum msg_hello_flags {
	HELLO_DIGESTS = (1 << 0),
	/* from a reader: "I answer WANT_DIGEST" (the writer asks only
	 * then; an older reader gets WANT and sends the content) */
	HELLO_WANT_DIGEST = (1 << 1),
};

/* FILE_END flags. */
enum msg_file_flags {
	FILE_CHANGED = (1 << 0), /* the file changed while it was read */
};

struct msg_hello {
	uint32_t magic;
	uint16_t version;
	uint8_t role;
	uint32_t flags;
	char software[64]; /* NUL-terminated */
};

struct msg_entry {
	struct meta_rec rec;
	uint32_t flags; /* enum msg_entry_flags */
	uint32_t err;	/* errno when ENTRY_ERROR */
	char *
	    link_to; /* owned; restore stream: hard link to this earlier path */
	size_t link_len;
};

/*
 * msg_max_payload(type): largest payload a frame of ${type} may carry, or
 * -1 for an unknown type.  Usable as a frame_max_fn.
 */
long msg_max_payload(uint8_t type);

/*
 * msg_entry_stream_max(type): the frame_in limit callback of a role that
 * receives an entry stream (the writer from a reader in backup and
 * compare, the restorer from the repository side): HELLO, ENTRY,
 * ENTRIES_END and file content; any other type is refused (-1).
 */
long msg_entry_stream_max(uint8_t type);

/*
 * msg_backup_stream_max(type): what the writer accepts from a reader in a
 * backup: the entry stream and DELTA, DELTA_END.
 */
long msg_backup_stream_max(uint8_t type);

/* msg_name(type): printable name for logs. */
const char *msg_name(uint8_t type);

/* msg_entry_init / msg_entry_clear: as meta_rec_init/clear. */
void msg_entry_init(struct msg_entry *e);
void msg_entry_clear(struct msg_entry *e);

/*
 * Encoders append a payload to ${wr}; decoders parse a whole payload.
 * Decoders validate everything (paths via meta_relpath_ok, names, types,
 * bounds) and return 0, CB_ERR_TRUNCATED, CB_ERR_TOO_LARGE,
 * CB_ERR_TRAILING, CB_ERR_BAD_VALUE or CB_ERR_NOMEM.  On failure the
 * output struct is cleared.
 */
struct wire_wr;
int msg_hello_encode(struct wire_wr *wr, const struct msg_hello *h);
int msg_hello_decode(const uint8_t *p, size_t len, struct msg_hello *h);
int msg_entry_encode(struct wire_wr *wr, const struct msg_entry *e);
int msg_entry_decode(const uint8_t *p, size_t len, struct msg_entry *e);
int msg_u64_encode(struct wire_wr *wr, uint64_t v);
int msg_u64_decode(const uint8_t *p, size_t len, uint64_t *v);
int msg_u64pair_encode(struct wire_wr *wr, uint64_t a, uint64_t b);
int msg_u64pair_decode(const uint8_t *p, size_t len, uint64_t *a, uint64_t *b);
int msg_u32pair_encode(struct wire_wr *wr, uint32_t a, uint64_t b);
/* DELTA_END: u32 err, u64 flags (only FILE_CHANGED), 20-byte SHA-1. */
int msg_delta_end_encode(struct wire_wr *wr, uint32_t err, uint64_t flags,
    const uint8_t sha1[20]);
int msg_delta_end_decode(const uint8_t *p, size_t len, uint32_t *err,
    uint64_t *flags, uint8_t sha1[20]);
int msg_u32pair_decode(const uint8_t *p, size_t len, uint32_t *a, uint64_t *b);
/* DIGEST: u64 seq, then DELTA_END's fields. */
int msg_digest_encode(struct wire_wr *wr, uint64_t seq, uint32_t err,
    uint64_t flags, const uint8_t sha1[20]);
int msg_digest_decode(const uint8_t *p, size_t len, uint64_t *seq,
    uint32_t *err, uint64_t *flags, uint8_t sha1[20]);

#endif
