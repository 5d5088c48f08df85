/* Copy-on-write after fork() of written private anonymous memory.
 *
 * fork:   the parent wrote all 4096 pages of 16 MiB, then forks.  What does the
 *         child map, which pages are shared, what is exclusive, how big are
 *         the child's page tables?
 * cow:    the parent writes page 0 (copy?), the child writes page 0 (the page
 *         nobody else maps any more: copy or reuse?), the child writes page 1
 *         (still shared: copy), the child exits, the parent writes page 2
 *         (was shared, sharer gone: copy or reuse?) and then the rest.
 */
#define MEM_COMMON_NO_MAIN
#include "mem_common.c"

#define LEN (16 * MiB)
#define NPAGES (LEN / PAGE)

int main(void)
{
    long child_base = child_baseline_vmpte();
    char *p = map_anon(0, LEN);
    long base = vmpte_kb(0);

    put("parent_write_faults", write_pages(p, LEN));
    put_stat("parent_before_fork", pm_stat(0, p, LEN));
    put("parent_vmpte_delta_kb", vmpte_kb(0) - base);

    struct agent a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put_stat("child", pm_stat(a.pid, p, LEN));
    put("child_shared_with_parent", shared_with(0, a.pid, p, LEN));
    put_stat("parent_after_fork", pm_stat(0, p, LEN));
    put("child_vmpte_delta_kb", vmpte_kb(a.pid) - child_base);
    put("parent_vmpte_delta_after_fork_kb", vmpte_kb(0) - base);

    /* parent writes page 0 */
    uint64_t old0 = pfn_of(0, p);
    put("parent_write0_faults", write_pages(p, PAGE));
    put("parent_write0_parent_pfn_changed", pfn_of(0, p) != old0);
    put("parent_write0_child_pfn_is_old", pfn_of(a.pid, p) == old0);
    put("parent_write0_parent_page0_exclusive", pm_stat(0, p, PAGE).exclusive);
    put("parent_write0_child_page0_exclusive", pm_stat(a.pid, p, PAGE).exclusive);
    put("parent_write0_shared_with", shared_with(0, a.pid, p, LEN));
    put("parent_write0_parent_exclusive", pm_stat(0, p, LEN).exclusive);
    put("parent_write0_child_exclusive", pm_stat(a.pid, p, LEN).exclusive);

    /* child writes page 0: its old page is now mapped by the child only */
    put("child_write0_faults", agent_do(&a, OP_WRITE, p, PAGE));
    put("child_write0_pfn_changed", pfn_of(a.pid, p) != old0);

    /* child writes page 1: still shared with the parent */
    uint64_t old1 = pfn_of(a.pid, p + PAGE);
    put("child_write1_faults", agent_do(&a, OP_WRITE, p + PAGE, PAGE));
    put("child_write1_child_pfn_changed", pfn_of(a.pid, p + PAGE) != old1);
    put("child_write1_parent_pfn_changed", pfn_of(0, p + PAGE) != old1);
    put("child_write1_shared_with", shared_with(0, a.pid, p, LEN));
    put("child_write_again1_faults", agent_do(&a, OP_WRITE, p + PAGE, PAGE));

    /* the child exits; the parent writes page 2, which was shared */
    agent_exit(&a);
    put("child_exit_status", WIFEXITED(a.status) ? WEXITSTATUS(a.status) : -1);
    put_stat("parent_after_reap", pm_stat(0, p, LEN));
    uint64_t old2 = pfn_of(0, p + 2 * PAGE);
    put("parent_write2_after_reap_faults", write_pages(p + 2 * PAGE, PAGE));
    put("parent_write2_after_reap_pfn_changed", pfn_of(0, p + 2 * PAGE) != old2);

    /* the parent writes every page again: which still fault, which move? */
    uint64_t *before = pm_a, *after = pm_b; /* NPAGES == CHUNK */
    read_pagemap(0, p, NPAGES, before);
    put("parent_rewrite_all_after_reap_faults", write_pages(p, LEN));
    read_pagemap(0, p, NPAGES, after);
    long moved = 0;
    for (size_t i = 0; i < NPAGES; i++)
        moved += (before[i] & PM_PFN_MASK) != (after[i] & PM_PFN_MASK);
    put("parent_rewrite_all_after_reap_pfn_changed", moved);
    put("parent_rewrite_all_again_faults", write_pages(p, LEN));
    munmap(p, LEN);
    return 0;
}
