/* mprotect(): protection faults (SIGSEGV, counted as minor faults or not?)
 * and whether dropping and restoring PROT_WRITE costs write faults later,
 * before fork, while a child shares the pages, and after the child is gone.
 */
#define MEM_COMMON_NO_MAIN
#include "mem_common.c"

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
    put("sigsegv", SIGSEGV);
    return 0;
}
