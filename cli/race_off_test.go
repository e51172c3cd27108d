//go:build etcd && !race

package cli

// raceEnabled reports whether the race detector instruments this build.
const raceEnabled = false
