package cli

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
)

// maxProcs is the highest procs setting taken.
const maxProcs = 1024

// parseProcs reads the procs setting: auto (0) or a whole number of
// processors from 1 to maxProcs.
func parseProcs(s string) (int, error) {
	if s == "auto" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxProcs {
		return 0, fmt.Errorf("procs %q: must be auto or a whole number from 1 to %d", s, maxProcs)
	}
	return n, nil
}

// servingProcs is the GOMAXPROCS serve runs with, or 0 to leave the
// runtime's own choice: the procs setting when it names a number; with
// auto, twice the runtime's choice (current) on a database file that
// the process maps into memory, unless GOMAXPROCS (gomaxprocs) is set.
//
// Why twice: bbolt reads records straight from its memory map. A read of a
// page that is not in memory (a database larger than the memory the
// process may use, or a cold start) blocks its thread in a page fault, and
// the Go scheduler cannot hand that thread's processor to another
// goroutine as it does for a system call. On a two-core host, two such
// faults stopped every request. Measured at 100,000 users under a 64 MiB
// memory limit, the mixed load ran at 0.67–0.70× its rate without the
// limit with 2 processors and at 0.86–0.87× with 4 (docs/performance.md,
// "Processors and page faults").
// On etcd the process maps no database, and the runtime's choice stands.
func servingProcs(setting int, mapped bool, gomaxprocs string, current int) int {
	switch {
	case setting > 0:
		return setting
	case !mapped || gomaxprocs != "":
		return 0
	}
	return min(2*current, maxProcs)
}

// procsHold keeps the GOMAXPROCS of the serves running in this process
// (several only in tests): the first one sets it, and the last one to
// stop puts back what was there before.
var procsHold struct {
	sync.Mutex
	held int // serves holding the setting
	prev int // GOMAXPROCS before the first one set it
}

// holdProcs runs the process with n processors (n > 0) until release is
// called, unless another serve in the process holds a setting already.
func holdProcs(n int) (release func()) {
	procsHold.Lock()
	defer procsHold.Unlock()
	procsHold.held++
	if procsHold.held == 1 {
		procsHold.prev = runtime.GOMAXPROCS(n)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			procsHold.Lock()
			defer procsHold.Unlock()
			if procsHold.held--; procsHold.held == 0 {
				runtime.GOMAXPROCS(procsHold.prev)
			}
		})
	}
}
