//go:build !race

package handlers_test

// raceEnabled reports whether the race detector instruments this build.
const raceEnabled = false
