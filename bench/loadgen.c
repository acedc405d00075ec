/* SPDX-License-Identifier: Apache-2.0 */
/* sx-loadgen: a Prometheus remote-write load generator for benchmarks.
 * It invents node_exporter-like series (about 300 per host, about 10 labels
 * each) and sends T scrapes of them the way a Prometheus remote-write queue
 * does: series are hashed onto C shards, each shard cuts one scrape step of
 * its series into WriteRequests of --batch samples, snappy-compresses them
 * and POSTs them in time order over its own keep-alive connection, so each
 * series' samples arrive in order. Requests are encoded before the clock
 * starts (or by the senders when they would not fit in memory), so what is
 * measured is the server, not the generator. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/resource.h>

#include <curl/curl.h>
#include <snappy-c.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sx-loadgen writes protobuf fixed64 fields with memcpy: little-endian hosts only"
#endif

/* ---- Options ---- */

typedef struct opts {
    const char *url;
    uint32_t series;         /* S */
    uint32_t points;         /* T */
    int64_t interval_ms;     /* scrape interval */
    uint32_t concurrency;    /* C: shards, one connection each */
    uint32_t batch;          /* max samples per WriteRequest */
    int64_t start_ms;        /* timestamp of step 0; 0 means now - T * interval */
    uint64_t seed;
    bool aligned;            /* every host scrapes at the same instant */
    bool histograms;         /* add the opt-in histogram families */
    bool dry_run;            /* encode only, send nothing */
    bool plain_snappy;       /* compress every request instead of patching templates */
    bool verify;             /* check every patched request against a fresh encoding */
    uint32_t threads;        /* encoder threads before the run (0: online CPUs) */
    uint64_t pregen_max_mb;  /* encode everything ahead only below this size */
    uint32_t max_errors;     /* stop after this many failed requests */
    long timeout_s;          /* per request */
    double progress_s;       /* progress line period on stderr; 0 for none */
    struct curl_slist *headers;
    char **tokens;           /* X-Auth-Token per shard, round robin */
    uint32_t ntokens;
} opts_t;

/* ---- Random numbers ---- */

/* splitmix64: one 64-bit word of state per stream, good enough for load
 * and cheap enough that each series can own its own stream, which keeps
 * the values independent of how shards are spread over threads. */
static inline uint64_t rnd_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform integer in [0, n), n > 0 (multiply-shift, no division). */
static inline uint64_t rnd_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rnd_next(s) * n) >> 64);
}

static inline double rnd_unit(uint64_t *s)
{
    return (double)(rnd_next(s) >> 11) * 0x1.0p-53;
}

/* ---- Series template ---- */

/* How a series' value moves from one scrape to the next. The value is kept
 * as an integer n and shown as n / 10^dec (or n * mul when dec is 0), so
 * decimal values look exactly as node_exporter prints them. */
enum kind {
    K_CONST,   /* never changes */
    K_COUNTER, /* n += step * U(0.5, 1.5) */
    K_RARE,    /* n += 1..3 with probability step / 1e6 */
    K_WALK,    /* n += U(-step, step), kept in [lo, hi] */
    K_NOISE,   /* n = U(lo, hi) every scrape (durations) */
    K_CLOCK,   /* n += interval in microseconds, +-1 ms */
    K_BUCKET,  /* cumulative histogram bucket: a share of a total shared by the histogram */
};

/* Label dimensions a family is spread over on each host. */
enum dim {
    D_NONE, D_CPU_MODE, D_CPU, D_CPU_GUEST, D_NETDEV, D_DISK, D_FS,
    D_COLLECTOR, D_QUANTILE, D_HWMON, D_UNAME, D_BUILD,
    D_HANDLER,    /* handler (histogram _sum and _count) */
    D_HANDLER_LE, /* handler x le (histogram _bucket) */
};

typedef struct family {
    const char *name;
    uint8_t dim;    /* enum dim */
    uint8_t kind;   /* enum kind */
    uint8_t dec;    /* decimals */
    uint16_t mul;   /* unit multiplier when dec is 0 (0 means 1) */
    int64_t lo, hi; /* initial value range in units, and walk bounds */
    int64_t step;   /* mean increment, walk amplitude or ppm */
} family_t;

#define NCPU 4
#define KIB 1024
#define PAGE 4096

static const char *const cpu_modes[] = {"idle", "iowait", "irq", "nice",
                                        "softirq", "steal", "system", "user"};
/* Centiseconds per 15 s per CPU for each mode (a moderately busy host). */
static const int64_t cpu_mode_cs[] = {1150, 8, 0, 1, 6, 2, 40, 120};
static const char *const cpu_names[] = {"0", "1", "2", "3"};
static const char *const netdevs[] = {"docker0", "eth0", "eth1", "lo"};
static const char *const disks[] = {"nvme0n1", "sda", "sdb"};
static const char *const fs_rows[][3] = {
    /* device, fstype, mountpoint */
    {"/dev/sda1", "ext4", "/"},
    {"/dev/sda2", "ext4", "/boot"},
    {"/dev/sdb1", "xfs", "/data"},
    {"tmpfs", "tmpfs", "/run"},
    {"tmpfs", "tmpfs", "/dev/shm"},
};
static const char *const collectors[] = {
    "arp", "bcache", "bonding", "conntrack", "cpu", "cpufreq", "diskstats", "edac",
    "entropy", "filefd", "filesystem", "hwmon", "loadavg", "meminfo", "netclass",
    "netdev", "netstat", "sockstat", "stat", "vmstat"};
static const char *const quantiles[] = {"0", "0.25", "0.5", "0.75", "1"};
static const char *const hwmon_sensors[] = {"temp1", "temp2", "temp3", "temp4"};
static const char *const handlers[] = {"/api/v1/query", "/api/v1/query_range",
                                       "/api/v1/series", "/metrics"};
static const char *const les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                  "0.5", "1", "2.5", "5", "10", "+Inf"};
/* Share of the observations at or below each le, in permille. Handler h
 * uses the row shifted by h % 2 buckets (slower handlers), and +Inf is
 * always 1000, so buckets are cumulative and _count equals the +Inf bucket. */
static const int64_t le_permille[] = {30, 80, 200, 380, 560, 760, 880, 945, 985, 995, 999, 1000};
#define NLE (sizeof(les) / sizeof(les[0]))

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* One host's worth of node_exporter output (plus the series Prometheus adds
 * for every target). Values are plausible, not exact: what matters to a
 * storage engine is how they move (constant, small increments, noisy). */
static const family_t families[] = {
    {"node_cpu_seconds_total", D_CPU_MODE, K_COUNTER, 2, 0, 1000000, 500000000, 0},
    {"node_cpu_guest_seconds_total", D_CPU_GUEST, K_CONST, 2, 0, 0, 0, 0},
    {"node_cpu_scaling_frequency_hertz", D_CPU, K_WALK, 0, 1000, 1200000, 3500000, 150000},
    {"node_load1", D_NONE, K_WALK, 2, 0, 0, 800, 40},
    {"node_load5", D_NONE, K_WALK, 2, 0, 0, 800, 15},
    {"node_load15", D_NONE, K_WALK, 2, 0, 0, 800, 5},
    {"node_memory_MemTotal_bytes", D_NONE, K_CONST, 0, KIB, 8000000, 32000000, 0},
    {"node_memory_MemFree_bytes", D_NONE, K_WALK, 0, KIB, 200000, 4000000, 20000},
    {"node_memory_MemAvailable_bytes", D_NONE, K_WALK, 0, KIB, 2000000, 16000000, 20000},
    {"node_memory_Buffers_bytes", D_NONE, K_WALK, 0, KIB, 50000, 900000, 300},
    {"node_memory_Cached_bytes", D_NONE, K_WALK, 0, KIB, 1000000, 9000000, 5000},
    {"node_memory_Active_bytes", D_NONE, K_WALK, 0, KIB, 1000000, 9000000, 4000},
    {"node_memory_Inactive_bytes", D_NONE, K_WALK, 0, KIB, 1000000, 9000000, 4000},
    {"node_memory_Active_anon_bytes", D_NONE, K_WALK, 0, KIB, 500000, 6000000, 3000},
    {"node_memory_Inactive_anon_bytes", D_NONE, K_WALK, 0, KIB, 100000, 2000000, 500},
    {"node_memory_Active_file_bytes", D_NONE, K_WALK, 0, KIB, 500000, 6000000, 3000},
    {"node_memory_Inactive_file_bytes", D_NONE, K_WALK, 0, KIB, 500000, 6000000, 3000},
    {"node_memory_Dirty_bytes", D_NONE, K_WALK, 0, KIB, 0, 20000, 400},
    {"node_memory_Writeback_bytes", D_NONE, K_RARE, 0, KIB, 0, 0, 20000},
    {"node_memory_Slab_bytes", D_NONE, K_WALK, 0, KIB, 200000, 800000, 200},
    {"node_memory_SReclaimable_bytes", D_NONE, K_WALK, 0, KIB, 100000, 600000, 200},
    {"node_memory_SUnreclaim_bytes", D_NONE, K_WALK, 0, KIB, 50000, 200000, 50},
    {"node_memory_Shmem_bytes", D_NONE, K_WALK, 0, KIB, 10000, 400000, 20},
    {"node_memory_Mapped_bytes", D_NONE, K_WALK, 0, KIB, 100000, 900000, 200},
    {"node_memory_AnonPages_bytes", D_NONE, K_WALK, 0, KIB, 500000, 6000000, 3000},
    {"node_memory_PageTables_bytes", D_NONE, K_WALK, 0, KIB, 10000, 90000, 40},
    {"node_memory_KernelStack_bytes", D_NONE, K_WALK, 0, KIB, 8000, 30000, 16},
    {"node_memory_Committed_AS_bytes", D_NONE, K_WALK, 0, KIB, 2000000, 20000000, 6000},
    {"node_memory_CommitLimit_bytes", D_NONE, K_CONST, 0, KIB, 4000000, 16000000, 0},
    {"node_memory_VmallocUsed_bytes", D_NONE, K_WALK, 0, KIB, 20000, 60000, 4},
    {"node_memory_VmallocTotal_bytes", D_NONE, K_CONST, 0, KIB, 34359738367LL, 34359738367LL, 0},
    {"node_memory_SwapTotal_bytes", D_NONE, K_CONST, 0, KIB, 0, 4000000, 0},
    {"node_memory_SwapFree_bytes", D_NONE, K_WALK, 0, KIB, 0, 4000000, 4},
    {"node_memory_SwapCached_bytes", D_NONE, K_RARE, 0, KIB, 0, 1000, 10000},
    {"node_memory_Mlocked_bytes", D_NONE, K_CONST, 0, KIB, 0, 30000, 0},
    {"node_memory_Unevictable_bytes", D_NONE, K_CONST, 0, KIB, 0, 30000, 0},
    {"node_memory_Percpu_bytes", D_NONE, K_CONST, 0, KIB, 2000, 20000, 0},
    {"node_memory_HugePages_Total", D_NONE, K_CONST, 0, 1, 0, 0, 0},
    {"node_memory_Hugepagesize_bytes", D_NONE, K_CONST, 0, KIB, 2048, 2048, 0},
    {"node_memory_DirectMap4k_bytes", D_NONE, K_CONST, 0, KIB, 100000, 900000, 0},
    {"node_memory_DirectMap2M_bytes", D_NONE, K_CONST, 0, KIB, 4000000, 30000000, 0},
    {"node_network_receive_bytes_total", D_NETDEV, K_COUNTER, 0, 1, 1000000, 900000000000LL, 6000000},
    {"node_network_transmit_bytes_total", D_NETDEV, K_COUNTER, 0, 1, 1000000, 900000000000LL, 3000000},
    {"node_network_receive_packets_total", D_NETDEV, K_COUNTER, 0, 1, 10000, 900000000, 5000},
    {"node_network_transmit_packets_total", D_NETDEV, K_COUNTER, 0, 1, 10000, 900000000, 4000},
    {"node_network_receive_errs_total", D_NETDEV, K_RARE, 0, 1, 0, 20, 5000},
    {"node_network_transmit_errs_total", D_NETDEV, K_RARE, 0, 1, 0, 5, 1000},
    {"node_network_receive_drop_total", D_NETDEV, K_RARE, 0, 1, 0, 500, 40000},
    {"node_network_transmit_drop_total", D_NETDEV, K_RARE, 0, 1, 0, 50, 5000},
    {"node_network_receive_multicast_total", D_NETDEV, K_RARE, 0, 1, 0, 90000, 300000},
    {"node_network_up", D_NETDEV, K_CONST, 0, 1, 1, 1, 0},
    {"node_network_carrier", D_NETDEV, K_CONST, 0, 1, 1, 1, 0},
    {"node_network_mtu_bytes", D_NETDEV, K_CONST, 0, 1, 1500, 1500, 0},
    {"node_network_speed_bytes", D_NETDEV, K_CONST, 0, 1, 125000000, 125000000, 0},
    {"node_disk_reads_completed_total", D_DISK, K_COUNTER, 0, 1, 100000, 90000000, 200},
    {"node_disk_reads_merged_total", D_DISK, K_COUNTER, 0, 1, 10000, 9000000, 20},
    {"node_disk_read_bytes_total", D_DISK, K_COUNTER, 0, 1, 1000000000, 900000000000LL, 4000000},
    {"node_disk_read_time_seconds_total", D_DISK, K_COUNTER, 3, 0, 100000, 90000000, 800},
    {"node_disk_writes_completed_total", D_DISK, K_COUNTER, 0, 1, 100000, 90000000, 500},
    {"node_disk_writes_merged_total", D_DISK, K_COUNTER, 0, 1, 10000, 9000000, 100},
    {"node_disk_written_bytes_total", D_DISK, K_COUNTER, 0, 1, 1000000000, 900000000000LL, 10000000},
    {"node_disk_write_time_seconds_total", D_DISK, K_COUNTER, 3, 0, 100000, 90000000, 1500},
    {"node_disk_io_now", D_DISK, K_WALK, 0, 1, 0, 8, 2},
    {"node_disk_io_time_seconds_total", D_DISK, K_COUNTER, 3, 0, 100000, 90000000, 3000},
    {"node_disk_io_time_weighted_seconds_total", D_DISK, K_COUNTER, 3, 0, 100000, 90000000, 5000},
    {"node_disk_discards_completed_total", D_DISK, K_RARE, 0, 1, 0, 5000, 100000},
    {"node_disk_discard_time_seconds_total", D_DISK, K_RARE, 3, 0, 0, 50000, 100000},
    {"node_filesystem_avail_bytes", D_FS, K_WALK, 0, PAGE, 100000, 50000000, 300},
    {"node_filesystem_free_bytes", D_FS, K_WALK, 0, PAGE, 100000, 50000000, 300},
    {"node_filesystem_size_bytes", D_FS, K_CONST, 0, PAGE, 50000000, 100000000, 0},
    {"node_filesystem_files", D_FS, K_CONST, 0, 1, 6000000, 20000000, 0},
    {"node_filesystem_files_free", D_FS, K_WALK, 0, 1, 5000000, 19000000, 50},
    {"node_filesystem_readonly", D_FS, K_CONST, 0, 1, 0, 0, 0},
    {"node_filesystem_device_error", D_FS, K_CONST, 0, 1, 0, 0, 0},
    {"node_vmstat_pgpgin", D_NONE, K_COUNTER, 0, 1, 1000000, 900000000, 20000},
    {"node_vmstat_pgpgout", D_NONE, K_COUNTER, 0, 1, 1000000, 900000000, 40000},
    {"node_vmstat_pswpin", D_NONE, K_RARE, 0, 1, 0, 1000, 2000},
    {"node_vmstat_pswpout", D_NONE, K_RARE, 0, 1, 0, 1000, 2000},
    {"node_vmstat_pgfault", D_NONE, K_COUNTER, 0, 1, 100000000, 90000000000LL, 300000},
    {"node_vmstat_pgmajfault", D_NONE, K_COUNTER, 0, 1, 10000, 9000000, 20},
    {"node_vmstat_oom_kill", D_NONE, K_RARE, 0, 1, 0, 3, 100},
    {"node_netstat_Tcp_ActiveOpens", D_NONE, K_COUNTER, 0, 1, 100000, 900000000, 300},
    {"node_netstat_Tcp_PassiveOpens", D_NONE, K_COUNTER, 0, 1, 100000, 900000000, 200},
    {"node_netstat_Tcp_CurrEstab", D_NONE, K_WALK, 0, 1, 10, 500, 5},
    {"node_netstat_Tcp_InSegs", D_NONE, K_COUNTER, 0, 1, 10000000, 90000000000LL, 30000},
    {"node_netstat_Tcp_OutSegs", D_NONE, K_COUNTER, 0, 1, 10000000, 90000000000LL, 30000},
    {"node_netstat_Tcp_RetransSegs", D_NONE, K_COUNTER, 0, 1, 1000, 9000000, 4},
    {"node_netstat_Udp_InDatagrams", D_NONE, K_COUNTER, 0, 1, 100000, 900000000, 300},
    {"node_netstat_Udp_OutDatagrams", D_NONE, K_COUNTER, 0, 1, 100000, 900000000, 300},
    {"node_netstat_Udp_InErrors", D_NONE, K_RARE, 0, 1, 0, 100, 1000},
    {"node_netstat_TcpExt_ListenDrops", D_NONE, K_RARE, 0, 1, 0, 100, 1000},
    {"node_netstat_TcpExt_ListenOverflows", D_NONE, K_RARE, 0, 1, 0, 100, 1000},
    {"node_netstat_TcpExt_SyncookiesSent", D_NONE, K_CONST, 0, 1, 0, 0, 0},
    {"node_netstat_Icmp_InMsgs", D_NONE, K_COUNTER, 0, 1, 1000, 9000000, 3},
    {"node_netstat_Icmp_OutMsgs", D_NONE, K_COUNTER, 0, 1, 1000, 9000000, 3},
    {"node_netstat_IpExt_InOctets", D_NONE, K_COUNTER, 0, 1, 1000000000, 900000000000LL, 8000000},
    {"node_netstat_IpExt_OutOctets", D_NONE, K_COUNTER, 0, 1, 1000000000, 900000000000LL, 5000000},
    {"node_sockstat_TCP_alloc", D_NONE, K_WALK, 0, 1, 10, 600, 6},
    {"node_sockstat_TCP_inuse", D_NONE, K_WALK, 0, 1, 10, 500, 5},
    {"node_sockstat_TCP_orphan", D_NONE, K_WALK, 0, 1, 0, 10, 1},
    {"node_sockstat_TCP_tw", D_NONE, K_WALK, 0, 1, 0, 900, 20},
    {"node_sockstat_TCP_mem_bytes", D_NONE, K_WALK, 0, PAGE, 1, 900, 10},
    {"node_sockstat_UDP_inuse", D_NONE, K_WALK, 0, 1, 0, 20, 1},
    {"node_sockstat_UDP_mem_bytes", D_NONE, K_WALK, 0, PAGE, 0, 50, 2},
    {"node_sockstat_sockets_used", D_NONE, K_WALK, 0, 1, 100, 2000, 10},
    {"node_context_switches_total", D_NONE, K_COUNTER, 0, 1, 100000000, 900000000000LL, 200000},
    {"node_intr_total", D_NONE, K_COUNTER, 0, 1, 100000000, 900000000000LL, 150000},
    {"node_forks_total", D_NONE, K_COUNTER, 0, 1, 100000, 900000000, 300},
    {"node_procs_running", D_NONE, K_WALK, 0, 1, 1, 12, 3},
    {"node_procs_blocked", D_NONE, K_WALK, 0, 1, 0, 3, 1},
    {"node_boot_time_seconds", D_NONE, K_CONST, 0, 1, 1690000000, 1700000000, 0},
    {"node_time_seconds", D_NONE, K_CLOCK, 6, 0, 0, 0, 0},
    {"node_entropy_available_bits", D_NONE, K_CONST, 0, 1, 256, 256, 0},
    {"node_filefd_allocated", D_NONE, K_WALK, 0, 1, 2000, 20000, 40},
    {"node_filefd_maximum", D_NONE, K_CONST, 0, 1, 9223372036854775807LL, 9223372036854775807LL, 0},
    {"node_nf_conntrack_entries", D_NONE, K_WALK, 0, 1, 100, 20000, 60},
    {"node_nf_conntrack_entries_limit", D_NONE, K_CONST, 0, 1, 262144, 262144, 0},
    {"node_timex_offset_seconds", D_NONE, K_NOISE, 9, 0, 0, 900000, 0},
    {"node_timex_sync_status", D_NONE, K_CONST, 0, 1, 1, 1, 0},
    {"node_hwmon_temp_celsius", D_HWMON, K_WALK, 0, 1, 35, 80, 1},
    {"node_hwmon_temp_crit_celsius", D_HWMON, K_CONST, 0, 1, 100, 100, 0},
    {"node_uname_info", D_UNAME, K_CONST, 0, 1, 1, 1, 0},
    {"node_exporter_build_info", D_BUILD, K_CONST, 0, 1, 1, 1, 0},
    {"node_textfile_scrape_error", D_NONE, K_CONST, 0, 1, 0, 0, 0},
    {"node_scrape_collector_duration_seconds", D_COLLECTOR, K_NOISE, 9, 0, 20000, 40000000, 0},
    {"node_scrape_collector_success", D_COLLECTOR, K_CONST, 0, 1, 1, 1, 0},
    {"go_goroutines", D_NONE, K_WALK, 0, 1, 6, 12, 1},
    {"go_threads", D_NONE, K_CONST, 0, 1, 6, 12, 0},
    {"go_memstats_alloc_bytes", D_NONE, K_WALK, 0, 1, 2000000, 6000000, 200000},
    {"go_memstats_heap_inuse_bytes", D_NONE, K_WALK, 0, 8192, 300, 900, 30},
    {"go_memstats_sys_bytes", D_NONE, K_CONST, 0, KIB, 10000, 20000, 0},
    {"go_gc_duration_seconds", D_QUANTILE, K_NOISE, 9, 0, 10000, 900000, 0},
    {"go_gc_duration_seconds_sum", D_NONE, K_COUNTER, 9, 0, 1000000000, 90000000000LL, 2000000},
    {"go_gc_duration_seconds_count", D_NONE, K_COUNTER, 0, 1, 1000, 900000, 3},
    {"process_cpu_seconds_total", D_NONE, K_COUNTER, 2, 0, 10000, 9000000, 4},
    {"process_resident_memory_bytes", D_NONE, K_WALK, 0, PAGE, 4000, 9000, 40},
    {"process_virtual_memory_bytes", D_NONE, K_CONST, 0, PAGE, 180000, 200000, 0},
    {"process_open_fds", D_NONE, K_WALK, 0, 1, 8, 12, 1},
    {"process_max_fds", D_NONE, K_CONST, 0, 1, 1048576, 1048576, 0},
    {"process_start_time_seconds", D_NONE, K_CONST, 2, 0, 169000000000LL, 170000000000LL, 0},
    {"up", D_NONE, K_CONST, 0, 1, 1, 1, 0},
    {"scrape_duration_seconds", D_NONE, K_NOISE, 9, 0, 5000000, 60000000, 0},
    {"scrape_samples_scraped", D_NONE, K_CONST, 0, 1, 0, 0, 0},
    {"scrape_samples_post_metric_relabeling", D_NONE, K_CONST, 0, 1, 0, 0, 0},
    {"scrape_series_added", D_NONE, K_CONST, 0, 1, 0, 0, 0},
};

/* With --histograms, each host also has a classic histogram, as an
 * instrumented HTTP server exports it (for histogram_quantile in the query
 * benchmark). They come after the families above, so hosts keep those
 * series, labels and starting values. */
static const family_t hist_families[] = {
    {"http_request_duration_seconds_bucket", D_HANDLER_LE, K_BUCKET, 0, 1, 10000, 9000000, 300},
    {"http_request_duration_seconds_sum", D_HANDLER, K_COUNTER, 3, 0, 100000, 900000000, 60000},
    {"http_request_duration_seconds_count", D_HANDLER, K_BUCKET, 0, 1, 10000, 9000000, 300},
};

/* Family f of a host: the node_exporter ones, then with --histograms the
 * histogram ones. */
static size_t family_count(bool histograms)
{
    return NELEM(families) + (histograms ? NELEM(hist_families) : 0);
}

static const family_t *family_at(size_t f)
{
    return f < NELEM(families) ? &families[f] : &hist_families[f - NELEM(families)];
}

static const double pow10_tab[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* Number of label combinations (series) a dimension yields on one host. */
static uint32_t dim_count(int dim)
{
    switch (dim) {
    case D_CPU_MODE: return NCPU * NELEM(cpu_modes);
    case D_CPU: return NCPU;
    case D_CPU_GUEST: return NCPU * 2;
    case D_NETDEV: return NELEM(netdevs);
    case D_DISK: return NELEM(disks);
    case D_FS: return NELEM(fs_rows);
    case D_COLLECTOR: return NELEM(collectors);
    case D_QUANTILE: return NELEM(quantiles);
    case D_HWMON: return NELEM(hwmon_sensors);
    case D_HANDLER: return NELEM(handlers);
    case D_HANDLER_LE: return NELEM(handlers) * NLE;
    default: return 1;
    }
}

typedef struct label {
    const char *name;
    const char *value;
} label_t;

#define MAX_LABELS 24

/* Append the labels of combination idx of a dimension to ls[*n]. The
 * strings are static, or host-independent, so nothing is allocated. */
static void dim_labels(int dim, uint32_t idx, label_t *ls, uint32_t *n)
{
    switch (dim) {
    case D_CPU_MODE:
        ls[(*n)++] = (label_t){"cpu", cpu_names[idx / NELEM(cpu_modes)]};
        ls[(*n)++] = (label_t){"mode", cpu_modes[idx % NELEM(cpu_modes)]};
        break;
    case D_CPU:
        ls[(*n)++] = (label_t){"cpu", cpu_names[idx]};
        break;
    case D_CPU_GUEST:
        ls[(*n)++] = (label_t){"cpu", cpu_names[idx / 2]};
        ls[(*n)++] = (label_t){"mode", idx % 2 ? "user" : "nice"};
        break;
    case D_NETDEV:
        ls[(*n)++] = (label_t){"device", netdevs[idx]};
        break;
    case D_DISK:
        ls[(*n)++] = (label_t){"device", disks[idx]};
        break;
    case D_FS:
        ls[(*n)++] = (label_t){"device", fs_rows[idx][0]};
        ls[(*n)++] = (label_t){"fstype", fs_rows[idx][1]};
        ls[(*n)++] = (label_t){"mountpoint", fs_rows[idx][2]};
        break;
    case D_COLLECTOR:
        ls[(*n)++] = (label_t){"collector", collectors[idx]};
        break;
    case D_QUANTILE:
        ls[(*n)++] = (label_t){"quantile", quantiles[idx]};
        break;
    case D_HWMON:
        ls[(*n)++] = (label_t){"chip", "platform_coretemp_0"};
        ls[(*n)++] = (label_t){"sensor", hwmon_sensors[idx]};
        break;
    case D_HANDLER:
        ls[(*n)++] = (label_t){"handler", handlers[idx]};
        break;
    case D_HANDLER_LE:
        ls[(*n)++] = (label_t){"handler", handlers[idx / NLE]};
        ls[(*n)++] = (label_t){"le", les[idx % NLE]};
        break;
    case D_UNAME:
        ls[(*n)++] = (label_t){"domainname", "(none)"};
        ls[(*n)++] = (label_t){"machine", "x86_64"};
        ls[(*n)++] = (label_t){"release", "6.1.0-18-amd64"};
        ls[(*n)++] = (label_t){"sysname", "Linux"};
        ls[(*n)++] = (label_t){"version", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"};
        break;
    case D_BUILD:
        ls[(*n)++] = (label_t){"branch", "debian/sid"};
        ls[(*n)++] = (label_t){"goversion", "go1.19.8"};
        ls[(*n)++] = (label_t){"revision", "1.5.0-1"};
        ls[(*n)++] = (label_t){"version", "1.5.0"};
        break;
    default:
        break;
    }
}

/* ---- Generator state ---- */

typedef struct series {
    uint32_t lab_off;  /* encoded Label messages in gen.labels */
    uint32_t lab_len;
    int32_t ts_off;    /* ms: the host's scrape offset within the interval */
    uint8_t kind;      /* enum kind */
    uint8_t dec;
    uint16_t mul;
    int64_t n;         /* current value in units */
    int64_t lo, hi;    /* walk and noise bounds; K_BUCKET: hi is the share in permille */
    int64_t step;
    uint64_t rng;
} series_t;

typedef struct blob {
    char *ptr;
    size_t len, cap;
} blob_t;

typedef struct request {
    char *data;        /* snappy-compressed WriteRequest; NULL until encoded */
    uint32_t len;
    uint32_t nsamples;
} request_t;

/* A request slot's compressed stream with holes (see "Snappy templates"). */
typedef struct tmpl {
    char *z;           /* snappy block with placeholder values */
    size_t zlen;
    size_t raw_len;    /* its uncompressed length */
    uint32_t *starts;  /* per sample: offset in z of value, 0x10, timestamp */
} tmpl_t;

typedef struct shard {
    uint32_t *ids;     /* series of this shard, in scrape order */
    uint32_t nids;
    uint32_t nbatches; /* requests per step */
    request_t *reqs;   /* [step * nbatches + batch] */
    tmpl_t *tmpl;      /* [batch] */
    char *raw;         /* scratch: uncompressed encoding */
    char *zbuf;        /* scratch: compressed encoding */
    char *zcheck;      /* scratch: --verify decoding, template literals */
    uint8_t *hole;     /* scratch: template hole map */
    double *vals;      /* scratch: one batch of values */
    size_t raw_cap, z_cap;
} shard_t;

typedef struct gen {
    opts_t o;
    series_t *series;
    blob_t labels;
    uint32_t max_lab_len;
    uint32_t node_series; /* series whose name starts with node_ */
    uint64_t nlabels;     /* labels over all series, for the average */
    uint32_t per_host;
    shard_t *shards;
    bool use_tmpl;        /* patch templates instead of compressing each request */
    size_t ts_var_bytes;  /* low timestamp varint bytes that change during the run */
} gen_t;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "sx-loadgen: out of memory (%zu bytes)\n", n);
        exit(3);
    }
    return p;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        fprintf(stderr, "sx-loadgen: out of memory\n");
        exit(3);
    }
    return p;
}

static char *blob_reserve(blob_t *b, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 20;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->ptr, cap);
        if (!p) {
            fprintf(stderr, "sx-loadgen: out of memory\n");
            exit(3);
        }
        b->ptr = p;
        b->cap = cap;
    }
    return b->ptr + b->len;
}

static inline char *put_uvarint(char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (char)v;
    return p;
}

static size_t uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const label_t *)a)->name, ((const label_t *)b)->name);
}

/* Append the prompb Label messages (field 1 of TimeSeries) of a label set
 * to the blob, sorted by name as remote write requires. Returns the
 * encoded length. */
static uint32_t encode_labels(blob_t *b, label_t *ls, uint32_t n)
{
    qsort(ls, n, sizeof(*ls), label_cmp);
    size_t start = b->len;
    for (uint32_t i = 0; i < n; i++) {
        size_t nl = strlen(ls[i].name), vl = strlen(ls[i].value);
        size_t msg = 1 + uvarint_len(nl) + nl + 1 + uvarint_len(vl) + vl;
        char *p = blob_reserve(b, msg + 12);
        *p++ = 0x0a;
        p = put_uvarint(p, msg);
        *p++ = 0x0a;
        p = put_uvarint(p, nl);
        memcpy(p, ls[i].name, nl);
        p += nl;
        *p++ = 0x12;
        p = put_uvarint(p, vl);
        memcpy(p, ls[i].value, vl);
        p += vl;
        b->len = (size_t)(p - b->ptr);
    }
    return (uint32_t)(b->len - start);
}

static uint32_t host_series_count(bool histograms)
{
    uint32_t n = 0;
    for (size_t f = 0; f < family_count(histograms); f++)
        n += dim_count(family_at(f)->dim);
    return n;
}

/* Create the S series: host after host, family after family, each host
 * with its own common labels, scrape offset and random starting values.
 * Deterministic for a given seed, S and interval. */
static void gen_build_series(gen_t *g)
{
    static const char *const regions[] = {"eu-west-1", "us-east-1", "ap-southeast-2"};
    static const char *const teams[] = {"core", "data", "edge", "payments", "search", "storage"};
    static const char *const envs[] = {"prod", "prod", "prod", "prod", "prod",
                                       "prod", "prod", "staging", "staging", "dev"};
    const opts_t *o = &g->o;
    g->per_host = host_series_count(o->histograms);
    g->series = xcalloc(o->series, sizeof(series_t));
    uint32_t id = 0;
    char instance[32], az[32], cluster[32], rack[32];
    for (uint32_t host = 0; id < o->series; host++) {
        uint64_t hrng = o->seed ^ (0x51ed2701ULL * (host + 1));
        snprintf(instance, sizeof(instance), "host-%04u:9100", host);
        const char *region = regions[host % NELEM(regions)];
        snprintf(az, sizeof(az), "%s%c", region, 'a' + (int)(host / 3 % 3));
        snprintf(cluster, sizeof(cluster), "k8s-%02u", host / 64);
        snprintf(rack, sizeof(rack), "r%03u", host / 16);
        int32_t ts_off = o->aligned ? 0 : (int32_t)rnd_below(&hrng, (uint64_t)o->interval_ms);
        for (size_t f = 0; f < family_count(o->histograms) && id < o->series; f++) {
            const family_t *fam = family_at(f);
            uint32_t combos = dim_count(fam->dim);
            for (uint32_t c = 0; c < combos && id < o->series; c++, id++) {
                label_t ls[MAX_LABELS];
                uint32_t n = 0;
                ls[n++] = (label_t){"__name__", fam->name};
                ls[n++] = (label_t){"job", "node"};
                ls[n++] = (label_t){"instance", instance};
                ls[n++] = (label_t){"env", envs[host % NELEM(envs)]};
                ls[n++] = (label_t){"region", region};
                ls[n++] = (label_t){"availability_zone", az};
                ls[n++] = (label_t){"cluster", cluster};
                ls[n++] = (label_t){"rack", rack};
                ls[n++] = (label_t){"team", teams[host / 8 % NELEM(teams)]};
                dim_labels(fam->dim, c, ls, &n);

                series_t *s = &g->series[id];
                s->lab_off = (uint32_t)g->labels.len;
                s->lab_len = encode_labels(&g->labels, ls, n);
                g->nlabels += n;
                if (s->lab_len > g->max_lab_len)
                    g->max_lab_len = s->lab_len;
                if (strncmp(fam->name, "node_", 5) == 0)
                    g->node_series++;
                s->ts_off = ts_off;
                s->kind = fam->kind;
                s->dec = fam->dec;
                s->mul = fam->mul ? fam->mul : 1;
                s->rng = o->seed * 0x9e3779b97f4a7c15ULL + id + 1;
                s->lo = fam->lo;
                s->hi = fam->hi;
                s->step = fam->step;
                uint64_t span = (uint64_t)(fam->hi - fam->lo) + 1;
                s->n = fam->lo + (span ? (int64_t)rnd_below(&hrng, span) : 0);
                if (fam->dim == D_CPU_MODE) /* modes add up to the interval */
                    s->step = cpu_mode_cs[c % NELEM(cpu_modes)] * o->interval_ms / 15000;
                else if (s->kind == K_COUNTER && s->step > 0)
                    s->step = (int64_t)((double)s->step * (0.25 + 1.5 * rnd_unit(&hrng))) + 1;
                if (s->kind == K_WALK && s->hi <= s->lo)
                    s->kind = K_CONST; /* no room to walk */
                if (s->kind == K_CLOCK) {
                    s->step = o->interval_ms * 1000;
                    s->n = (o->start_ms + ts_off) * 1000;
                }
                if (strncmp(fam->name, "scrape_samples_", 15) == 0)
                    s->n = g->per_host;
                if (s->kind == K_BUCKET) {
                    /* Every bucket of one (host, handler) and its _count
                     * draw the same random total: same seed, one draw per
                     * scrape. The value is floor(total * share / 1000),
                     * monotonic in le and in time. */
                    uint32_t h = fam->dim == D_HANDLER_LE ? c / (uint32_t)NLE : c;
                    uint32_t b = fam->dim == D_HANDLER_LE ? c % (uint32_t)NLE : (uint32_t)NLE - 1;
                    uint32_t shifted = b + h % 2 < NLE ? b + h % 2 : (uint32_t)NLE - 1;
                    s->hi = b == NLE - 1 ? 1000 : le_permille[shifted];
                    s->rng = (o->seed * 0x9e3779b97f4a7c15ULL) ^ 0xb0c4e70000000000ULL ^
                             ((uint64_t)host << 8) ^ h;
                    uint64_t r = s->rng;
                    s->n = fam->lo + (int64_t)rnd_below(&r, (uint64_t)(fam->hi - fam->lo) + 1);
                    s->step = fam->step;
                }
            }
        }
    }
}

/* Advance a series by one scrape and return its new value. */
static inline double series_next(series_t *s)
{
    switch (s->kind) {
    case K_COUNTER:
        if (s->step)
            s->n += s->step / 2 + (int64_t)rnd_below(&s->rng, (uint64_t)s->step + 1);
        break;
    case K_RARE:
        if (rnd_below(&s->rng, 1000000) < (uint64_t)s->step)
            s->n += 1 + (int64_t)rnd_below(&s->rng, 3);
        break;
    case K_WALK:
        s->n += (int64_t)rnd_below(&s->rng, 2 * (uint64_t)s->step + 1) - s->step;
        if (s->n < s->lo)
            s->n = s->lo;
        if (s->n > s->hi)
            s->n = s->hi;
        break;
    case K_NOISE:
        s->n = s->lo + (int64_t)rnd_below(&s->rng, (uint64_t)(s->hi - s->lo) + 1);
        break;
    case K_CLOCK:
        s->n += s->step + (int64_t)rnd_below(&s->rng, 2001) - 1000;
        break;
    case K_BUCKET:
        s->n += s->step / 2 + (int64_t)rnd_below(&s->rng, (uint64_t)s->step + 1);
        return (double)(s->n * s->hi / 1000);
    default:
        break;
    }
    return s->dec ? (double)s->n / pow10_tab[s->dec] : (double)s->n * s->mul;
}

/* ---- Encoding ---- */

/* Hash series onto shards as Prometheus' queue manager does (by series, so
 * one series always goes through the same connection, in order), then size
 * each shard's scratch buffers and request table. */
static void gen_build_shards(gen_t *g)
{
    const opts_t *o = &g->o;
    uint32_t C = o->concurrency;
    g->shards = xcalloc(C, sizeof(shard_t));
    uint32_t *count = xcalloc(C, sizeof(uint32_t));
    uint32_t *w32 = xmalloc(o->series * sizeof(uint32_t));
    for (uint32_t i = 0; i < o->series; i++) {
        uint64_t h = o->seed ^ ((uint64_t)i << 20);
        w32[i] = (uint32_t)rnd_below(&h, C);
        count[w32[i]]++;
    }
    for (uint32_t k = 0; k < C; k++) {
        shard_t *sh = &g->shards[k];
        sh->ids = xmalloc((count[k] ? count[k] : 1) * sizeof(uint32_t));
        sh->nbatches = (count[k] + o->batch - 1) / o->batch;
        sh->reqs = xcalloc((size_t)sh->nbatches * o->points, sizeof(request_t));
        sh->tmpl = xcalloc(sh->nbatches ? sh->nbatches : 1, sizeof(tmpl_t));
        sh->raw_cap = (size_t)o->batch * (g->max_lab_len + 40) + 64;
        sh->raw = xmalloc(sh->raw_cap);
        sh->z_cap = snappy_max_compressed_length(sh->raw_cap) + (size_t)o->batch * 8 + 64;
        sh->zbuf = xmalloc(sh->z_cap);
        sh->zcheck = xmalloc(sh->raw_cap);
        sh->vals = xmalloc((size_t)o->batch * sizeof(double));
        sh->hole = xmalloc(sh->raw_cap);
    }
    for (uint32_t i = 0; i < o->series; i++) {
        shard_t *sh = &g->shards[w32[i]];
        sh->ids[sh->nids++] = i;
    }
    free(w32);
    free(count);
}

/* Write the uncompressed prompb.WriteRequest for series ids[0..n) with
 * values vals[] at scrape step_ts into raw; returns its length. With
 * omit_zero, a value of +0 is left out as Prometheus' proto3 encoder does;
 * without, every sample has the same layout, which templates rely on. With
 * hole non-NULL (zeroed by the caller), marks per sample the bytes that
 * may change from step to step: the value
 * (unless the series is constant), the timestamp tag between them, and the
 * low g->ts_var_bytes bytes of the timestamp; 2 on the first, 1 on the
 * others. */
static size_t encode_raw(const gen_t *g, const uint32_t *ids, uint32_t n, const double *vals,
                         int64_t step_ts, char *raw, uint8_t *hole, bool omit_zero)
{
    const char *labels = g->labels.ptr;
    char *p = raw;
    for (uint32_t i = 0; i < n; i++) {
        const series_t *s = &g->series[ids[i]];
        uint64_t ts = (uint64_t)(step_ts + s->ts_off);
        bool has_value = !omit_zero || vals[i] != 0 || signbit(vals[i]);
        size_t sample_len = (has_value ? 9 : 0) + 1 + uvarint_len(ts);
        *p++ = 0x0a;
        p = put_uvarint(p, s->lab_len + 2 + sample_len);
        memcpy(p, labels + s->lab_off, s->lab_len);
        p += s->lab_len;
        *p++ = 0x12;
        *p++ = (char)sample_len;
        if (has_value) {
            *p++ = 0x09;
            if (hole) {
                size_t from = s->kind == K_CONST ? 9 : 0, to = 9 + g->ts_var_bytes;
                memset(hole + (p - raw) + from, 1, to - from);
                hole[(p - raw) + from] = 2;
            }
            memcpy(p, &vals[i], 8);
            p += 8;
        }
        *p++ = 0x10;
        p = put_uvarint(p, ts);
    }
    return (size_t)(p - raw);
}

/* The current value of a series, without advancing it. */
static inline double series_value(const series_t *s)
{
    if (s->kind == K_BUCKET)
        return (double)(s->n * s->hi / 1000);
    return s->dec ? (double)s->n / pow10_tab[s->dec] : (double)s->n * s->mul;
}

/* ---- Snappy templates ----
 * Labels are most of a request and never change, so each request slot
 * (shard, batch) is compressed once with libsnappy, and every step only
 * copies that stream and patches values and timestamps in. For that, the
 * libsnappy stream is rewritten so that the bytes that change are always
 * literal bytes in the stream, and no copy reads from them: copies that
 * touch them are split, the touched bytes becoming literals. The result is
 * still a valid snappy block (copy offsets are relative, so any element
 * sequence that reproduces the bytes is), and it decodes to exactly what
 * encode_raw writes for the patched values. */

static size_t emit_literal_hdr(char *w, size_t n)
{
    size_t m = n - 1;
    if (m < 60) {
        w[0] = (char)(m << 2);
        return 1;
    }
    size_t nb = m < 256 ? 1 : m < 65536 ? 2 : m < (1u << 24) ? 3 : 4;
    w[0] = (char)((59 + nb) << 2);
    for (size_t i = 0; i < nb; i++)
        w[1 + i] = (char)(m >> (8 * i));
    return 1 + nb;
}

static void emit_copy(blob_t *out, size_t off, size_t len)
{
    while (len > 0) {
        size_t n = len >= 68 ? 64 : len > 64 ? 60 : len;
        char *w = blob_reserve(out, 5);
        if (n >= 4 && n <= 11 && off < 2048) {
            w[0] = (char)(1 | ((n - 4) << 2) | ((off >> 8) << 5));
            w[1] = (char)off;
            out->len += 2;
        } else if (off < 65536) {
            w[0] = (char)(2 | ((n - 1) << 2));
            w[1] = (char)off;
            w[2] = (char)(off >> 8);
            out->len += 3;
        } else {
            w[0] = (char)(3 | ((n - 1) << 2));
            for (int i = 0; i < 4; i++)
                w[1 + i] = (char)(off >> (8 * i));
            out->len += 5;
        }
        len -= n;
    }
}

typedef struct rewriter {
    blob_t *out;
    const char *raw;
    const uint8_t *hole;
    char *lit;          /* pending literal bytes */
    size_t nlit;
    uint32_t *starts;   /* OUT: stream offset of each patch region */
    uint32_t nstarts;
    uint32_t pend_from; /* first of starts[] whose offset is literal-relative */
} rewriter_t;

static void rw_flush(rewriter_t *rw)
{
    if (!rw->nlit)
        return;
    char *w = blob_reserve(rw->out, rw->nlit + 5);
    size_t h = emit_literal_hdr(w, rw->nlit);
    memcpy(w + h, rw->lit, rw->nlit);
    size_t data = rw->out->len + h;
    for (uint32_t i = rw->pend_from; i < rw->nstarts; i++)
        rw->starts[i] += (uint32_t)data;
    rw->pend_from = rw->nstarts;
    rw->out->len += h + rw->nlit;
    rw->nlit = 0;
}

static inline void rw_literal(rewriter_t *rw, size_t pos)
{
    if (rw->hole[pos] == 2)
        rw->starts[rw->nstarts++] = (uint32_t)rw->nlit;
    rw->lit[rw->nlit++] = rw->raw[pos];
}

/* Rewrite libsnappy's block z (of raw, raw_len bytes) into out as
 * described above; starts[] receives, per sample, the offset in out of its
 * patch region. Returns false if z is not a block we understand. */
static bool tmpl_rewrite(const char *raw, size_t raw_len, const uint8_t *hole, const char *z,
                         size_t zlen, blob_t *out, uint32_t *starts, char *litbuf)
{
    const uint8_t *in = (const uint8_t *)z;
    size_t ip = 0, pos = 0;
    uint64_t ulen = 0;
    for (int shift = 0; ip < zlen; shift += 7) {
        ulen |= (uint64_t)(in[ip] & 0x7f) << shift;
        if (!(in[ip++] & 0x80))
            break;
    }
    if (ulen != raw_len)
        return false;
    out->len = 0;
    char *w = blob_reserve(out, 10);
    out->len = (size_t)(put_uvarint(w, raw_len) - w);
    rewriter_t rw = {.out = out, .raw = raw, .hole = hole, .lit = litbuf, .starts = starts};
    while (ip < zlen) {
        uint8_t tag = in[ip];
        size_t len, off;
        if ((tag & 3) == 0) {
            len = (size_t)(tag >> 2) + 1;
            ip++;
            if (len > 60) {
                size_t nb = len - 60;
                len = 0;
                for (size_t i = 0; i < nb; i++)
                    len |= (size_t)in[ip + i] << (8 * i);
                len += 1;
                ip += nb;
            }
            if (pos + len > raw_len || ip + len > zlen)
                return false;
            for (size_t i = 0; i < len; i++)
                rw_literal(&rw, pos + i);
            ip += len;
            pos += len;
            continue;
        }
        if ((tag & 3) == 1) {
            len = (size_t)((tag >> 2) & 7) + 4;
            off = ((size_t)(tag >> 5) << 8) | in[ip + 1];
            ip += 2;
        } else if ((tag & 3) == 2) {
            len = (size_t)(tag >> 2) + 1;
            off = in[ip + 1] | (size_t)in[ip + 2] << 8;
            ip += 3;
        } else {
            len = (size_t)(tag >> 2) + 1;
            off = in[ip + 1] | (size_t)in[ip + 2] << 8 | (size_t)in[ip + 3] << 16 |
                  (size_t)in[ip + 4] << 24;
            ip += 5;
        }
        if (off == 0 || off > pos || pos + len > raw_len)
            return false;
        /* Split into runs whose source and destination are both fixed
         * bytes (kept as copies when 4 bytes or longer) and the rest. */
        size_t i = 0;
        while (i < len) {
            size_t j = i;
            while (j < len && !hole[pos + j] && !hole[pos + j - off])
                j++;
            if (j - i >= 4) {
                rw_flush(&rw);
                emit_copy(out, off, j - i);
            } else {
                for (size_t k = i; k < j; k++)
                    rw_literal(&rw, pos + k);
            }
            while (j < len && (hole[pos + j] || hole[pos + j - off]))
                rw_literal(&rw, pos + j++);
            i = j;
        }
        pos += len;
    }
    rw_flush(&rw);
    return pos == raw_len;
}

/* Build the template of every request slot of a shard. Values in the
 * template are placeholders (random bytes, as real values look to a
 * compressor); timestamps are those of step 0. Returns false if a
 * template could not be built (then requests are compressed one by one). */
static bool shard_build_templates(gen_t *g, shard_t *sh)
{
    const opts_t *o = &g->o;
    blob_t out = {0};
    char *z = xmalloc(sh->z_cap);
    uint64_t rng = o->seed ^ 0x7e3a1e5ULL;
    bool ok = true;
    for (uint32_t b = 0; b < sh->nbatches && ok; b++) {
        uint32_t from = b * o->batch;
        uint32_t n = from + o->batch < sh->nids ? o->batch : sh->nids - from;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t r = rnd_next(&rng);
            memcpy(&sh->vals[i], &r, 8);
            if (g->series[sh->ids[from + i]].kind == K_CONST)
                sh->vals[i] = series_value(&g->series[sh->ids[from + i]]);
        }
        memset(sh->hole, 0, sh->raw_cap);
        size_t raw_len =
            encode_raw(g, sh->ids + from, n, sh->vals, o->start_ms, sh->raw, sh->hole, false);
        size_t zlen = sh->z_cap;
        tmpl_t *tm = &sh->tmpl[b];
        tm->starts = xmalloc(n * sizeof(uint32_t));
        ok = snappy_compress(sh->raw, raw_len, z, &zlen) == SNAPPY_OK &&
             tmpl_rewrite(sh->raw, raw_len, sh->hole, z, zlen, &out, tm->starts, sh->zcheck);
        ok = ok && out.len <= sh->z_cap; /* encode_request copies it into zbuf */
        if (ok) {
            tm->z = xmalloc(out.len);
            memcpy(tm->z, out.ptr, out.len);
            tm->zlen = out.len;
            tm->raw_len = raw_len;
        }
    }
    free(out.ptr);
    free(z);
    return ok;
}

/* Encode request (step, batch) of a shard into sh->zbuf and return its
 * compressed length (*raw_len: uncompressed). Each call advances the
 * series it covers by one scrape, so a shard's requests must be encoded in
 * (step, batch) order and by one thread at a time. With --verify, the
 * patched template is checked against a fresh encoding. */
static size_t encode_request(gen_t *g, shard_t *sh, uint32_t step, uint32_t batch,
                             uint32_t *nsamples, size_t *raw_len)
{
    const opts_t *o = &g->o;
    uint32_t from = batch * o->batch;
    uint32_t n = from + o->batch < sh->nids ? o->batch : sh->nids - from;
    const uint32_t *ids = sh->ids + from;
    int64_t step_ts = o->start_ms + (int64_t)step * o->interval_ms;
    *nsamples = n;
    if (g->use_tmpl) {
        const tmpl_t *tm = &sh->tmpl[batch];
        char *z = sh->zbuf;
        memcpy(z, tm->z, tm->zlen);
        size_t tsb = g->ts_var_bytes;
        for (uint32_t i = 0; i < n; i++) {
            series_t *s = &g->series[ids[i]];
            char *p = z + tm->starts[i];
            char ts[10];
            put_uvarint(ts, (uint64_t)(step_ts + s->ts_off));
            double v = series_next(s);
            if (s->kind != K_CONST) {
                memcpy(p, &v, 8);
                p += 9;
            }
            memcpy(p, ts, tsb);
            if (o->verify)
                sh->vals[i] = v;
        }
        *raw_len = tm->raw_len;
        if (o->verify) {
            size_t want = encode_raw(g, ids, n, sh->vals, step_ts, sh->raw, NULL, false);
            size_t got = sh->raw_cap;
            if (want != tm->raw_len ||
                snappy_uncompress(z, tm->zlen, sh->zcheck, &got) != SNAPPY_OK || got != want ||
                memcmp(sh->zcheck, sh->raw, want) != 0) {
                fprintf(stderr, "sx-loadgen: BUG: template of step %u batch %u decodes wrong\n",
                        step, batch);
                exit(3);
            }
        }
        return tm->zlen;
    }
    for (uint32_t i = 0; i < n; i++)
        sh->vals[i] = series_next(&g->series[ids[i]]);
    *raw_len = encode_raw(g, ids, n, sh->vals, step_ts, sh->raw, NULL, true);
    size_t zlen = sh->z_cap;
    if (snappy_compress(sh->raw, *raw_len, sh->zbuf, &zlen) != SNAPPY_OK) {
        fprintf(stderr, "sx-loadgen: snappy_compress failed\n");
        exit(3);
    }
    return zlen;
}

/* Decide between templates and plain compression, and build templates.
 * Templates need every timestamp of the run to take as many varint bytes
 * as those of step 0 (true unless the run crosses a power of 2^7 ms). */
static void gen_prepare_encoding(gen_t *g)
{
    const opts_t *o = &g->o;
    uint64_t first = (uint64_t)o->start_ms;
    uint64_t last = (uint64_t)(o->start_ms + (int64_t)o->points * o->interval_ms + o->interval_ms);
    g->use_tmpl = !o->plain_snappy && uvarint_len(first) == uvarint_len(last);
    /* Varint byte i is the same for every timestamp in [first, last] when
     * first and last agree on all bits from 7 * i up. */
    g->ts_var_bytes = 1;
    while (g->ts_var_bytes < uvarint_len(last) &&
           (first >> (7 * g->ts_var_bytes)) != (last >> (7 * g->ts_var_bytes)))
        g->ts_var_bytes++;
    for (uint32_t k = 0; k < o->concurrency && g->use_tmpl; k++)
        if (!shard_build_templates(g, &g->shards[k]))
            g->use_tmpl = false;
    if (!o->plain_snappy && !g->use_tmpl)
        fprintf(stderr, "sx-loadgen: note: compressing every request with snappy_compress\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- Encoding ahead of the run ---- */

typedef struct pregen_job {
    gen_t *g;
    uint32_t first, stride; /* shards first, first + stride, ... */
    uint32_t steps;         /* encode steps [0, steps) */
    uint32_t from_step;
    uint64_t bytes;         /* OUT: compressed bytes produced */
    uint64_t raw_bytes;     /* OUT: uncompressed bytes */
    uint64_t samples;       /* OUT */
    bool keep;              /* store the requests (false: dry run) */
} pregen_job_t;

static void *pregen_main(void *arg)
{
    pregen_job_t *j = arg;
    gen_t *g = j->g;
    for (uint32_t k = j->first; k < g->o.concurrency; k += j->stride) {
        shard_t *sh = &g->shards[k];
        for (uint32_t t = j->from_step; t < j->steps; t++) {
            for (uint32_t b = 0; b < sh->nbatches; b++) {
                uint32_t ns;
                size_t raw;
                size_t zlen = encode_request(g, sh, t, b, &ns, &raw);
                j->bytes += zlen;
                j->raw_bytes += raw;
                j->samples += ns;
                if (j->keep) {
                    request_t *r = &sh->reqs[(size_t)t * sh->nbatches + b];
                    r->data = xmalloc(zlen);
                    memcpy(r->data, sh->zbuf, zlen);
                    r->len = (uint32_t)zlen;
                    r->nsamples = ns;
                }
            }
        }
    }
    return NULL;
}

/* Encode steps [from, to) of every shard with nthreads threads. Returns
 * the compressed bytes produced; *samples gets the sample count. */
static uint64_t pregen_run(gen_t *g, uint32_t from, uint32_t to, uint32_t nthreads, bool keep,
                           uint64_t *samples, uint64_t *raw_bytes)
{
    if (nthreads > g->o.concurrency)
        nthreads = g->o.concurrency;
    if (nthreads == 0)
        nthreads = 1;
    pthread_t *th = xcalloc(nthreads, sizeof(pthread_t));
    pregen_job_t *jobs = xcalloc(nthreads, sizeof(pregen_job_t));
    for (uint32_t i = 0; i < nthreads; i++) {
        jobs[i] = (pregen_job_t){.g = g, .first = i, .stride = nthreads, .steps = to,
                                 .from_step = from, .keep = keep};
        if (nthreads == 1)
            pregen_main(&jobs[i]);
        else if (pthread_create(&th[i], NULL, pregen_main, &jobs[i]) != 0) {
            fprintf(stderr, "sx-loadgen: pthread_create failed\n");
            exit(3);
        }
    }
    uint64_t bytes = 0, n = 0, raw = 0;
    for (uint32_t i = 0; i < nthreads; i++) {
        if (nthreads > 1)
            pthread_join(th[i], NULL);
        bytes += jobs[i].bytes;
        raw += jobs[i].raw_bytes;
        n += jobs[i].samples;
    }
    free(th);
    free(jobs);
    *samples = n;
    if (raw_bytes)
        *raw_bytes = raw;
    return bytes;
}

/* ---- Sending ---- */

static atomic_uint_fast64_t g_samples_ok;
static atomic_uint_fast64_t g_requests;
static atomic_uint_fast64_t g_errors;
static atomic_uint_fast64_t g_bytes;
static atomic_bool g_stop;
static pthread_mutex_t g_err_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct resp {
    char body[2048];
    size_t len;
} resp_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    resp_t *r = ud;
    size_t n = size * nmemb;
    size_t room = sizeof(r->body) - 1 - r->len;
    size_t take = n < room ? n : room;
    memcpy(r->body + r->len, ptr, take);
    r->len += take;
    r->body[r->len] = '\0';
    return n;
}

typedef struct sender {
    gen_t *g;
    uint32_t shard;
    atomic_bool done; /* set by the thread as it returns */
    double *lat;      /* seconds per request, for percentiles */
    size_t nlat;
} sender_t;

/* Report a failed request and stop everything after --max-errors. */
static void note_error(const opts_t *o, uint32_t shard, const char *what, const resp_t *r)
{
    uint64_t n = atomic_fetch_add(&g_errors, 1) + 1;
    size_t len = r ? r->len : 0;
    while (len && (r->body[len - 1] == '\n' || r->body[len - 1] == '\r'))
        len--;
    pthread_mutex_lock(&g_err_lock);
    if (n <= 3 || n == o->max_errors)
        fprintf(stderr, "sx-loadgen: shard %u: %s%s%.*s\n", shard, what, len ? ": " : "",
                (int)len, r ? r->body : "");
    if (n >= o->max_errors && !atomic_load(&g_stop)) {
        fprintf(stderr, "sx-loadgen: %" PRIu64 " failed requests, aborting\n", n);
        atomic_store(&g_stop, true);
    }
    pthread_mutex_unlock(&g_err_lock);
}

static void *sender_main(void *arg)
{
    sender_t *w = arg;
    gen_t *g = w->g;
    const opts_t *o = &g->o;
    shard_t *sh = &g->shards[w->shard];
    resp_t resp;
    struct curl_slist *hdrs = NULL;
    for (struct curl_slist *h = o->headers; h; h = h->next)
        hdrs = curl_slist_append(hdrs, h->data);
    if (o->ntokens) {
        char tok[512];
        snprintf(tok, sizeof(tok), "X-Auth-Token: %s", o->tokens[w->shard % o->ntokens]);
        hdrs = curl_slist_append(hdrs, tok);
    }
    CURL *h = curl_easy_init();
    if (!h || !hdrs) {
        fprintf(stderr, "sx-loadgen: cannot set up libcurl\n");
        exit(3);
    }
    curl_easy_setopt(h, CURLOPT_URL, o->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout_s);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "sx-loadgen/0.1 (Prometheus remote write)");

    for (uint32_t t = 0; t < o->points && !atomic_load(&g_stop); t++) {
        for (uint32_t b = 0; b < sh->nbatches && !atomic_load(&g_stop); b++) {
            request_t *r = &sh->reqs[(size_t)t * sh->nbatches + b];
            const char *data = r->data;
            size_t len = r->len;
            uint32_t ns = r->nsamples;
            if (!data) {
                size_t raw;
                len = encode_request(g, sh, t, b, &ns, &raw);
                data = sh->zbuf;
            }
            resp.len = 0;
            resp.body[0] = '\0';
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
            double t0 = now_s();
            CURLcode rc = curl_easy_perform(h);
            w->lat[w->nlat++] = now_s() - t0;
            atomic_fetch_add(&g_requests, 1);
            if (rc != CURLE_OK) {
                note_error(o, w->shard, curl_easy_strerror(rc), NULL);
                continue;
            }
            long status = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            if (status < 200 || status > 299) {
                char what[64];
                snprintf(what, sizeof(what), "HTTP %ld", status);
                note_error(o, w->shard, what, &resp);
                continue;
            }
            atomic_fetch_add(&g_samples_ok, ns);
            atomic_fetch_add(&g_bytes, len);
        }
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    atomic_store(&w->done, true);
    return NULL;
}

/* CPU seconds (user + system) this process has used so far. */
static double cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- Command line ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sx-loadgen --url URL [options]\n"
            "Send node_exporter-like Prometheus remote-write traffic to URL.\n\n"
            "  --url URL            remote-write endpoint (http://127.0.0.1:8428/api/v1/write)\n"
            "  --series S           number of series (default 100000)\n"
            "  --points T           scrapes per series (default 240)\n"
            "  --interval D         scrape interval: 15s, 1m, 500ms (default 15s)\n"
            "  --concurrency C      shards = keep-alive connections (default 4)\n"
            "  --batch N            max samples per request (default 2000)\n"
            "  --start-ms MS        timestamp of the first scrape (default now - T*interval)\n"
            "  --aligned            all hosts scrape at the same instant (default: spread)\n"
            "  --histograms         add a classic histogram per host (56 series: 4 handlers x\n"
            "                       12 le buckets of http_request_duration_seconds, _sum, _count)\n"
            "  --header 'K: V'      extra request header (repeatable)\n"
            "  --tenant-token T[,T] send X-Auth-Token, tokens round robin over shards\n"
            "  --seed N             random seed (default 1)\n"
            "  --threads N          encoder threads before the run (default: CPUs)\n"
            "  --pregen-max-mb N    encode all requests ahead below this size (default 4096)\n"
            "  --max-errors N       abort after N failed requests (default 5)\n"
            "  --timeout S          per-request timeout in seconds (default 60)\n"
            "  --progress S         progress period on stderr, 0 for none (default 5)\n"
            "  --dry-run            only encode (one thread unless --threads), print speed\n"
            "  --plain-snappy       snappy_compress every request (default: patch templates)\n"
            "  --verify             decode every patched request and compare (slow)\n");
}

/* Parse "15s", "1m", "250ms", "1h" or a bare number of seconds into ms.
 * Returns -1 when malformed or not positive. */
static int64_t parse_duration_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0))
        return -1;
    double mult = 1000;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -1;
    double ms = v * mult;
    return ms >= 1 ? (int64_t)ms : -1;
}

static uint64_t parse_u64(const char *name, const char *s, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "sx-loadgen: bad %s '%s' (want %" PRIu64 "..%" PRIu64 ")\n", name, s,
                min, max);
        exit(2);
    }
    return v;
}

static void parse_opts(int argc, char **argv, opts_t *o)
{
    enum { O_URL = 256, O_SERIES, O_POINTS, O_INTERVAL, O_CONC, O_BATCH, O_START, O_HEADER,
           O_SEED, O_TOKEN, O_DRY, O_THREADS, O_PREGEN, O_MAXERR, O_TIMEOUT, O_PROGRESS,
           O_ALIGNED, O_PLAIN, O_VERIFY, O_HIST, O_HELP };
    static const struct option lopts[] = {
        {"url", required_argument, NULL, O_URL},
        {"series", required_argument, NULL, O_SERIES},
        {"points", required_argument, NULL, O_POINTS},
        {"interval", required_argument, NULL, O_INTERVAL},
        {"concurrency", required_argument, NULL, O_CONC},
        {"batch", required_argument, NULL, O_BATCH},
        {"start-ms", required_argument, NULL, O_START},
        {"header", required_argument, NULL, O_HEADER},
        {"seed", required_argument, NULL, O_SEED},
        {"tenant-token", required_argument, NULL, O_TOKEN},
        {"dry-run", no_argument, NULL, O_DRY},
        {"threads", required_argument, NULL, O_THREADS},
        {"pregen-max-mb", required_argument, NULL, O_PREGEN},
        {"max-errors", required_argument, NULL, O_MAXERR},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"progress", required_argument, NULL, O_PROGRESS},
        {"aligned", no_argument, NULL, O_ALIGNED},
        {"plain-snappy", no_argument, NULL, O_PLAIN},
        {"verify", no_argument, NULL, O_VERIFY},
        {"histograms", no_argument, NULL, O_HIST},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    *o = (opts_t){.series = 100000, .points = 240, .interval_ms = 15000, .concurrency = 4,
                  .batch = 2000, .seed = 1, .pregen_max_mb = 4096, .max_errors = 5,
                  .timeout_s = 60, .progress_s = 5};
    int c;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case O_URL: o->url = optarg; break;
        case O_SERIES: o->series = (uint32_t)parse_u64("--series", optarg, 1, 100000000); break;
        case O_POINTS: o->points = (uint32_t)parse_u64("--points", optarg, 1, 10000000); break;
        case O_INTERVAL:
            o->interval_ms = parse_duration_ms(optarg);
            if (o->interval_ms < 0) {
                fprintf(stderr, "sx-loadgen: bad --interval '%s'\n", optarg);
                exit(2);
            }
            break;
        case O_CONC: o->concurrency = (uint32_t)parse_u64("--concurrency", optarg, 1, 1024); break;
        case O_BATCH: o->batch = (uint32_t)parse_u64("--batch", optarg, 1, 1000000); break;
        case O_START: o->start_ms = (int64_t)parse_u64("--start-ms", optarg, 1, INT64_MAX / 2); break;
        case O_HEADER:
            if (!strchr(optarg, ':')) {
                fprintf(stderr, "sx-loadgen: --header wants 'Name: value'\n");
                exit(2);
            }
            o->headers = curl_slist_append(o->headers, optarg);
            break;
        case O_SEED: o->seed = parse_u64("--seed", optarg, 0, UINT64_MAX); break;
        case O_TOKEN: {
            char *copy = strdup(optarg), *save = NULL;
            for (char *tk = strtok_r(copy, ",", &save); tk; tk = strtok_r(NULL, ",", &save)) {
                o->tokens = realloc(o->tokens, (o->ntokens + 1) * sizeof(char *));
                o->tokens[o->ntokens++] = tk;
            }
            break;
        }
        case O_DRY: o->dry_run = true; break;
        case O_THREADS: o->threads = (uint32_t)parse_u64("--threads", optarg, 1, 1024); break;
        case O_PREGEN: o->pregen_max_mb = parse_u64("--pregen-max-mb", optarg, 0, 1 << 30); break;
        case O_MAXERR: o->max_errors = (uint32_t)parse_u64("--max-errors", optarg, 1, 1u << 30); break;
        case O_TIMEOUT: o->timeout_s = (long)parse_u64("--timeout", optarg, 1, 86400); break;
        case O_PROGRESS: o->progress_s = (double)parse_u64("--progress", optarg, 0, 86400); break;
        case O_ALIGNED: o->aligned = true; break;
        case O_PLAIN: o->plain_snappy = true; break;
        case O_VERIFY: o->verify = true; break;
        case O_HIST: o->histograms = true; break;
        case O_HELP: case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc || (!o->url && !o->dry_run)) {
        usage(stderr);
        exit(2);
    }
    if (!o->start_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        o->start_ms = now_ms - (int64_t)o->points * o->interval_ms;
    }
    o->headers = curl_slist_append(o->headers, "Content-Encoding: snappy");
    o->headers = curl_slist_append(o->headers, "Content-Type: application/x-protobuf");
    o->headers = curl_slist_append(o->headers, "X-Prometheus-Remote-Write-Version: 0.1.0");
    /* libcurl would wait for 100-continue on large bodies; Prometheus does not. */
    o->headers = curl_slist_append(o->headers, "Expect:");
}

/* ---- Main ---- */

static int run_dry(gen_t *g)
{
    const opts_t *o = &g->o;
    uint32_t nthreads = o->threads ? o->threads : 1;
    double t0 = now_s();
    uint64_t samples, raw;
    uint64_t bytes = pregen_run(g, 0, o->points, nthreads, false, &samples, &raw);
    double dt = now_s() - t0;
    printf("dry-run: encoded %" PRIu64 " samples in %.3f s with %u thread(s): %.2f M samples/s"
           " (%.2f M samples/s per thread)\n",
           samples, dt, nthreads, samples / dt / 1e6, samples / dt / 1e6 / nthreads);
    printf("dry-run: %.1f bytes/sample uncompressed, %.1f bytes/sample snappy\n",
           (double)raw / samples, (double)bytes / samples);
    printf("RESULT mode=dry-run samples=%" PRIu64 " seconds=%.3f rate=%.0f bytes=%" PRIu64
           " threads=%u encoder=%s\n", samples, dt, samples / dt, bytes, nthreads,
           g->use_tmpl ? "template" : "plain");
    return 0;
}

int main(int argc, char **argv)
{
    gen_t g = {0};
    parse_opts(argc, argv, &g.o);
    const opts_t *o = &g.o;

    double t0 = now_s();
    gen_build_series(&g);
    gen_build_shards(&g);
    gen_prepare_encoding(&g);
    fprintf(stderr,
            "sx-loadgen: %u series (%u per host, %u node_*, %.1f labels on average), %u points"
            " every %" PRId64 " ms from %" PRId64 ", %u shards, batch %u, %s; setup %.2f s\n",
            o->series, g.per_host, g.node_series, (double)g.nlabels / o->series, o->points,
            o->interval_ms, o->start_ms, o->concurrency, o->batch,
            g.use_tmpl ? "snappy templates" : "snappy_compress per request", now_s() - t0);
    printf("SERIES total=%u node=%u per_host=%u start_ms=%" PRId64 " interval_ms=%" PRId64
           " points=%u\n",
           o->series, g.node_series, g.per_host, o->start_ms, o->interval_ms, o->points);
    fflush(stdout);

    if (o->dry_run)
        return run_dry(&g);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "sx-loadgen: curl_global_init failed\n");
        return 3;
    }

    /* Encode the first step, extrapolate the memory all steps would take,
     * and encode the rest ahead only if that fits. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t nthreads = o->threads ? o->threads : (uint32_t)(ncpu > 0 ? ncpu : 1);
    t0 = now_s();
    uint64_t samples;
    uint64_t step_bytes = pregen_run(&g, 0, 1, nthreads, true, &samples, NULL);
    uint64_t est = step_bytes * o->points;
    bool ahead = est <= o->pregen_max_mb << 20;
    if (ahead && o->points > 1) {
        uint64_t more = pregen_run(&g, 1, o->points, nthreads, true, &samples, NULL);
        est = step_bytes + more;
    }
    fprintf(stderr, "sx-loadgen: %s: %.1f MB of requests (%.1f bytes/sample), %.2f s\n",
            ahead ? "encoded ahead" : "encoding while sending (too big to keep)",
            est / 1048576.0, (double)step_bytes / o->series, now_s() - t0);

    sender_t *ws = xcalloc(o->concurrency, sizeof(sender_t));
    pthread_t *th = xcalloc(o->concurrency, sizeof(pthread_t));
    uint64_t total = (uint64_t)o->series * o->points;
    printf("SEND_START\n");
    fflush(stdout);
    double start = now_s(), cpu0 = cpu_self_s();
    for (uint32_t k = 0; k < o->concurrency; k++) {
        ws[k].g = &g;
        ws[k].shard = k;
        atomic_init(&ws[k].done, false);
        ws[k].lat = xmalloc(((size_t)g.shards[k].nbatches * o->points + 1) * sizeof(double));
        if (pthread_create(&th[k], NULL, sender_main, &ws[k]) != 0) {
            fprintf(stderr, "sx-loadgen: pthread_create failed\n");
            return 3;
        }
    }
    /* Progress from the main thread while the senders work. */
    uint32_t done = 0;
    double last = start, last_samples = 0;
    while (!done) {
        struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
        done = 1;
        for (uint32_t k = 0; k < o->concurrency; k++)
            if (!atomic_load(&ws[k].done))
                done = 0;
        double now = now_s();
        if (!done && o->progress_s > 0 && now - last >= o->progress_s) {
            double s = (double)atomic_load(&g_samples_ok);
            fprintf(stderr,
                    "sx-loadgen: %6.1f s  %.2f M / %.2f M samples (%4.1f%%)  %.0f samples/s now"
                    "  %.0f avg  errors %" PRIu64 "\n",
                    now - start, s / 1e6, total / 1e6, 100.0 * s / total,
                    (s - last_samples) / (now - last), s / (now - start),
                    (uint64_t)atomic_load(&g_errors));
            last = now;
            last_samples = s;
        }
    }
    double secs = now_s() - start;
    for (uint32_t k = 0; k < o->concurrency; k++)
        pthread_join(th[k], NULL);
    double cpu = cpu_self_s() - cpu0;

    size_t nlat = 0;
    for (uint32_t k = 0; k < o->concurrency; k++)
        nlat += ws[k].nlat;
    double *lat = xmalloc((nlat + 1) * sizeof(double));
    nlat = 0;
    for (uint32_t k = 0; k < o->concurrency; k++) {
        memcpy(lat + nlat, ws[k].lat, ws[k].nlat * sizeof(double));
        nlat += ws[k].nlat;
    }
    qsort(lat, nlat, sizeof(double), cmp_double);
    double p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(size_t)(nlat * 0.99)] : 0;

    uint64_t ok = atomic_load(&g_samples_ok), reqs = atomic_load(&g_requests);
    uint64_t errs = atomic_load(&g_errors), bytes = atomic_load(&g_bytes);
    printf("samples sent     %" PRIu64 " of %" PRIu64 "\n", ok, total);
    printf("seconds          %.3f\n", secs);
    printf("samples/s        %.0f\n", ok / secs);
    printf("requests         %" PRIu64 " (%.1f KB/request compressed)\n", reqs,
           reqs ? bytes / 1024.0 / (double)(reqs - errs ? reqs - errs : 1) : 0);
    printf("errors           %" PRIu64 "\n", errs);
    printf("latency ms       p50 %.2f  p99 %.2f\n", p50 * 1e3, p99 * 1e3);
    printf("loadgen cpu s    %.2f while sending\n", cpu);
    printf("RESULT mode=send samples=%" PRIu64 " seconds=%.3f rate=%.0f requests=%" PRIu64
           " errors=%" PRIu64 " bytes=%" PRIu64 " p50_ms=%.2f p99_ms=%.2f cpu_s=%.3f\n",
           ok, secs, ok / secs, reqs, errs, bytes, p50 * 1e3, p99 * 1e3, cpu);
    fflush(stdout);
    curl_global_cleanup();
    return errs || ok != total ? 1 : 0;
}
