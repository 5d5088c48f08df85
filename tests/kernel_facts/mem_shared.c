/* MAP_SHARED|MAP_ANONYMOUS (shmem-backed) memory across fork().
 *
 * The parent writes all of a 16 MiB shared anonymous mapping and forks.
 * Does the child get PTEs?  When the child reads one page, how many pages
 * become present (fault-around)?  When it writes a page that is not
 * present?  Which pages are marked exclusive?
 */
#define MEM_COMMON_NO_MAIN
#include "mem_common.c"

#define LEN (16 * MiB)

int main(void)
{
    char *p = map_at(slot_addr(0), LEN, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0, MADV_NOHUGEPAGE);
    long base = vmpte_kb(0);

    put("parent_write_faults", write_pages(p, LEN));
    put_stat("parent", pm_stat(0, p, LEN));
    put("parent_vmpte_delta_kb", vmpte_kb(0) - base);
    put("parent_rewrite_faults", write_pages(p, LEN));

    long child_base = child_baseline_vmpte_without(p, LEN);
    struct agent a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put_stat("child", pm_stat(a.pid, p, LEN));
    put("child_vmpte_delta_kb", vmpte_kb(a.pid) - child_base);
    put_stat("parent_after_fork", pm_stat(0, p, LEN));

    /* child reads page 21 (in the middle of a 16-page-aligned block) */
    char *r = p + 21 * PAGE;
    put("child_read1_faults", agent_do(&a, OP_READ, r, PAGE));
    put_stat("child_after_read1", pm_stat(a.pid, p, LEN));
    /* which pages: first and last present index */
    {
        uint64_t e[LEN / PAGE];
        read_pagemap(a.pid, p, LEN / PAGE, e);
        long first = -1, last = -1;
        for (long i = 0; i < (long)(LEN / PAGE); i++)
            if (e[i] & PM_PRESENT) {
                if (first < 0)
                    first = i;
                last = i;
            }
        put("child_after_read1_first_page", first);
        put("child_after_read1_last_page", last);
    }
    put("child_after_read1_shared_with", shared_with(0, a.pid, p, LEN));
    put_stat("parent_after_child_read1", pm_stat(0, p, LEN));
    put("child_read_window_again_faults", agent_do(&a, OP_READ, p + 16 * PAGE, 16 * PAGE));

    /* child writes page 100 (not present in the child) */
    put("child_write1_faults", agent_do(&a, OP_WRITE, p + 100 * PAGE, PAGE));
    put_stat("child_after_write1", pm_stat(a.pid, p, LEN));
    /* child writes page 22 (mapped read-only by fault-around?) */
    put("child_write_faultaround_page_faults", agent_do(&a, OP_WRITE, p + 22 * PAGE, PAGE));
    put("child_after_writes_shared_with", shared_with(0, a.pid, p, LEN));
    put("child_vmpte_delta_after_kb", vmpte_kb(a.pid) - child_base);

    /* child writes all: every page that is not yet mapped faults once */
    put("child_write_all_faults", agent_do(&a, OP_WRITE, p, LEN));
    put_stat("child_after_write_all", pm_stat(a.pid, p, LEN));
    agent_exit(&a);
    put("parent_sees_child_write", p[100 * PAGE] == 1);
    munmap(p, LEN);
    return 0;
}
