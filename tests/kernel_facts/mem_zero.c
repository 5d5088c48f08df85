/* Fresh private anonymous memory: the zero page, first-touch faults, and
 * which PTEs fork() copies for a mapping that was only read (or never touched).
 *
 * Questions:
 *   write-only:  write every page of a fresh 16 MiB mapping.
 *   read-only:   read every page of a fresh 16 MiB mapping (zero page?).
 *   read-write:  read every page, then write every page (faults of the writes).
 *   fork_read:   fork after the parent only read the mapping.
 *   fork_untouched: fork with a mapping never touched.
 *   fork_read_one_write: read all, write one page, then fork.
 * Every scenario uses slot 0 and unmaps it at the end, so each VmPTE delta
 * starts from the same state (no page tables in the 16 TiB region).
 */
#define MEM_COMMON_NO_MAIN
#include "mem_common.c"

#define LEN (16 * MiB)

int main(void)
{
    long base, child_base = child_baseline_vmpte();
    char *p;
    struct agent a;

    /* write every page */
    p = map_anon(0, LEN);
    base = vmpte_kb(0);
    put("write_faults", write_pages(p, LEN));
    put_stat("write", pm_stat(0, p, LEN));
    put("write_vmpte_delta_kb", vmpte_kb(0) - base);
    munmap(p, LEN);
    put("after_munmap_vmpte_delta_kb", vmpte_kb(0) - base);

    /* read every page of a fresh mapping */
    p = map_anon(0, LEN);
    base = vmpte_kb(0);
    put("read_faults", read_pages(p, LEN));
    put_stat("read", pm_stat(0, p, LEN));
    put("read_vmpte_delta_kb", vmpte_kb(0) - base);
    /* one PFN for all of them? */
    put("read_same_pfn_all", pfn_of(0, p) == pfn_of(0, p + LEN - PAGE));

    /* fork after only reading (the VMA has no anon_vma) */
    a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put_stat("fork_read_child", pm_stat(a.pid, p, LEN));
    put("fork_read_child_vmpte_delta_kb", vmpte_kb(a.pid) - child_base);
    put("fork_read_child_read_faults", agent_do(&a, OP_READ, p, LEN));
    put_stat("fork_read_child_after_read", pm_stat(a.pid, p, LEN));
    agent_exit(&a);

    /* then write every page (was: zero page) */
    put("read_then_write_faults", write_pages(p, LEN));
    put_stat("read_then_write", pm_stat(0, p, LEN));
    put("read_then_write_vmpte_delta_kb", vmpte_kb(0) - base);
    munmap(p, LEN);

    /* fork with a mapping that was never touched */
    p = map_anon(0, LEN);
    a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put_stat("fork_untouched_child", pm_stat(a.pid, p, LEN));
    put("fork_untouched_child_vmpte_delta_kb", vmpte_kb(a.pid) - child_base);
    agent_exit(&a);
    munmap(p, LEN);

    /* read all, write one page (now the VMA has an anon_vma), then fork */
    p = map_anon(0, LEN);
    read_pages(p, LEN);
    write_pages(p, PAGE);
    a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put_stat("fork_read_one_write_child", pm_stat(a.pid, p, LEN));
    put("fork_read_one_write_child_vmpte_delta_kb", vmpte_kb(a.pid) - child_base);
    put("fork_read_one_write_shared_with_parent", shared_with(0, a.pid, p, LEN));
    agent_exit(&a);
    munmap(p, LEN);
    return 0;
}
