#ifndef FSUTIL_H
#define FSUTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Small file-system helpers shared by the roles.  All return 0 or a
 * negative cb_err (CB_ERR_SYS with errno set) unless stated otherwise.
 */

/*
 * fs_open_beneath(dirfd, path, flags, mode):
 * openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS:
 * ${path} cannot leave ${dirfd} nor pass through any symlink.  Returns the
 * fd or -1 with errno set.
 */
int fs_open_beneath(int dirfd, const char *path, int flags, mode_t mode);

/*
 * fs_remove_at(dirfd, name):
 * Remove the entry ${name} (one component) of ${dirfd}, recursively if it
 * is a directory, never following symlinks.  ENOENT is success.
 */
int fs_remove_at(int dirfd, const char *name);

/* fs_write_all(fd, p, n): write everything, retrying EINTR. */
int fs_write_all(int fd, const void *p, size_t n);
/* fs_pwrite_all(fd, p, n, off): write everything at ${off}, retrying
 * EINTR; 0 or CB_ERR_SYS. */
int fs_pwrite_all(int fd, const void *p, size_t n, uint64_t off);
/* fs_pread_all(fd, p, n, off): read all ${n} bytes at ${off}, retrying
 * EINTR; 0 or CB_ERR_SYS (EIO if the file ends first). */
int fs_pread_all(int fd, void *p, size_t n, uint64_t off);

/*
 * fs_copy_range(in, off, len, out, outoff, buf, cap):
 * Copy [off, off + len) of ${in} to ${out} at ${outoff}, or appended with
 * write(2) if ${outoff} is negative, through ${buf} of ${cap} bytes.
 * 0 or CB_ERR_SYS (EIO if ${in} ends first).
 */
int fs_copy_range(int in, uint64_t off, uint64_t len, int out, int64_t outoff,
    void *buf, size_t cap);

/*
 * fs_create_file_at(dirfd, name, p, n):
 * Create ${name} (O_EXCL, mode 0600, no symlink followed) holding the ${n}
 * bytes at ${p}, fsync it.  On failure nothing is left behind.
 */
int fs_create_file_at(int dirfd, const char *name, const void *p, size_t n);

/* fs_read_small_at(dirfd, name, buf, cap, len): read up to cap-1 bytes, NUL-terminate. */
int fs_read_small_at(int dirfd, const char *name, char *buf, size_t cap,
    size_t *len);

/* fs_dir_is_empty(dirfd): 1 empty, 0 not, negative error. */
int fs_dir_is_empty(int dirfd);

/* fs_set_nonblock(fd, on). */
int fs_set_nonblock(int fd, int on);

/*
 * fs_list_names(fd, names, n): the names in the directory open at ${fd}
 * (without "." and ".."), sorted by strcmp (unsigned bytes).  The caller
 * frees them with fs_free_names.  ${fd} stays open and usable.
 */
int fs_list_names(int fd, char ***names, size_t *n);
void fs_free_names(char **names, size_t n);

/*
 * fs_open_parent(path): an O_PATH descriptor of the directory holding the
 * last component of ${path} ("." for a bare name), or -1 with errno.
 */
int fs_open_parent(const char *path);

/*
 * fs_mount_next(f, type, point, pcap, opts, ocap): the next line of
 * /proc/mounts (open as ${f}) whose file system type is ${type}: its
 * mount point, unescaped (the kernel writes ' ', tab, newline and '\\'
 * as \ooo), into point[pcap], its options into opts[ocap] (${opts} may
 * be NULL).  1, or 0 at the end.
 */
int fs_mount_next(FILE *f, const char *type, char *point, size_t pcap,
    char *opts, size_t ocap);

#endif
