package kb_test

import (
	"slices"
	"time"
)

func nowNano() int64 { return time.Now().UnixNano() }

// latencies collects durations in nanoseconds.
type latencies []int64

func (l *latencies) add(ns int64) { *l = append(*l, ns) }

// p99 is the 99th percentile, in nanoseconds.
func (l latencies) p99() float64 {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return float64(s[(len(s)*99+99)/100-1]) // the ceil(0.99n)-th smallest
}
