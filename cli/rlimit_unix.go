//go:build unix

package cli

import "syscall"

// openFilesLimit is the process's soft limit on open files (which the Go
// runtime raises to the hard limit at start), or 0 when it is unknown.
func openFilesLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
}
