/* proc_offsets.c -- file offsets and positioned I/O: lseek, pread, pwrite,
 * ftruncate, who shares an offset (fork, dup, a second open), O_APPEND, the
 * offset /proc/PID/fdinfo shows, and FIONREAD on a pipe's two ends.
 *
 * Every case runs in the current directory (the harness's fresh temp dir).
 */
#include "proc_common.h"

#include <sys/ioctl.h>

/* "value" or "-1:ERRNO" for a call's return, as forklab's last_result shows it. */
static void result_kv(const char *key, long r)
{
    if (r < 0)
        kv(key, "-1:%s", ename(errno));
    else
        kv(key, "%ld", r);
}

/* The "pos:" line of /proc/self/fdinfo/FD. */
static long fdinfo_pos(int fd)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    if (slurp(path, buf, sizeof buf) < 0)
        return -2;
    return strncmp(buf, "pos:", 4) == 0 ? strtol(buf + 4, NULL, 10) : -3;
}

static void seeks(void)
{
    int fd = open("seek.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    result_kv("lseek.write", write(fd, "hello world", 11));
    kv("lseek.pos_after_write", "%ld", fdinfo_pos(fd));
    result_kv("lseek.set", lseek(fd, 3, SEEK_SET));
    result_kv("lseek.cur", lseek(fd, 2, SEEK_CUR));
    result_kv("lseek.cur_back", lseek(fd, -4, SEEK_CUR));
    result_kv("lseek.end", lseek(fd, -1, SEEK_END));
    result_kv("lseek.end_past", lseek(fd, 5, SEEK_END));
    result_kv("lseek.negative", lseek(fd, -1, SEEK_SET));
    kv("lseek.pos_after_negative", "%ld", fdinfo_pos(fd));
    result_kv("lseek.cur_before_start", lseek(fd, -100, SEEK_CUR));
    /* a write past the end leaves a hole of zeros */
    result_kv("lseek.write_past_end", write(fd, "Z", 1));
    char buf[32] = {0};
    result_kv("lseek.pread_all", pread(fd, buf, sizeof buf, 0));
    kv("lseek.hole_byte", "%d", buf[11]);
    kv("lseek.byte_16", "%c", buf[16]);
    close(fd);

    int p[2];
    if (pipe(p) < 0)
        _exit(2);
    result_kv("lseek.pipe_read_end", lseek(p[0], 0, SEEK_CUR));
    result_kv("lseek.pipe_write_end", lseek(p[1], 0, SEEK_SET));
    kv("lseek.pipe_pos", "%ld", fdinfo_pos(p[0]));
    result_kv("pread.pipe", pread(p[0], buf, 4, 0));
    result_kv("pwrite.pipe", pwrite(p[1], "x", 1, 0));
    result_kv("ftruncate.pipe", ftruncate(p[1], 0));
    close(p[0]);
    close(p[1]);

    int null = open("/dev/null", O_RDWR);
    result_kv("null.write", write(null, "abc", 3));
    kv("null.pos_after_write", "%ld", fdinfo_pos(null));
    result_kv("null.lseek", lseek(null, 100, SEEK_SET));
    kv("null.pos_after_lseek", "%ld", fdinfo_pos(null));
    result_kv("null.lseek_end", lseek(null, 7, SEEK_END));
    result_kv("null.pread", pread(null, buf, 4, 9));
    result_kv("null.pwrite", pwrite(null, "abc", 3, 9));
    result_kv("null.ftruncate", ftruncate(null, 0));
    close(null);

    if (mkdir("dir", 0755) < 0)
        _exit(2);
    int dir = open("dir", O_RDONLY);
    result_kv("dir.pread", pread(dir, buf, 4, 0));
    result_kv("dir.ftruncate", ftruncate(dir, 0));
    result_kv("dir.lseek_set", lseek(dir, 5, SEEK_SET));
    result_kv("dir.lseek_cur", lseek(dir, 2, SEEK_CUR));
    result_kv("dir.lseek_end", lseek(dir, 0, SEEK_END));   /* the file system's choice */
    close(dir);

    int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    result_kv("pidfd.lseek", lseek(pidfd, 0, SEEK_SET));
    result_kv("pidfd.pread", pread(pidfd, buf, 1, 0));
    result_kv("pidfd.pwrite", pwrite(pidfd, "x", 1, 0));
    result_kv("pidfd.ftruncate", ftruncate(pidfd, 0));
    close(pidfd);
}

static void positioned(void)
{
    int fd = open("pos.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    result_kv("pwrite.at_6", pwrite(fd, "world", 5, 6));
    kv("pwrite.pos_after", "%ld", fdinfo_pos(fd));
    char buf[32] = {0};
    result_kv("pread.all", pread(fd, buf, sizeof buf, 0));
    kv("pread.hole_byte_0", "%d", buf[0]);
    result_kv("pread.count_3", pread(fd, buf, 3, 7));
    kv("pread.count_3_data", "%.3s", buf);
    result_kv("pread.past_end", pread(fd, buf, 4, 100));
    kv("pread.pos_after", "%ld", fdinfo_pos(fd));
    result_kv("pread.negative", pread(fd, buf, 4, -1));
    result_kv("pwrite.negative", pwrite(fd, "x", 1, -1));
    close(fd);

    int ro = open("pos.txt", O_RDONLY);
    result_kv("pwrite.read_only", pwrite(ro, "x", 1, 0));
    result_kv("ftruncate.read_only", ftruncate(ro, 0));
    close(ro);
    int wo = open("pos.txt", O_WRONLY);
    result_kv("pread.write_only", pread(wo, buf, 1, 0));
    result_kv("ftruncate.negative", ftruncate(wo, -1));
    close(wo);

    /* Linux: pwrite on an O_APPEND description appends, whatever the offset */
    int ap = open("append.txt", O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0644);
    result_kv("append.write", write(ap, "abc", 3));
    result_kv("append.pwrite_0", pwrite(ap, "XY", 2, 0));
    kv("append.pos", "%ld", fdinfo_pos(ap));
    result_kv("append.lseek_0", lseek(ap, 0, SEEK_SET));
    result_kv("append.write_after_lseek", write(ap, "Q", 1));
    kv("append.pos_after_write", "%ld", fdinfo_pos(ap));
    memset(buf, 0, sizeof buf);
    result_kv("append.content_len", pread(ap, buf, sizeof buf, 0));
    kv("append.content", "%s", buf);
    close(ap);
}

static void truncation(void)
{
    int fd = open("trunc.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    result_kv("ftruncate.write", write(fd, "0123456789", 10));
    result_kv("ftruncate.shrink", ftruncate(fd, 4));
    kv("ftruncate.pos_kept", "%ld", fdinfo_pos(fd));
    result_kv("ftruncate.write_after", write(fd, "X", 1));
    char buf[32] = {0};
    result_kv("ftruncate.size_after_write", pread(fd, buf, sizeof buf, 0));
    kv("ftruncate.gap_byte", "%d", buf[5]);
    result_kv("ftruncate.grow", ftruncate(fd, 20));
    result_kv("ftruncate.size_after_grow", pread(fd, buf, sizeof buf, 0));
    result_kv("ftruncate.read_at_pos", read(fd, buf, sizeof buf));
    close(fd);
    int ap = open("trunc.txt", O_WRONLY | O_APPEND);
    result_kv("ftruncate.append_fd", ftruncate(ap, 2));
    close(ap);
}

static void sharing(void)
{
    int fd = open("share.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (write(fd, "abcdefgh", 8) != 8)
        _exit(2);
    lseek(fd, 0, SEEK_SET);
    int d = dup(fd);
    int other = open("share.txt", O_RDONLY);
    pid_t c = fork();
    if (c == 0) {
        lseek(fd, 5, SEEK_SET);
        _exit(0);
    }
    reap(c, 2000);
    kv("share.fork_pos", "%ld", fdinfo_pos(fd));
    kv("share.dup_pos", "%ld", fdinfo_pos(d));
    kv("share.other_pos", "%ld", fdinfo_pos(other));
    char b;
    if (read(d, &b, 1) != 1)
        _exit(2);
    kv("share.read_through_dup", "%c", b);
    kv("share.pos_after_dup_read", "%ld", fdinfo_pos(fd));
    close(fd);
    close(d);
    close(other);
}

static void fionread(void)
{
    int p[2];
    if (pipe(p) < 0)
        _exit(2);
    int n = -1, m = -1;
    ioctl(p[0], FIONREAD, &n);
    kv("fionread.empty", "%d", n);
    if (write(p[1], "hello", 5) != 5 || write(p[1], "!", 1) != 1)
        _exit(2);
    ioctl(p[0], FIONREAD, &n);
    ioctl(p[1], FIONREAD, &m);
    kv("fionread.read_end", "%d", n);
    kv("fionread.write_end", "%d", m);
    char buf[4];
    if (read(p[0], buf, 4) != 4)
        _exit(2);
    ioctl(p[0], FIONREAD, &n);
    kv("fionread.after_read_4", "%d", n);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    seeks();
    positioned();
    truncation();
    sharing();
    fionread();
    return 0;
}
