//go:build etcd && race

package cli

// raceEnabled reports whether the race detector instruments this build, so
// that a binary the tests build and run has it too.
const raceEnabled = true
