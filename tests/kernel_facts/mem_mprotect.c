/* mprotect(): protection faults (SIGSEGV, counted as minor faults or not?)
 * and whether dropping and restoring PROT_WRITE costs write faults later,
 * before fork, while a child shares the pages, and after the child is gone;
 * and the same for shared memory and a shared file mapping.
 */
#define MEM_COMMON_NO_MAIN
#include "mem_common.c"

#include <sys/vfs.h>

#define TMPFS_MAGIC_NUMBER 0x01021994

#define LEN (16 * MiB)
#define NPAGES (LEN / PAGE)

static void mprot(char *p, size_t len, int prot)
{
    if (mprotect(p, len, prot) != 0)
        die("mprotect");
}

/* Write all pages; report faults and how many pages changed PFN. */
static void write_all_report(const char *prefix, char *p)
{
    char key[128];
    uint64_t *b = pm_a, *a = pm_b; /* NPAGES == CHUNK */
    read_pagemap(0, p, NPAGES, b);
    long faults = write_pages(p, LEN);
    read_pagemap(0, p, NPAGES, a);
    long moved = 0;
    for (size_t i = 0; i < NPAGES; i++)
        moved += (a[i] & PM_PFN_MASK) != (b[i] & PM_PFN_MASK);
    snprintf(key, sizeof key, "%s_write_faults", prefix);
    put(key, faults);
    snprintf(key, sizeof key, "%s_pfn_changed", prefix);
    put(key, moved);
}

int main(void)
{
    char *p;
    long f;
    int sig;

    /* PROT_READ from the start: a write is refused */
    p = map_at(slot_addr(0), LEN, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0,
               MADV_NOHUGEPAGE);
    sig = probe_access(p, 1, &f);
    put("ro_fresh_write_signal", sig);
    put("ro_fresh_write_faults", f);
    put("ro_fresh_read_faults", read_pages(p, PAGE));
    put_stat("ro_fresh_after_read", pm_stat(0, p, PAGE));
    sig = probe_access(p, 1, &f);
    put("ro_zero_write_signal", sig);
    put("ro_zero_write_faults", f);
    munmap(p, LEN);

    /* written, then PROT_READ: a write is refused; then back to RW */
    p = map_anon(0, LEN);
    write_pages(p, LEN);
    mprot(p, LEN, PROT_READ);
    put_stat("ro_written", pm_stat(0, p, LEN));
    sig = probe_access(p, 1, &f);
    put("ro_written_write_signal", sig);
    put("ro_written_write_faults", f);
    put("ro_written_read_faults", read_pages(p, LEN));
    mprot(p, LEN, PROT_READ | PROT_WRITE);
    write_all_report("rw_again", p);

    /* PROT_NONE: pages stay mapped (pagemap) but any access is refused */
    mprot(p, LEN, PROT_NONE);
    put_stat("none", pm_stat(0, p, LEN));
    sig = probe_access(p, 0, &f);
    put("none_read_signal", sig);
    put("none_read_faults", f);
    sig = probe_access(p, 1, &f);
    put("none_write_signal", sig);
    put("none_write_faults", f);
    mprot(p, LEN, PROT_READ | PROT_WRITE);
    write_all_report("none_rw_again", p);

    /* the same while a child shares the pages */
    struct agent a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    mprot(p, LEN, PROT_READ);
    mprot(p, LEN, PROT_READ | PROT_WRITE);
    write_all_report("forked_rw_again", p);
    put("forked_shared_with", shared_with(0, a.pid, p, LEN));
    agent_exit(&a);

    /* after fork, once the child is gone: the pages are mapped only by the
     * parent but were write-protected by fork */
    a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    agent_exit(&a);
    put("reaped_exclusive", pm_stat(0, p, LEN).exclusive);
    mprot(p, LEN, PROT_READ);
    mprot(p, LEN, PROT_READ | PROT_WRITE);
    write_all_report("reaped_rw_again", p);
    /* and once written after the reap, a R/RW cycle is free again */
    mprot(p, LEN, PROT_READ);
    mprot(p, LEN, PROT_READ | PROT_WRITE);
    write_all_report("reaped_written_rw_again", p);
    munmap(p, LEN);

    /* zero-page PTEs never become writable by mprotect */
    p = map_anon(0, LEN);
    read_pages(p, LEN);
    mprot(p, LEN, PROT_READ);
    mprot(p, LEN, PROT_READ | PROT_WRITE);
    put("zero_rw_again_write_faults", write_pages(p, LEN));
    munmap(p, LEN);

    /* shared memory: shmem asks for no write notification, so RW again makes
     * every present entry writable, written or only read */
    p = map_at(slot_addr(0), LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0, MADV_NOHUGEPAGE);
    write_pages(p, LEN / 2);
    put("shmem_read_faults", read_pages(p + LEN / 2, LEN / 2));
    mprot(p, LEN, PROT_READ);
    mprot(p, LEN, PROT_READ | PROT_WRITE);
    put("shmem_rw_again_write_faults", write_pages(p, LEN));
    mprot(p, LEN, PROT_NONE);
    mprot(p, LEN, PROT_READ | PROT_WRITE);
    put("shmem_none_rw_again_write_faults", write_pages(p, LEN));
    munmap(p, LEN);
    p = map_at(slot_addr(0), LEN, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0,
               MADV_NOHUGEPAGE);
    read_pages(p, LEN);
    mprot(p, LEN, PROT_READ | PROT_WRITE);
    put("shmem_ro_read_rw_write_faults", write_pages(p, LEN));
    munmap(p, LEN);

    /* a shared file mapping on a file system that wants to hear of writes
     * (not tmpfs): only entries written (dirty) become writable again */
    {
        struct statfs fs;
        int fd = open("mem_mprotect.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || ftruncate(fd, LEN) != 0 || fstatfs(fd, &fs) != 0)
            die("file");
        put("file_on_tmpfs", fs.f_type == TMPFS_MAGIC_NUMBER);
        p = map_at(slot_addr(0), LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0,
                   MADV_NOHUGEPAGE);
        write_pages(p, LEN / 2);
        read_pages(p + LEN / 2, LEN / 2);
        mprot(p, LEN, PROT_READ);
        mprot(p, LEN, PROT_READ | PROT_WRITE);
        put("shared_file_dirty_rw_again_write_faults", write_pages(p, LEN / 2));
        put("shared_file_clean_rw_again_write_faults", write_pages(p + LEN / 2, LEN / 2));
        mprot(p, LEN, PROT_NONE);
        mprot(p, LEN, PROT_READ | PROT_WRITE);
        put("shared_file_none_rw_again_write_faults", write_pages(p, LEN));
        munmap(p, LEN);
        close(fd);
    }
    put("sigsegv", SIGSEGV);
    return 0;
}
