//go:build unix

package kb_test

import "syscall"

// cpuSeconds is the CPU time the process has used, user and system, as the
// kernel counts it: on a machine shared with other work, latency includes
// waiting for a core, and this does not.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
