/* proc_dir_read.c -- read(2) of a directory's fd, at its start and at its end.
 *
 * read(2) of a directory is EISDIR (the file system's read is generic_read_dir),
 * but vfs_read first checks the range (rw_verify_area): a position that, with
 * the count added, passes the largest offset (LLONG_MAX) is EINVAL. ext4 puts a
 * hashed directory's end there, and readdir's getdents64 moves the fd there.
 * Runs in a directory of its own (the harness's, on the scratch directory's
 * file system: ext4 here).
 *
 * Keys (the errno of each read of 65,536 bytes, as forklab's readfd asks):
 *   start              read at offset 0
 *   after_readdir      read after readdir(3) read the whole directory
 *   offset_after       where that left the fd (ext4: LLONG_MAX)
 *   dup_to_0           the same fd dup2'd onto 0, read through fd 0
 *   last_fitting       at LLONG_MAX - 65536: the count still fits
 *   one_past           at LLONG_MAX - 65535
 *   one_byte_at_end    a read of 1 byte at LLONG_MAX
 */
#include "proc_common.h"

#include <dirent.h>
#include <limits.h>

static char buf[65536];

static const char *read_errno(int fd, size_t count)
{
    ssize_t n = read(fd, buf, count);
    return n < 0 ? ename(errno) : "ok";
}

int main(void)
{
    DIR *d = opendir(".");
    if (d == NULL)
        return 2;
    int fd = dirfd(d);
    kv("start", "%s", read_errno(fd, sizeof buf));
    while (readdir(d) != NULL)
        ;
    kv("after_readdir", "%s", read_errno(fd, sizeof buf));
    kv("offset_after", "%lld", (long long)lseek(fd, 0, SEEK_CUR));
    if (dup2(fd, 0) < 0)
        return 3;
    kv("dup_to_0", "%s", read_errno(0, sizeof buf));
    lseek(fd, LLONG_MAX - 65536, SEEK_SET);
    kv("last_fitting", "%s", read_errno(fd, sizeof buf));
    lseek(fd, LLONG_MAX - 65535, SEEK_SET);
    kv("one_past", "%s", read_errno(fd, sizeof buf));
    lseek(fd, LLONG_MAX, SEEK_SET);
    kv("one_byte_at_end", "%s", read_errno(fd, 1));
    closedir(d);
    return 0;
}
