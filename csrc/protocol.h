/* The control protocol between forklab's driver (Python) and its probe.
 *
 * One SOCK_SEQPACKET socket per task (a process's main thread, or a thread),
 * so every message is one record. The driver sends a command: a fixed header
 * (struct fl_cmd) followed by `len` bytes of data, and, for some ops, one fd
 * in SCM_RIGHTS (a new task's channel, a pidfd, the scratch directory). The
 * probe answers with a reply: a fixed header (struct fl_reply) and data.
 *
 * This file is included by the probe (csrc/probe.c) and by the cffi helpers
 * (csrc/native.c); the driver reads every constant from the compiled
 * extension, so the two sides cannot drift apart.
 */
#ifndef FORKLAB_PROTOCOL_H
#define FORKLAB_PROTOCOL_H

#include <stdint.h>

#define FL_PROTOCOL_VERSION 2

/* forklab's own fds live at or above the run's floor: this number, or a higher
 * one when the scenario's ops can give it more fds (forklab/real/backend.py
 * fd_floor; the probe reads it from FORKLAB_FD_FLOOR). Fds a script names are
 * 0..511. */
#define FL_FD_MIN 900
/* The fds above the floor a run needs for forklab's own (a channel per task,
 * the scratch directory, /proc, one in passing): the fd limit must leave them. */
#define FL_FD_RESERVE 124
/* The fd the driver gives the first probe its channel on. */
#define FL_FIRST_CHANNEL_FD 900
/* The largest data part of one message. */
#define FL_MAX_DATA 65536
/* How much one `readfd` asks read(2) for. */
#define FL_READ_SIZE 65536
/* Mutexes (`lock L`) and atfork registrations a probe can hold. */
#define FL_MAX_LOCKS 1024
#define FL_MAX_ATFORK 64
/* Stacks for threads and CLONE_VM children (one mapping each): 8 MiB, the
 * size glibc gives a thread by default (RLIMIT_STACK), since every vfork child
 * runs its ops in frames below its parent's, on the same stack. */
#define FL_STACK_SIZE (8 * 1024 * 1024)
#define FL_MAX_STACKS 600

/* The scenario region of the address space (forklab/layout.py places each
 * scenario mapping there, at the same address on both backends): from 16 TiB
 * to 80 TiB, below where the kernel loads a PIE program such as the probe
 * (ELF_ET_DYN_BASE, 2/3 of the 128 TiB user space, plus up to 1 TiB of
 * randomisation) and far above libc, the stack and mmap's own choices. Each
 * mapping starts on a fresh slot of 1 GiB. */
#define FL_REGION_BASE 0x100000000000ULL
#define FL_REGION_END 0x500000000000ULL
#define FL_SLOT_SHIFT 30

struct fl_cmd {
    uint32_t op;
    uint32_t len;     /* bytes of data after the header */
    int64_t a[8];
};

struct fl_reply {
    uint32_t kind;    /* FL_R_* */
    int32_t err;      /* the calling thread's errno after the op */
    int64_t v[12];
};

/* reply kinds */
#define FL_R_DONE 1   /* an op completed */
#define FL_R_HELLO 2  /* a new task is ready (see FL_H_*) */
#define FL_R_FAIL 3   /* the probe could not do what was asked (data: message) */
#define FL_R_BEGIN 4  /* an access loop starts (v[0]: the process's minor faults so far,
                       * RUSAGE_SELF); not the op's end: it lets the driver count the
                       * faults of a loop that kills the process */
#define FL_R_FAULTED 5 /* an access loop takes a fault that kills the process (v[0]: the
                        * process's minor faults at that fault, RUSAGE_SELF); the
                        * process ends without replying */

/* hello fields (v[]) */
#define FL_H_PID 0
#define FL_H_TID 1
#define FL_H_CHANNEL 2
#define FL_H_ERRNO_ADDR 3
#define FL_H_STATE_ADDR 4  /* struct fl_state in the probe's memory */
#define FL_H_SPAWN_NS 5    /* vfork/clone(vfork) children: time until the child ran */
#define FL_H_TOKEN 6
#define FL_H_ORIGIN 7      /* FL_O_* */
#define FL_H_VERSION 8
#define FL_H_RUNTIME_PTE 9
#define FL_H_ATTRS_ADDR 10  /* struct fl_task_attrs of this task in the probe's memory */

/* origins of a hello */
#define FL_O_IMAGE 0   /* a fresh probe image: the first, spawned, or exec'd */
#define FL_O_FORK 1
#define FL_O_VFORK 2
#define FL_O_CLONE 3
#define FL_O_THREAD 4

/* reply fields of FL_R_DONE */
#define FL_V_RESULT 0
#define FL_V_RESULT2 1
#define FL_V_FAULTS 10
#define FL_V_ELAPSED_NS 11

/* Per-address-space state the driver reads through /proc/PID/mem. It lives
 * in the probe's memory, so fork copies it, vfork and CLONE_VM share it and
 * exec discards it: exactly the life of the address space it describes. */
struct fl_state {
    uint64_t magic;
    int64_t runtime_pte_kb;  /* VmPTE that forklab's own runtime costs */
    uint32_t received[65];   /* runs of the recording handler (`catch`), by signal */
    uint64_t locks_addr;     /* the scenario's mutexes: an array of mutex_size each */
    uint64_t mutex_size;
    uint64_t stdout_wbase_addr; /* &stdout->_IO_write_base and _IO_write_ptr: the bytes */
    uint64_t stdout_wptr_addr;  /* between them wait in stdout's buffer */
    uint64_t environ_addr;   /* &environ: the driver reads the environment from there */
    /* Each task's parent-death signal (prctl PR_GET_PDEATHSIG) by thread id, noted when
     * the task says hello and after each FL_OP_PDEATHSIG: the kernel keeps it per task
     * and shows it nowhere else. A fork child's copy holds its parent's entries too;
     * it notes its own. */
    int32_t pdeath_tid[1024];
    int32_t pdeath_sig[1024];
    int32_t dumpable;        /* PR_GET_DUMPABLE, as of the probe's last reply: a flag of the
                              * mm, changed only by the probe's own calls (prctl, exec) */
    uint32_t atexit_count;   /* atexit handlers registered and not yet run */
    uint32_t atfork_count;   /* pthread_atfork registrations */
};

/* What only a task's own calls can read (getitimer, sigaltstack): the probe keeps a
 * record per task in its memory, found by thread id, which the task refreshes when
 * it starts and after each call that changes it; the hello gives its address. A
 * vfork child's record is its own, beside its parent's in the memory they share.
 * The process's interval timers are in its main thread's record (tid == pid). */
struct fl_task_attrs {
    int64_t tid;
    int64_t real_until_ns;  /* CLOCK_MONOTONIC when ITIMER_REAL expires; 0: disarmed */
    int64_t virtual_ns;     /* ITIMER_VIRTUAL left when last read; 0: disarmed */
    int64_t prof_ns;        /* ITIMER_PROF left when last read; 0: disarmed */
    int64_t altstack;       /* the task's alternate signal stack, bytes; 0: none */
};
#define FL_MAX_TASK_ATTRS 1024
#define FL_MAX_ATEXIT 256
#define FL_STATE_MAGIC 0x666f726b6c616221ULL

/* ops */
#define FL_OP_INIT 1        /* fd: scratch directory */
#define FL_OP_PING 2
#define FL_OP_MMAP 10       /* a0 addr a1 len a2 prot a3 flags a4 madvise a5 open flags (-1 anon); data: path */
#define FL_OP_MUNMAP 11     /* a0 addr a1 len */
#define FL_OP_WRITE 12      /* a0 addr a1 pages a2 byte */
#define FL_OP_READ 13       /* a0 addr a1 pages */
#define FL_OP_MADVISE 14    /* a0 addr a1 len a2 advice */
#define FL_OP_MPROTECT 15   /* a0 addr a1 len a2 prot */
#define FL_OP_MLOCK 16      /* a0 addr a1 len; reply: faults */
#define FL_OP_MUNLOCK 17    /* a0 addr a1 len */
#define FL_OP_MREMAP 18     /* a0 addr a1 old len a2 new len a3 flags; reply: faults */
#define FL_OP_FORK 20       /* fd: child channel; a0 token */
#define FL_OP_VFORK 21      /* fd: child channel; a0 token */
#define FL_OP_CLONE 22      /* fd: child channel; a0 token a1 clone flags a2 exit signal */
#define FL_OP_SPAWN 23      /* a0 token a1 attr flags a2 sigmask a3 sigdefault a4 kind; data: strings */
#define FL_OP_EXEC 24       /* a0 kind a1 argc; data: path, args, NUL separated */
#define FL_OP_EXIT 25       /* a0 code */
#define FL_OP__EXIT 26      /* a0 code */
#define FL_OP_WAIT 27       /* a0 pid (-1: any) a1 options (WNOHANG, WUNTRACED) */
#define FL_OP_KILL 28       /* fd: the target's pidfd; a0 signal */
#define FL_OP_THREAD 29     /* fd: thread channel; a0 token */
#define FL_OP_THREAD_EXIT 30
#define FL_OP_WAITID 31     /* a0 idtype (P_PID, P_ALL) a1 id a2 options (WEXITED is added);
                             * v1 si_pid v2 si_code v3 si_status */
#define FL_OP_TRYLOCK 32    /* a0 index */
#define FL_OP_MUTEX 33      /* a0 index a1 kind (PTHREAD_MUTEX_NORMAL, _ERRORCHECK) */
#define FL_OP_OPEN 40       /* a0 open flags a1 1 = absolute (/dev/null); data: path */
#define FL_OP_PIPE 41       /* a0 flags */
#define FL_OP_DUP 42        /* a0 fd a1 cloexec */
#define FL_OP_DUP2 43       /* a0 fd a1 num */
#define FL_OP_CLOSE 44      /* a0 fd */
#define FL_OP_CLOEXEC 45    /* a0 fd a1 on */
#define FL_OP_CLOSE_RANGE 46 /* a0 lo a1 hi (-1 = max) a2 flags */
#define FL_OP_WRITEFD 47    /* a0 fd; data */
#define FL_OP_READFD 48     /* a0 fd */
#define FL_OP_PRINTF 49     /* data */
#define FL_OP_FFLUSH 50
#define FL_OP_SETVBUF 51    /* a0 mode (_IONBF, _IOLBF, _IOFBF) */
#define FL_OP_LSEEK 52      /* a0 fd a1 offset a2 whence */
#define FL_OP_PREAD 53      /* a0 fd a1 offset a2 count (at most FL_READ_SIZE) */
#define FL_OP_PWRITE 54     /* a0 fd a1 offset; data */
#define FL_OP_FTRUNCATE 55  /* a0 fd a1 size */
#define FL_OP_MEMFD 56      /* a0 memfd_create flags; data: name */
#define FL_OP_SHM_OPEN 57   /* a0 open flags; data: name ("/run-unique-NAME") */
#define FL_OP_SHM_UNLINK 59  /* data: name (as FL_OP_SHM_OPEN's) */
#define FL_OP_MMAP_FD 58    /* a0 addr a1 len a2 prot a3 flags a4 madvise a5 fd */
#define FL_OP_LOCK 60       /* a0 index */
#define FL_OP_UNLOCK 61     /* a0 index */
#define FL_OP_ATFORK 62     /* a0 index */
#define FL_OP_MALLOC 63     /* a0 size */
#define FL_OP_FREE 64       /* a0 pointer */
#define FL_OP_SIGNAL 70     /* a0 signal a1 action (0 default, 1 ignore, 2 catch); SA_RESTART */
#define FL_OP_BLOCK 71      /* a0 signal */
#define FL_OP_UNBLOCK 72    /* a0 signal */
#define FL_OP_RAISE 73      /* a0 signal */
#define FL_OP_SLEEP 74      /* a0 nanoseconds */
#define FL_OP_SIGACTION 75  /* a0 signal a1 action (as FL_OP_SIGNAL; 3 exit) a2 FL_SA_* a3 exit code */
#define FL_OP_TGKILL 76     /* a0 tgid a1 tid (0: known gone, ESRCH unsent) a2 signal */
#define FL_OP_UNSHARE 140   /* a0 CLONE_NEW* flags */
#define FL_OP_OPENDIR 142   /* data: path; the stream is kept by its fd */
#define FL_OP_READDIR 143   /* a0 fd: readdir of the stream opendir gave that fd; v0 1 an
                             * entry, 0 none (the end, or errno) */
#define FL_OP_MQ_OPEN 141   /* data: name ("/run-unique-NAME"): a new queue, its name
                             * removed at once */
/* control groups */
#define FL_OP_CGROUP 180    /* fd: the run's cgroup v2 group (none: fail with errno a0);
                             * data: a name: the caller's process moves into that group
                             * below it, made on first use */
/* System V semaphores */
#define FL_OP_SEMGET 181    /* semget(IPC_PRIVATE, 1, 0600): v0 the set's id */
#define FL_OP_SEMOP 182     /* a0 the set's id a1 the change a2 1: SEM_UNDO; IPC_NOWAIT */
/* System V shared memory */
#define FL_OP_SHMAT 150     /* a0 addr a1 len a2 shmat flags (SHM_RDONLY, SHM_EXEC) a3 madvise
                             * a4 shmget flags (SHM_NORESERVE): a new IPC_PRIVATE segment,
                             * attached at a0 and removed (IPC_RMID) at once */
/* identity, working directory and environment */
#define FL_OP_CHDIR 110     /* a0 1 = absolute (/dev/null); data: path */
#define FL_OP_CHROOT 151    /* a0 1 = absolute (/dev/null); data: path */
#define FL_OP_MLOCKALL 152  /* a0 MCL_* flags; v FAULTS: the scenario's (the runtime is
                             * populated first, unmeasured) */
#define FL_OP_MUNLOCKALL 153
#define FL_OP_UMASK 111     /* a0 mask */
#define FL_OP_SETPGID 112   /* a0 pid (0: the caller) a1 pgid (0: the pid's own) */
#define FL_OP_SETSID 113
#define FL_OP_SETENV 114    /* data: name, value (NUL separated) */
#define FL_OP_UNSETENV 115  /* data: name */
#define FL_OP_PDEATHSIG 116 /* a0 signal (0: none); prctl(PR_SET_PDEATHSIG) */
#define FL_OP_SETRLIMIT 117 /* a0 RLIMIT_* a1 soft a2 hard (-1: RLIM_INFINITY) a3 1: keep the
                             * hard limit (getrlimit's) */
/* The most environment entries exec and spawn pass on (more: the call fails, E2BIG). */
#define FL_MAX_ENV 1024

/* scheduling and prctl: the calling thread's (dumpable: its address space's) */
#define FL_OP_NICE 120      /* a0 nice value: setpriority(PRIO_PROCESS, 0, a0) */
#define FL_OP_SCHED 121     /* a0 policy (SCHED_OTHER, _BATCH, _IDLE, | SCHED_RESET_ON_FORK) */
#define FL_OP_AFFINITY 122  /* a0..a7 the CPU mask, 64 CPUs a word */
#define FL_OP_PRCTL 123     /* a0 option (FL_PR_*) a1 value; data: the name (FL_PR_NAME) */

/* credentials: glibc's set*id calls (every thread), capset (the calling thread) */
#define FL_OP_SETRESUID 124 /* a0 real a1 effective a2 saved */
#define FL_OP_SETRESGID 125 /* a0 real a1 effective a2 saved */
#define FL_OP_SETGROUPS 126 /* a0 count (at most 7) a1.. the groups */
#define FL_OP_CAPDROP 127   /* a0 capability a1 1: from the bounding set too */

/* prctl options of FL_OP_PRCTL: the only ones a scenario may set */
#define FL_PR_NAME 1         /* PR_SET_NAME */
#define FL_PR_DUMPABLE 2     /* PR_SET_DUMPABLE */
#define FL_PR_TIMERSLACK 3   /* PR_SET_TIMERSLACK */
#define FL_PR_NO_NEW_PRIVS 4 /* PR_SET_NO_NEW_PRIVS */
#define FL_OP_ALARM 130     /* a0 seconds */
#define FL_OP_SETITIMER 131 /* a0 which (ITIMER_*) a1 seconds */
#define FL_OP_TIMER_CREATE 132 /* a0 seconds (0: not armed); CLOCK_MONOTONIC, SIGALRM */
#define FL_OP_SIGALTSTACK 133  /* a0 size (0: SS_DISABLE) */
#define FL_OP_FCNTL_LOCK 134   /* a0 fd a1 cmd (F_SETLK, F_OFD_SETLK) a2 type (F_RDLCK...) */
#define FL_OP_FLOCK 135     /* a0 fd a1 operation (LOCK_SH, LOCK_EX, LOCK_UN; LOCK_NB added) */
#define FL_OP_ATEXIT 136    /* data: what the handler prints */

/* sigaction flags (a2 of FL_OP_SIGACTION) */
#define FL_SA_NORESTART 1
#define FL_SA_RESETHAND 2
#define FL_SA_NODEFER 4
#define FL_SA_NOCLDWAIT 8
#define FL_SA_NOCLDSTOP 16

/* program kinds for exec and spawn */
#define FL_PROG_PROBE 0
#define FL_PROG_PROGRAM 1
#define FL_PROG_MISSING 2

/* spawn attribute flags (a1 of FL_OP_SPAWN) */
#define FL_SP_SETSID 1
#define FL_SP_SETPGROUP 2
#define FL_SP_SIGMASK 4
#define FL_SP_SIGDEF 8

#endif
