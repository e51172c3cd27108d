//go:build !unix

package kb_test

// cpuSeconds is not measured here: the benchmark reports 0 CPU time.
func cpuSeconds() float64 { return 0 }
