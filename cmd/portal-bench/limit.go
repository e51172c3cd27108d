package main

import (
	"fmt"
	"strconv"
	"strings"
)

// How a run's memory limit is applied, as the report names it.
const (
	mechanismV2   = "cgroup v2 memory.max"
	mechanismV1   = "cgroup v1 memory.limit_in_bytes"
	mechanismSoft = "soft Go limit only, no hard cap"
)

// limitInfo is how a server's memory was limited.
type limitInfo struct {
	limit     int64  // bytes; 0 for none
	goLimit   int64  // the server's PORTAL_MEMORY_LIMIT, bytes; 0 for none
	mechanism string // one of the mechanism constants
	why       string // with mechanismSoft: why no cgroup could be made
}

// cgroupUsage is what a memory cgroup recorded of the server.
type cgroupUsage struct {
	peak     int64 // highest charge, bytes
	hits     int64 // times the charge reached the limit (the kernel reclaimed)
	oomKills int64 // processes the OOM killer ended inside the cgroup
}

// keyedValue reads the value of key from a file of "key value" lines, as
// cgroup v2's memory.events and v1's memory.oom_control are written. ok is
// false when the key is not there (oom_kill is missing from memory.events
// before Linux 4.13).
func keyedValue(raw, key string) (n int64, ok bool, err error) {
	for line := range strings.SplitSeq(raw, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || f[0] != key {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || n < 0 {
			return 0, true, fmt.Errorf("%s: want a count, got %q", key, f[1])
		}
		return n, true, nil
	}
	return 0, false, nil
}

// describe is the report's line on how the server's memory was limited.
func (l limitInfo) describe() string {
	gol := "no PORTAL_MEMORY_LIMIT"
	if l.goLimit > 0 {
		gol = "PORTAL_MEMORY_LIMIT=" + mb(l.goLimit) + " (GOMEMLIMIT)"
	}
	switch l.mechanism {
	case mechanismSoft:
		return fmt.Sprintf("memory limit %s: %s: the server ran with %s and nothing else held it (no writable cgroup: %s)",
			mb(l.limit), mechanismSoft, gol, l.why)
	default:
		return fmt.Sprintf("memory limit %s: %s, as systemd's MemoryMax= sets it, and %s", mb(l.limit), l.mechanism, gol)
	}
}

// parseEvents reads the OOM kills (and with cgroup v2 the limit's hits,
// hitsKey "max") from memory.events or memory.oom_control into u.
func parseEvents(u cgroupUsage, raw, file, hitsKey string) (cgroupUsage, error) {
	if hitsKey != "" {
		n, _, err := keyedValue(raw, hitsKey)
		if err != nil {
			return u, fmt.Errorf("%s: %w", file, err)
		}
		u.hits = n
	}
	n, ok, err := keyedValue(raw, "oom_kill")
	switch {
	case err != nil:
		return u, fmt.Errorf("%s: %w", file, err)
	case !ok:
		return u, fmt.Errorf("%s has no oom_kill count (Linux 4.13 or later)", file)
	}
	u.oomKills = n
	return u, nil
}
