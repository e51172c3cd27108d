//go:build race

package handlers_test

// raceEnabled reports whether the race detector instruments this build.
// Its instrumentation slows the Go code of one login path more than the
// other, so timing comparisons run only in builds without it (.ci/run runs
// them in a second, uninstrumented pass).
const raceEnabled = true
