package engine

import "github.com/kemisip/kemi/kemi"

// describeProcessMetrics gives the Go runtime and process families that
// VictoriaMetrics/metrics writes (WriteProcessMetrics, Linux) the # HELP
// text the library leaves empty.
func describeProcessMetrics(set *kemi.Metrics) {
	for family, help := range processMetricHelp {
		set.Describe(family, help)
	}
}

// processMetricHelp describes the families of metrics.WriteProcessMetrics
// (VictoriaMetrics/metrics v1.44.0 on Linux).
var processMetricHelp = map[string]string{
	"go_cgo_calls_count":                  "Calls from Go to C made by the process.",
	"go_cpu_count":                        "Logical CPUs usable by the process.",
	"go_gc_cpu_seconds_total":             "CPU time spent in the garbage collector.",
	"go_gc_duration_seconds":              "Summary of garbage collection pause times.",
	"go_gc_forced_count":                  "Garbage collections forced by the program (runtime.GC).",
	"go_gc_mark_assist_cpu_seconds_total": "CPU time goroutines spent helping the garbage collector mark.",
	"go_gc_pauses_seconds":                "Histogram of stop-the-world pauses of the garbage collector.",
	"go_gomaxprocs":                       "GOMAXPROCS: OS threads that may run Go code at once.",
	"go_goroutines":                       "Goroutines that exist now.",
	"go_info":                             "Go version the binary was built with (in the version label); always 1.",
	"go_info_ext":                         "Go runtime settings (GOGC and the like, in labels); always 1.",
	"go_memlimit_bytes":                   "The Go runtime's soft memory limit (GOMEMLIMIT).",
	"go_memstats_alloc_bytes":             "Bytes of heap objects allocated and not yet freed.",
	"go_memstats_alloc_bytes_total":       "Bytes allocated for heap objects since the process started.",
	"go_memstats_buck_hash_sys_bytes":     "Bytes of memory in profiling bucket hash tables.",
	"go_memstats_frees_total":             "Heap objects freed since the process started.",
	"go_memstats_gc_cpu_fraction":         "Fraction of the available CPU time used by the garbage collector since the process started.",
	"go_memstats_gc_sys_bytes":            "Bytes of memory in garbage collection metadata.",
	"go_memstats_heap_alloc_bytes":        "Bytes of heap objects allocated and not yet freed.",
	"go_memstats_heap_idle_bytes":         "Bytes of heap memory waiting to be used.",
	"go_memstats_heap_inuse_bytes":        "Bytes of heap memory in use.",
	"go_memstats_heap_objects":            "Heap objects allocated and not yet freed.",
	"go_memstats_heap_released_bytes":     "Bytes of heap memory returned to the operating system.",
	"go_memstats_heap_sys_bytes":          "Bytes of heap memory obtained from the operating system.",
	"go_memstats_last_gc_time_seconds":    "Time of the last garbage collection, in seconds since the Unix epoch.",
	"go_memstats_lookups_total":           "Pointer lookups made by the runtime.",
	"go_memstats_mallocs_total":           "Heap objects allocated since the process started.",
	"go_memstats_mcache_inuse_bytes":      "Bytes of memory in mcache structures in use.",
	"go_memstats_mcache_sys_bytes":        "Bytes of memory obtained from the operating system for mcache structures.",
	"go_memstats_mspan_inuse_bytes":       "Bytes of memory in mspan structures in use.",
	"go_memstats_mspan_sys_bytes":         "Bytes of memory obtained from the operating system for mspan structures.",
	"go_memstats_next_gc_bytes":           "Heap size at which the next garbage collection starts.",
	"go_memstats_other_sys_bytes":         "Bytes of memory in other runtime allocations.",
	"go_memstats_stack_inuse_bytes":       "Bytes of memory in goroutine stacks in use.",
	"go_memstats_stack_sys_bytes":         "Bytes of memory obtained from the operating system for goroutine stacks.",
	"go_memstats_sys_bytes":               "Bytes of memory obtained from the operating system by the Go runtime.",
	"go_mutex_wait_seconds_total":         "Time goroutines spent blocked on mutexes.",
	"go_scavenge_cpu_seconds_total":       "CPU time spent returning memory to the operating system.",
	"go_sched_latencies_seconds":          "Histogram of the time goroutines waited to run after becoming runnable.",
	"go_threads":                          "OS threads created by the Go runtime.",

	"process_cpu_seconds_system_total":              "CPU time the process spent in the kernel.",
	"process_cpu_seconds_total":                     "CPU time the process used, user and kernel.",
	"process_cpu_seconds_user_total":                "CPU time the process spent in user space.",
	"process_io_read_bytes_total":                   "Bytes the process read (read syscalls, any source).",
	"process_io_read_syscalls_total":                "Read syscalls the process made.",
	"process_io_storage_read_bytes_total":           "Bytes the process read from storage.",
	"process_io_storage_written_bytes_total":        "Bytes the process wrote to storage.",
	"process_io_write_syscalls_total":               "Write syscalls the process made.",
	"process_io_written_bytes_total":                "Bytes the process wrote (write syscalls, any target).",
	"process_major_pagefaults_total":                "Page faults of the process that needed disk reads.",
	"process_max_fds":                               "The process's limit of open file descriptors.",
	"process_minor_pagefaults_total":                "Page faults of the process served without disk reads.",
	"process_num_threads":                           "OS threads of the process.",
	"process_open_fds":                              "File descriptors the process has open.",
	"process_pressure_cpu_stalled_seconds_total":    "Time every task of the process's cgroup waited for a CPU (pressure stall information).",
	"process_pressure_cpu_waiting_seconds_total":    "Time some task of the process's cgroup waited for a CPU (pressure stall information).",
	"process_pressure_io_stalled_seconds_total":     "Time every task of the process's cgroup waited for I/O (pressure stall information).",
	"process_pressure_io_waiting_seconds_total":     "Time some task of the process's cgroup waited for I/O (pressure stall information).",
	"process_pressure_memory_stalled_seconds_total": "Time every task of the process's cgroup waited for memory (pressure stall information).",
	"process_pressure_memory_waiting_seconds_total": "Time some task of the process's cgroup waited for memory (pressure stall information).",
	"process_resident_memory_anon_bytes":            "Resident memory of the process not backed by files.",
	"process_resident_memory_bytes":                 "Resident memory of the process.",
	"process_resident_memory_file_bytes":            "Resident memory of the process backed by files.",
	"process_resident_memory_peak_bytes":            "Largest resident memory of the process so far.",
	"process_resident_memory_shared_bytes":          "Resident memory of the process shared with other processes.",
	"process_start_time_seconds":                    "Start time of the process, in seconds since the Unix epoch.",
	"process_virtual_memory_bytes":                  "Virtual memory size of the process.",
	"process_virtual_memory_peak_bytes":             "Largest virtual memory size of the process so far.",
}
