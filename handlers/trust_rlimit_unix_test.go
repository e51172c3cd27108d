//go:build unix

package handlers_test

import (
	"syscall"
	"testing"
)

// trustRaiseFileLimit lifts the soft limit on open files to at least n
// (within the hard limit), for tests that hold a thousand connections.
func trustRaiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Logf("getrlimit: %v", err)
		return
	}
	if lim.Cur >= n {
		return
	}
	lim.Cur = min(n, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Logf("setrlimit: %v", err)
	}
	if lim.Cur < n {
		t.Skipf("the open-files limit is %d, below the %d this test needs", lim.Cur, n)
	}
}
